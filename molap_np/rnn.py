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

Gradients. ``forward`` is differentiable with autograd. Equation (1) runs as
one autograd primitive whose reverse pass is backpropagation through time,
written out here: tracing the time loop op by op costs autograd about 12 us
of bookkeeping per op, several times the arithmetic at this size. With
a[t] = h[t+1] (before any state noise), G[t] the gradient arriving at h[t+1]
from the readout and d[t] the gradient of the pre-activation of step t::

    d[t]    = (G[t] + J^T d[t+1]) * (1 - a[t]^2),    d[T] = 0          (5)
    dW_in = sum_t d[t] x[t]^T    db = sum_t d[t]    dJ = sum_t d[t] h[t]^T
    dh[0] = J^T d[0]  (summed over the batch)

Only first derivatives in reverse mode (``grad``, ``value_and_grad``) are
available; the tests check them against finite differences and against an
independent implementation of (5).
"""

import numpy as np
from autograd.extend import defvjp_argnums, primitive
from autograd.tracer import Box, getval

PARAM_NAMES = ("W_in", "J", "b", "W_out", "b_out", "h0")


def check_module_sizes(module_sizes, N=None):
    """Return ``module_sizes`` as a tuple of positive ints, or raise.

    If ``N`` is given, the sizes must sum to it.
    """
    sizes = tuple(module_sizes)
    if not sizes or any(int(m) != m or m < 1 for m in sizes):
        raise ValueError(
            f"module_sizes must be positive integers, got {list(module_sizes)}"
        )
    sizes = tuple(int(m) for m in sizes)
    if N is not None and sum(sizes) != N:
        raise ValueError(f"module_sizes {list(sizes)} do not sum to N = {N}")
    return sizes


def module_slices(module_sizes):
    """The units of each module as slices, in order."""
    sizes = check_module_sizes(module_sizes)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [slice(int(a), int(z)) for a, z in zip(bounds[:-1], bounds[1:])]


def module_mask(module_sizes, k):
    """Boolean (N, N) mask of module k's own block of J."""
    slices = module_slices(module_sizes)
    if not 0 <= k < len(slices):
        raise ValueError(f"module index {k} out of range 0 .. {len(slices) - 1}")
    N = int(sum(module_sizes))
    mask = np.zeros((N, N), dtype=bool)
    mask[slices[k], slices[k]] = True
    return mask


def between_modules_mask(module_sizes):
    """Boolean (N, N) mask of every weight of J that joins two modules."""
    N = int(sum(module_sizes))
    within = np.zeros((N, N), dtype=bool)
    for s in module_slices(module_sizes):
        within[s, s] = True
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
    if module_sizes is not None:
        check_module_sizes(module_sizes, N)
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
    """Raise a clear error unless ``params`` is a consistent weight dict.

    Returns
    -------
    N, n_in, n_out : int
    """
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ValueError(f"weights lack {missing}; expected keys {PARAM_NAMES}")
    if np.ndim(params["W_in"]) != 2 or np.ndim(params["W_out"]) != 2:
        raise ValueError(
            f"W_in and W_out must be 2-d, got shapes {np.shape(params['W_in'])} "
            f"and {np.shape(params['W_out'])}"
        )
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


def _check_inputs(params, inputs, state_noise):
    N, n_in, _ = check_params(params)
    shape = np.shape(inputs)
    if len(shape) != 3 or shape[2] != n_in or 0 in shape:
        raise ValueError(
            f"inputs must have shape (T, B, {n_in}) with T, B >= 1 for this "
            f"network, got {shape}"
        )
    if not np.all(np.isfinite(getval(inputs))):
        raise ValueError("inputs contain NaN or inf")
    if state_noise is not None and np.shape(state_noise) != shape[:2] + (N,):
        raise ValueError(
            f"state_noise must have shape (T, B, N) = {shape[:2] + (N,)}, "
            f"got {np.shape(state_noise)}"
        )


def _with_ones(x):
    """Append a constant-1 channel: (..., n) -> (..., n + 1)."""
    return np.concatenate([x, np.ones(x.shape[:-1] + (1,))], axis=-1)


@primitive
def _recurrence(W_in, J, b, h0, inputs, state_noise):
    """Equation (1) for every step: the states h[1] .. h[T], (T, B, N)."""
    T, B, n_in = inputs.shape
    # One matmul gives W_in x[t] + b for every step; it then holds the states.
    W_aug = np.concatenate([W_in, b[:, None]], axis=1)  # (N, n_in + 1)
    states = (_with_ones(inputs).reshape(T * B, -1) @ W_aug.T).reshape(T, B, -1)

    J_T = J.T
    h = np.broadcast_to(h0, (B, h0.shape[0]))
    for t in range(T):
        drive = states[t]  # W_in x[t] + b, overwritten by h[t+1]
        drive += h @ J_T
        h = np.tanh(drive, out=drive)
        if state_noise is not None:
            h += state_noise[t]
    return states


def _backprop_through_time(states, J, state_noise, G):
    """Equation (5) for every step.

    Returns
    -------
    d : ndarray, shape (T, B, N)
        The gradient of each step's pre-activation.
    carry : ndarray, shape (B, N)
        J^T d[0] per trial: the gradient of the initial state.
    """
    T, B, N = states.shape
    d = np.empty_like(states)
    slope = np.empty((B, N))
    carry = np.zeros((B, N))  # J^T d[t+1], as rows
    for t in range(T - 1, -1, -1):
        a = states[t] if state_noise is None else states[t] - state_noise[t]
        np.multiply(a, a, out=slope)
        np.subtract(1.0, slope, out=slope)
        np.add(G[t], carry, out=d[t])
        d[t] *= slope
        carry = d[t] @ J
    return d, carry


def _recurrence_vjp(argnums, states, args, kwargs):
    W_in, J, b, h0, inputs, state_noise = args
    T, B, N = states.shape

    def vjp(G):
        if isinstance(G, Box):
            raise NotImplementedError(
                "rnn.forward supports first derivatives in reverse mode only; "
                "second derivatives are not implemented"
            )
        d, carry = _backprop_through_time(states, J, state_noise, G)
        d_rows = d.reshape(T * B, N)
        if 0 in argnums or 2 in argnums:
            dW_aug = d_rows.T @ _with_ones(inputs).reshape(T * B, -1)
        grads = []
        for argnum in argnums:
            if argnum == 0:
                grads.append(dW_aug[:, :-1])
            elif argnum == 1:
                # h[t] for t >= 1 are the stored states; h[0] is shared.
                dJ = d_rows[B:].T @ states[:-1].reshape((T - 1) * B, N)
                grads.append(dJ + np.outer(d[0].sum(axis=0), h0))
            elif argnum == 2:
                grads.append(dW_aug[:, -1])
            elif argnum == 3:
                grads.append(carry.sum(axis=0))
            elif argnum == 4:
                grads.append(d @ W_in)
            else:
                raise NotImplementedError(
                    "the gradient with respect to state_noise is not implemented"
                )
        return tuple(grads)

    return vjp


defvjp_argnums(_recurrence, _recurrence_vjp)


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
    _check_inputs(params, inputs, state_noise)
    p = params
    states = _recurrence(p["W_in"], p["J"], p["b"], p["h0"], inputs, state_noise)

    outputs = states @ p["W_out"].T + p["b_out"]  # (T, B, n_out)
    return states, outputs


def predict(params, inputs):
    """Outputs only, shape (T, B, n_out), as a plain ndarray."""
    return forward(params, inputs)[1]
