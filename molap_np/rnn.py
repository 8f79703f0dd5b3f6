"""A discrete-time tanh RNN whose units are grouped into modules.

The network of every strategy in the study::

    h[t+1] = tanh(W_in x[t] + J h[t] + b)                            (1)
    y[t]   = W_out h[t+1] + b_out                                    (2)

with a learned initial state h[0] and no recurrent noise. The weights are a
dict of float64 arrays, in the orientation of the equations (the layout
PyTorch uses as well)::

    W_in   (N, n_in)     J   (N, N)     b      (N,)
    W_out  (n_out, N)    h0  (N,)       b_out  (n_out,)

Modules are consecutive groups of units; module k's own recurrent weights are
the diagonal block J[s_k, s_k], and every other block of J connects two
different modules.
"""

import autograd.numpy as anp
import numpy as np

PARAM_NAMES = ("W_in", "J", "b", "W_out", "b_out", "h0")


def module_slices(module_sizes):
    """The units of each module as slices, in order."""
    bounds = np.concatenate([[0], np.cumsum(module_sizes)]).astype(int)
    return [slice(int(a), int(z)) for a, z in zip(bounds[:-1], bounds[1:])]


def module_mask(module_sizes, k):
    """Boolean (N, N) mask of module k's own block of J."""
    N = int(sum(module_sizes))
    mask = np.zeros((N, N), dtype=bool)
    s = module_slices(module_sizes)[k]
    mask[s, s] = True
    return mask


def between_modules_mask(module_sizes):
    """Boolean (N, N) mask of every weight of J that joins two modules."""
    N = int(sum(module_sizes))
    within = np.zeros((N, N), dtype=bool)
    for k in range(len(module_sizes)):
        within |= module_mask(module_sizes, k)
    return ~within


def init_params(n_in, N, n_out, rng, g=1.5, module_sizes=None):
    """Random weights of MOLAP.md section 2.

    Parameters
    ----------
    n_in, N, n_out : int
        Input channels, recurrent units and output channels.
    rng : numpy.random.Generator
    g : float
        Gain of the recurrent weights: J, b ~ N(0, g^2 / (N + 1)).
    module_sizes : sequence of int, optional
        Units per module, summing to N; one module of N units if omitted.
        Only bookkeeping: the initial J is dense in either case.

    Returns
    -------
    dict of ndarray
        ``W_in`` (N, n_in), ``J`` (N, N), ``b`` (N,), ``W_out`` (n_out, N),
        ``b_out`` (n_out,), ``h0`` (N,).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng)}")
    for name, size in (("n_in", n_in), ("N", N), ("n_out", n_out)):
        if int(size) != size or size < 1:
            raise ValueError(f"{name} must be a positive integer, got {size}")
    if module_sizes is not None and sum(module_sizes) != N:
        raise ValueError(f"module_sizes {list(module_sizes)} do not sum to N = {N}")
    rec_std = g / np.sqrt(N + 1)
    out_std = 1 / np.sqrt(N + 1)
    return {
        "W_in": rng.normal(0, 1 / np.sqrt(n_in), size=(N, n_in)),
        "J": rng.normal(0, rec_std, size=(N, N)),
        "b": rng.normal(0, rec_std, size=N),
        "W_out": rng.normal(0, out_std, size=(n_out, N)),
        "b_out": rng.normal(0, out_std, size=n_out),
        "h0": rng.normal(0, 1, size=N),
    }


def check_params(params):
    """Raise a clear error unless ``params`` is a consistent weight dict."""
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ValueError(f"weights lack {missing}; expected keys {PARAM_NAMES}")
    N, n_in = np.shape(params["W_in"])
    n_out = np.shape(params["W_out"])[0]
    expected = {
        "J": (N, N),
        "b": (N,),
        "W_out": (n_out, N),
        "b_out": (n_out,),
        "h0": (N,),
    }
    for name, shape in expected.items():
        if np.shape(params[name]) != shape:
            raise ValueError(
                f"{name} has shape {np.shape(params[name])}, expected {shape} "
                f"for N = {N}, n_in = {n_in}, n_out = {n_out}"
            )
    return N, n_in, n_out


def _check_inputs(params, inputs):
    N, n_in, _ = check_params(params)
    if np.ndim(inputs) != 3 or np.shape(inputs)[2] != n_in:
        raise ValueError(
            f"inputs must have shape (T, B, {n_in}) for this network, "
            f"got {np.shape(inputs)}"
        )
    if not np.all(np.isfinite(inputs)):
        raise ValueError("inputs contain NaN or inf")


def forward(params, inputs, state_noise=None):
    """Run the network on a batch; differentiable with autograd.

    Parameters
    ----------
    params : dict of ndarray
        The weights (see the module docstring).
    inputs : ndarray, shape (T, B, n_in)
    state_noise : ndarray, shape (T, B, N), optional
        Added to h[t+1] after each step (a perturbation of the hidden state).

    Returns
    -------
    states : ndarray, shape (T, B, N)
        h[1] .. h[T].
    outputs : ndarray, shape (T, B, n_out)
    """
    _check_inputs(params, inputs)
    T, B, _ = np.shape(inputs)
    W_in, J, b = params["W_in"], params["J"], params["b"]

    h = anp.ones((B, 1)) * params["h0"]  # (B, N)
    states = []
    for t in range(T):
        # Slicing the constant inputs is free; slicing a traced drive is not.
        h = anp.tanh(inputs[t] @ W_in.T + h @ J.T + b)
        if state_noise is not None:
            h = h + state_noise[t]
        states.append(h)
    states = anp.stack(states)  # (T, B, N)

    outputs = states @ params["W_out"].T + params["b_out"]  # (T, B, n_out)
    return states, outputs


def predict(params, inputs):
    """Outputs only, shape (T, B, n_out), as a plain ndarray."""
    return forward(params, inputs)[1]
