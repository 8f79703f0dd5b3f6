"""Reference bundles: numbers another implementation checks itself against.

A faster backend (PyTorch, JAX, ...) of the MoLaP network is right when it
computes the same states, outputs, loss and gradients as this package on the
same weights and the same batch. A *reference bundle* holds all of these for
one seed, in a plain ``.npz`` file that any framework's environment can read
with ``numpy.load(path, allow_pickle=False)``.

The network
-----------
Equations (1)-(3) of ``molap_np.rnn`` and ``molap_np.training``::

    h[t+1] = tanh(W_in x[t] + J h[t] + b)          t = 0 .. T-1      (1)
    y[t]   = W_out h[t+1] + b_out                                    (2)
    L = mean((y - y*)^2) + l2 (|W_in|^2 + |J|^2)                     (3)

The mean in (3) runs over all T steps, B trials and n_out outputs (no mask);
``|.|^2`` is the sum of squared entries; ``l2 = 2e-6``. There is no leak, no
recurrent noise, and h[0] is a learned vector shared by all trials.

Network files (``molap_np.files``)
----------------------------------
One ``.npz`` with six float64 weights in the orientation of the equations
(the one ``torch.nn.Linear`` uses: ``W @ x``, never ``x @ W``)::

    W_in   (N, n_in)     J      (N, N)      b   (N,)
    W_out  (n_out, N)    b_out  (n_out,)    h0  (N,)
    metadata   0-d unicode array holding a JSON object:
               {"format": "molap_np.network", "format_version": 1,
                "n_in", "N", "n_out", "module_sizes": [...], "task", "seed",
                ...training settings}

Module k is the k-th run of ``module_sizes[k]`` consecutive units; its own
recurrent weights are the diagonal block of J.

Task batches (``molap_np.tasks``)
---------------------------------
Time-major float64 arrays, T = 110 steps of 10 ms::

    inputs   (T, B, n_in)     x[t] of equation (1)
    targets  (T, B, n_out)    y*[t] of equation (3)

Channel 0 of both is fixation (1 on steps 10 .. 84, else 0). The others:

    DelayPro, DelayAnti,     in:  cos theta, sin theta of the stimulus
    MemoryPro, MemoryAnti    out: cos, sin of the answer (theta or theta + pi)
    MemoryDm1 (Dm2)          in:  the cos (sin) of two pulses' angles
                             out: the larger of the two values
    ContextMemDm1, -Dm2,     in:  the cos pulses, the sin pulses
    MultiMem                 out: the larger cos (Dm1), sin (Dm2) or
                                  cos + sin (MultiMem) of the two pulses

Inputs carry Gaussian noise (std 0.02) on steps 10 .. 109; targets none.

The reference bundle
--------------------
One ``.npz`` without object arrays. Every array is float64::

    inputs, targets                      the batch, as above
    W_in, J, b, W_out, b_out, h0         the weights, as in a network file
    states     (T, B, N)                 h[1] .. h[T] (h[0] is not included)
    outputs    (T, B, n_out)             y[0] .. y[T-1]
    loss       ()                        L of equation (3), l2 included
    mse        ()                        its first term alone
    grad_W_in, grad_J, grad_b,           dL/dW for each weight, same shape
    grad_W_out, grad_b_out, grad_h0      and orientation as the weight
    metadata   0-d unicode JSON:
               {"format": "molap_np.reference", "format_version": 1,
                "seed", "task", "T", "B", "N", "n_in", "n_out",
                "module_sizes", "l2", "noise", "timing",
                "weights": "random" or "given",
                "molap_np_version", "quantities": [...]}

For a seed, ``numpy.random.default_rng(seed)`` first draws the batch
(``tasks.make_batch``, noisy inputs, fixed timing) and then, unless weights
are given, the random weights of ``rnn.init_params`` (g = 1.5).

Checking another implementation
-------------------------------
Load the bundle, run your forward pass on ``inputs`` with the bundle's
weights, compute the loss against ``targets`` with ``l2`` from the metadata,
take the gradient of the loss with respect to the six weights, and hand the
results to ``check_against_reference`` under the names of ``QUANTITIES``
(``states``, ``outputs``, ``loss``, ``grad_W_in`` ... ``grad_h0``), as NumPy
arrays (tensors with ``.detach()`` are converted). For each quantity the
check reports the relative error::

    rel(a, r) = max|a - r| / max(max|r|, tiny)

where r is the reference, a the other implementation's array and tiny the
smallest normal float64: the largest deviation measured in units of the
largest reference entry, so one number per quantity means the same thing for
states of order 1 and gradients of order 1e-3.

Tolerances. They were measured with an independent PyTorch port
(tests/torch_port.py; ``python tests/torch_port.py`` repeats it in about
30 s): bundles of B = 8 trials for N = 10, 30 and 150, the nine tasks in
turn, random weights of gain g = 1.5.

- float64: a correct port differs only in the order of its sums. The
  largest error over 150 bundles was 3e-13 (median 1e-14); 1e-10 leaves a
  factor of 300.
- float32: each step rounds at eps = 6e-8, and the random network with
  g = 1.5 is chaotic: the difference between the float32 and the float64
  states grows by a factor of about 1.5 to 3 every ten steps, from 1e-7
  to 1e-5 .. 1e-4 after 110 steps, and backpropagation through time
  carries it back into the gradients (grad_h0 and grad_J, which see every
  step, are the worst).
  Over 600 bundles the median error was 1e-6 .. 1e-5, the 99th percentile
  2.6e-4 and the largest 7.5e-4 (grad_h0, N = 30). The tolerance 1e-2 is
  thirteen times that largest error, and still fifty times below the
  smallest error of the bugs this check is for: a transposed J, a missing
  bias and outputs read one step early gave errors above 0.5 in all of 16
  bundles tried (N = 30 and 150, B = 64).

A float32 port that runs its matrix products in a reduced precision (TF32
on recent GPUs, bfloat16) is not float32 in this sense and fails; turn that
off (PyTorch: ``torch.backends.cuda.matmul.allow_tf32 = False``; JAX:
``jax.default_matmul_precision("highest")``). Trained networks, or N and T
far from these, may be more or less chaotic than the bundles measured here.
"""

import json
import zipfile
from dataclasses import dataclass, field

import numpy as np
from autograd import value_and_grad

from . import __version__
from .files import atomic_write
from .rnn import (
    PARAM_NAMES,
    check_module_sizes,
    check_params,
    forward,
    init_params,
)
from .tasks import TASK_SIZES, T, check_task, make_batch
from .training import L2_DEFAULT, mse_loss

FORMAT_NAME = "molap_np.reference"
FORMAT_VERSION = 1
DEFAULT_N = 150
DEFAULT_BATCH_SIZE = 8

GRAD_NAMES = tuple(f"grad_{name}" for name in PARAM_NAMES)
QUANTITIES = ("states", "outputs", "loss") + GRAD_NAMES
TOLERANCES = {"float64": 1e-10, "float32": 1e-2}
TINY = np.finfo(np.float64).tiny


class ReferenceFileError(ValueError):
    """A file is not a complete reference bundle of this format version."""


@dataclass
class Reference:
    """One reference bundle in memory (see the module docstring).

    Attributes
    ----------
    inputs : ndarray, shape (T, B, n_in)
    targets : ndarray, shape (T, B, n_out)
    params : dict of ndarray
        ``W_in`` (N, n_in), ``J`` (N, N), ``b`` (N,), ``W_out`` (n_out, N),
        ``b_out`` (n_out,), ``h0`` (N,).
    states : ndarray, shape (T, B, N)
        h[1] .. h[T].
    outputs : ndarray, shape (T, B, n_out)
    loss, mse : float
        The loss of equation (3) and its mean-squared-error term.
    grads : dict of ndarray
        ``grad_W_in`` ... ``grad_h0``, each shaped like its weight.
    metadata : dict
    """

    inputs: np.ndarray
    targets: np.ndarray
    params: dict
    states: np.ndarray
    outputs: np.ndarray
    loss: float
    mse: float
    grads: dict
    metadata: dict = field(default_factory=dict)

    def quantities(self):
        """The checked quantities by name, as in ``QUANTITIES``."""
        expected = {
            "states": self.states,
            "outputs": self.outputs,
            "loss": np.asarray(self.loss),
        }
        return {**expected, **self.grads}

    def arrays(self):
        """Every array of the bundle file by its name, metadata excluded."""
        arrays = {"inputs": self.inputs, "targets": self.targets}
        arrays.update(self.params)
        arrays.update(self.quantities())
        arrays["mse"] = np.asarray(self.mse)
        return arrays


# ---------------------------------------------------------------------------
# Making, writing and reading bundles


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def _weights(task, N, module_sizes, params, rng):
    """The bundle's weights: given ones (checked) or fresh random ones."""
    n_in, n_out = TASK_SIZES[task]
    if params is None:
        N = DEFAULT_N if N is None else N
        return init_params(n_in, N, n_out, rng, module_sizes=module_sizes), "random"
    N_given, n_in_given, n_out_given = check_params(params)
    params = {name: np.asarray(params[name], dtype=np.float64) for name in PARAM_NAMES}
    if (n_in_given, n_out_given) != (n_in, n_out):
        raise ValueError(
            f"the weights have n_in, n_out = {(n_in_given, n_out_given)}, "
            f"but {task} needs {(n_in, n_out)}"
        )
    if N is not None and N != N_given:
        raise ValueError(f"N = {N} was asked for, but the weights have N = {N_given}")
    return params, "given"


def compute_reference(
    seed=0,
    task="MemoryPro",
    N=None,
    batch_size=DEFAULT_BATCH_SIZE,
    module_sizes=None,
    l2=L2_DEFAULT,
    params=None,
):
    """Compute a reference bundle in memory.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; draws the batch, then the
        random weights.
    task : str
        One of ``tasks.TASK_NAMES``.
    N : int, optional
        Recurrent units; 150 (MoLaP's size) if omitted. Taken from
        ``params`` when those are given.
    batch_size : int
        Trials B.
    module_sizes : sequence of int, optional
        Units per module, recorded in the metadata; one module if omitted.
    l2 : float
        Weight of the L2 term of the loss.
    params : dict of ndarray, optional
        Weights to use (a trained network) instead of random ones.

    Returns
    -------
    Reference
    """
    _check_seed(seed)
    check_task(task)
    rng = np.random.default_rng(seed)
    batch = make_batch(task, batch_size, rng)
    params, origin = _weights(task, N, module_sizes, params, rng)
    N, n_in, n_out = check_params(params)
    module_sizes = [N] if module_sizes is None else module_sizes
    module_sizes = list(check_module_sizes(module_sizes, N))

    states, outputs = forward(params, batch.inputs)
    loss, grads = value_and_grad(mse_loss)(params, batch, l2)
    mse = np.mean((outputs - batch.targets) ** 2)

    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "task": task,
        "T": T,
        "B": int(batch_size),
        "N": N,
        "n_in": n_in,
        "n_out": n_out,
        "module_sizes": module_sizes,
        "l2": float(l2),
        "noise": True,
        "timing": "fixed",
        "weights": origin,
        "molap_np_version": __version__,
        "quantities": list(QUANTITIES),
    }
    return Reference(
        inputs=batch.inputs,
        targets=batch.targets,
        params=params,
        states=np.asarray(states),
        outputs=np.asarray(outputs),
        loss=float(loss),
        mse=float(mse),
        grads={f"grad_{name}": np.asarray(g) for name, g in grads.items()},
        metadata=metadata,
    )


def save_reference(path, reference):
    """Write a ``Reference`` to ``path`` (``.npz``), atomically."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in reference.arrays().items()}
    text = json.dumps(reference.metadata, allow_nan=False)
    arrays["metadata"] = np.array(text)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def write_reference(
    path,
    seed=0,
    task="MemoryPro",
    N=None,
    batch_size=DEFAULT_BATCH_SIZE,
    module_sizes=None,
    l2=L2_DEFAULT,
    params=None,
):
    """Compute a reference bundle and write it to ``path``, atomically.

    The arguments are those of ``compute_reference``.

    Returns
    -------
    Reference
        What was written.
    """
    reference = compute_reference(
        seed, task, N, batch_size, module_sizes, l2=l2, params=params
    )
    save_reference(path, reference)
    return reference


def _read_archive(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise ReferenceFileError(
            f"{path}: not a readable .npz archive ({err})"
        ) from err
    except ValueError as err:
        # numpy refuses object arrays without pickle: a foreign or unsafe file.
        raise ReferenceFileError(f"{path}: refused to load ({err})") from err


def _read_metadata(path, contents):
    if "metadata" not in contents or contents["metadata"].dtype.kind != "U":
        raise ReferenceFileError(
            f"{path}: no metadata; not a molap_np reference bundle "
            "(write one with 'molap-np reference')"
        )
    try:
        metadata = json.loads(str(contents["metadata"]))
    except json.JSONDecodeError as err:
        raise ReferenceFileError(f"{path}: metadata is not valid JSON ({err})") from err
    name = metadata.get("format") if isinstance(metadata, dict) else None
    if name != FORMAT_NAME:
        raise ReferenceFileError(
            f"{path}: a {name or 'foreign'} file, not a {FORMAT_NAME} bundle "
            "(write one with 'molap-np reference')"
        )
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ReferenceFileError(
            f"{path}: reference format version {version}; this molap_np reads "
            f"version {FORMAT_VERSION}. Write a new bundle with this version."
        )
    for key in ("T", "B", "N", "n_in", "n_out", "l2", "seed", "task"):
        if key not in metadata:
            raise ReferenceFileError(f"{path}: metadata lacks {key!r}")
    return metadata


def _expected_shapes(metadata):
    T_, B, N = metadata["T"], metadata["B"], metadata["N"]
    n_in, n_out = metadata["n_in"], metadata["n_out"]
    weights = {
        "W_in": (N, n_in),
        "J": (N, N),
        "b": (N,),
        "W_out": (n_out, N),
        "b_out": (n_out,),
        "h0": (N,),
    }
    shapes = {"inputs": (T_, B, n_in), "targets": (T_, B, n_out), **weights}
    shapes.update({"states": (T_, B, N), "outputs": (T_, B, n_out)})
    shapes.update({"loss": (), "mse": ()})
    shapes.update({f"grad_{name}": shape for name, shape in weights.items()})
    return shapes


def load_reference(path):
    """Read a bundle written by ``write_reference``.

    Returns
    -------
    Reference

    Raises
    ------
    ReferenceFileError
        If the file is not a readable ``.npz``, is another kind of file (a
        network file, say), is of another format version, or lacks an array
        or has one of the wrong shape, dtype or with NaN.
    """
    contents = _read_archive(path)
    metadata = _read_metadata(path, contents)
    for name, shape in _expected_shapes(metadata).items():
        if name not in contents:
            raise ReferenceFileError(f"{path}: array {name!r} is missing")
        array = contents[name]
        if array.dtype != np.float64 or array.shape != shape:
            raise ReferenceFileError(
                f"{path}: {name} is {array.dtype} {array.shape}, "
                f"expected float64 {shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ReferenceFileError(f"{path}: {name} contains NaN or inf")
    return Reference(
        inputs=contents["inputs"],
        targets=contents["targets"],
        params={name: contents[name] for name in PARAM_NAMES},
        states=contents["states"],
        outputs=contents["outputs"],
        loss=float(contents["loss"]),
        mse=float(contents["mse"]),
        grads={name: contents[name] for name in GRAD_NAMES},
        metadata=metadata,
    )


# ---------------------------------------------------------------------------
# Checking another implementation


def relative_error(actual, expected):
    """max|actual - expected| / max(max|expected|, tiny), a float.

    Both arrays must have the same shape; NaN or inf in ``actual`` gives inf.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"shapes differ: {actual.shape} and {expected.shape}")
    if not np.all(np.isfinite(actual)):
        return float("inf")
    scale = max(float(np.max(np.abs(expected), initial=0.0)), TINY)
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


@dataclass
class QuantityCheck:
    """The comparison of one quantity.

    Attributes
    ----------
    name : str
        A name of ``QUANTITIES``.
    expected_shape, shape : tuple
        The reference's shape and the one given (``None`` if missing).
    error : float or None
        ``relative_error``; ``None`` when missing or of the wrong shape.
    tolerance : float
    status : str
        ``"pass"``, ``"FAIL"`` (too large an error), ``"SHAPE"`` (wrong shape)
        or ``"MISSING"``.
    hint : str
        A likely cause of the failure, or ``""``.
    """

    name: str
    expected_shape: tuple
    shape: tuple
    error: float
    tolerance: float
    status: str
    hint: str = ""

    @property
    def passed(self):
        return self.status == "pass"


@dataclass
class ReferenceCheck:
    """The result of ``check_against_reference``; ``str()`` is the report.

    Attributes
    ----------
    checks : list of QuantityCheck
        One per checked quantity, in the order of ``QUANTITIES``.
    dtype : str
        The precision whose tolerance was applied.
    ignored : list of str
        Keys of the given arrays that name no quantity (typos, extras).
    label : str
        What was checked, for the report's first line.
    """

    checks: list
    dtype: str
    ignored: list = field(default_factory=list)
    label: str = ""

    @property
    def passed(self):
        """True when every checked quantity passed."""
        return all(check.passed for check in self.checks)

    @property
    def errors(self):
        """Relative error by quantity name (None where not computed)."""
        return {check.name: check.error for check in self.checks}

    def __getitem__(self, name):
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"{name!r} was not checked; checked: {self.errors.keys()}")

    def report(self):
        """The printable report: one line per quantity and a verdict."""
        lines = [f"Reference check {self.label}({self.dtype} tolerances)"]
        lines.append(
            f"{'quantity':<12}{'shape':<17}{'rel. error':>11}{'tolerance':>11}  result"
        )
        for check in self.checks:
            lines.append(_report_line(check))
        if self.ignored:
            lines.append(f"ignored keys (no such quantity): {', '.join(self.ignored)}")
        good = sum(check.passed for check in self.checks)
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"{good} of {len(self.checks)} quantities pass: {verdict}")
        return "\n".join(lines)

    def __str__(self):
        return self.report()


def _report_line(check):
    shape = "-" if check.shape is None else str(check.shape)
    error = "-" if check.error is None else f"{check.error:.2e}"
    line = f"{check.name:<12}{shape:<17}{error:>11}{check.tolerance:>11.0e}"
    line += f"  {check.status}"
    return line + (f"  {check.hint}" if check.hint else "")


def _as_numpy(value, name):
    """An array from NumPy, or from a tensor with ``.detach()`` (PyTorch)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as err:
        raise TypeError(f"{name}: cannot be read as an array ({err})") from err


def _tolerance(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in TOLERANCES:
        raise ValueError(
            f"no tolerance for dtype {dtype!r}; valid: {', '.join(TOLERANCES)}"
        )
    return name, TOLERANCES[name]


def _shape_hint(shape, expected):
    """The expected shape, and why ``shape`` may differ from it."""
    hint = f"expected {expected}"
    if len(shape) == len(expected) == 2 and shape == expected[::-1]:
        return hint + ": looks transposed; weights are (out, in), as in W @ x"
    if len(expected) == 3 and shape == (expected[1], expected[0], expected[2]):
        return hint + ": looks batch-major (B, T, ...); the format is time-major"
    if len(expected) == 3 and shape == (expected[0] + 1,) + expected[1:]:
        return hint + ": T + 1 steps; states are h[1] .. h[T], without h[0]"
    return hint


def _value_hint(name, actual, expected, tolerance, reference):
    """A likely cause of a mismatch of equal shapes, or ''."""

    def close(candidate, target=expected):
        return relative_error(candidate, target) <= tolerance

    if not np.all(np.isfinite(actual)):
        return "contains NaN or inf"
    if actual.ndim == 2 and actual.shape == actual.T.shape and close(actual.T):
        return "matches the reference transposed"
    if actual.ndim == 3 and close(actual[1:], expected[:-1]):
        return "lags one step: [t] matches the reference's [t-1]"
    if actual.ndim == 3 and close(actual[:-1], expected[1:]):
        return "runs one step ahead: [t] matches the reference's [t+1]"
    if name == "loss" and close(actual, reference.mse):
        return "equals the loss without its L2 term"
    weight = name.removeprefix("grad_")
    if weight in ("W_in", "J"):
        l2 = reference.metadata["l2"]
        if close(actual, expected - 2 * l2 * reference.params[weight]):
            return "lacks the gradient of the L2 term"
    if actual.ndim > 0:
        return _scale_hint(actual, expected, close)
    return ""


def _scale_hint(actual, expected, close):
    """'is the reference times c' when a constant factor explains it."""
    norm = float(np.sum(expected * expected))
    if norm == 0.0:
        return ""
    factor = float(np.sum(actual * expected)) / norm
    if not close(actual, factor * expected):
        return ""
    if abs(factor + 1) < 1e-6:
        return "has the opposite sign"
    return f"is the reference times {factor:.6g}"


def _check_one(name, given, expected, tolerance, reference):
    row = QuantityCheck(name, expected.shape, None, None, tolerance, "MISSING")
    if given is None:
        return row
    actual = _as_numpy(given, name)
    if expected.shape == () and actual.size == 1:
        actual = actual.reshape(())
    row.shape = actual.shape
    if actual.shape != expected.shape:
        row.status, row.hint = "SHAPE", _shape_hint(actual.shape, expected.shape)
        return row

    actual = actual.astype(np.float64)
    row.error = relative_error(actual, expected)
    if row.error <= tolerance:
        row.status = "pass"
    else:
        row.status = "FAIL"
        row.hint = _value_hint(name, actual, expected, tolerance, reference)
    return row


def check_against_reference(reference, arrays, dtype="float64", quantities=None):
    """Compare another implementation's results with a reference bundle.

    Parameters
    ----------
    reference : Reference or str or PathLike
        A bundle, or the path of a bundle file.
    arrays : mapping of str to array
        The other implementation's results, named as in ``QUANTITIES``:
        ``states`` (T, B, N) holding h[1] .. h[T], ``outputs`` (T, B, n_out),
        ``loss`` (a scalar, l2 term included), and ``grad_W_in`` (N, n_in),
        ``grad_J`` (N, N), ``grad_b`` (N,), ``grad_W_out`` (n_out, N),
        ``grad_b_out`` (n_out,), ``grad_h0`` (N,): the gradients of the loss,
        each in its weight's orientation. NumPy arrays, or tensors with
        ``.detach()``. Any float dtype; compared in float64.
    dtype : {"float64", "float32"}
        The precision the other implementation computed in; picks the
        tolerance of ``TOLERANCES`` (see the module docstring).
    quantities : sequence of str, optional
        The quantities to check (all of ``QUANTITIES`` if omitted), for a
        port that has, say, only a forward pass so far. A requested quantity
        missing from ``arrays`` fails as ``MISSING``.

    Returns
    -------
    ReferenceCheck
        ``.passed``, ``.errors`` and, as ``str()``, a printable report with
        one line per quantity: its relative error, the tolerance, the result
        and, for a failure, a likely cause where one is found (a transposed
        array, a shift by one step, a missing L2 term, a constant factor).
    """
    if not isinstance(reference, Reference):
        reference = load_reference(reference)
    dtype, tolerance = _tolerance(dtype)
    quantities = QUANTITIES if quantities is None else tuple(quantities)
    unknown = [name for name in quantities if name not in QUANTITIES]
    if unknown:
        raise ValueError(
            f"unknown quantities {unknown}; valid: {', '.join(QUANTITIES)}"
        )

    expected = reference.quantities()
    checks = [
        _check_one(name, arrays.get(name), expected[name], tolerance, reference)
        for name in quantities
    ]
    ignored = sorted(key for key in arrays if key not in QUANTITIES)
    meta = reference.metadata
    label = (
        f"{meta.get('task')} seed {meta.get('seed')}, T {meta.get('T')} "
        f"B {meta.get('B')} N {meta.get('N')} "
    )
    return ReferenceCheck(checks, dtype, ignored, label)


# ---------------------------------------------------------------------------
# Command line


def _parse_modules(text):
    try:
        return [int(part) for part in text.split(",")]
    except ValueError as err:
        raise ValueError(f"--modules takes sizes like 50,50,50, got {text!r}") from err


def _cmd_reference(args):
    from .files import load_network

    params, module_sizes, task = None, None, args.task
    if args.network:
        params, network_meta = load_network(args.network)
        module_sizes = network_meta["module_sizes"]
        task = task or network_meta.get("task")
    if args.modules:
        module_sizes = _parse_modules(args.modules)
    reference = write_reference(
        args.out,
        seed=args.seed,
        task=task or "MemoryPro",
        N=args.N,
        batch_size=args.batch_size,
        module_sizes=module_sizes,
        params=params,
    )
    meta = reference.metadata
    print(
        f"wrote {args.out}: {meta['task']} seed {meta['seed']}, T {meta['T']} "
        f"B {meta['B']} N {meta['N']}, loss {reference.loss:.6f}"
    )


def _read_other(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable .npz archive ({err})") from err


def _infer_dtype(arrays):
    """float32 if any float array of the other side is float32."""
    if any(np.asarray(a).dtype == np.float32 for a in arrays.values()):
        return "float32"
    return "float64"


def _cmd_check_reference(args):
    reference = load_reference(args.reference)
    arrays = _read_other(args.other)
    dtype = args.dtype or _infer_dtype(arrays)
    result = check_against_reference(reference, arrays, dtype=dtype)
    print(result.report())
    if not result.passed:
        raise SystemExit(1)


def add_command(subparsers):
    """Add ``reference`` and ``check-reference`` to the ``molap-np`` command."""
    sub = subparsers.add_parser(
        "reference",
        help="write a reference bundle for checking another implementation",
        description="Write a reference bundle (.npz): a task batch, weights, "
        "states, outputs, loss and gradients; see molap_np.reference.",
    )
    sub.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    sub.add_argument("--out", default="reference.npz", help="file to write")
    sub.add_argument("--task", help="task name (default MemoryPro)")
    sub.add_argument("--N", type=int, help=f"units (default {DEFAULT_N})")
    sub.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="trials B"
    )
    sub.add_argument("--modules", help="module sizes, e.g. 50,50,50")
    sub.add_argument("--network", help="use this network file's weights")
    sub.set_defaults(func=_cmd_reference)

    sub = subparsers.add_parser(
        "check-reference",
        help="compare another implementation's arrays with a reference bundle",
        description="Compare OTHER.npz (keys: " + ", ".join(QUANTITIES) + ") "
        "with a reference bundle; exit status 1 if any quantity fails.",
    )
    sub.add_argument("reference", help="the bundle written by 'molap-np reference'")
    sub.add_argument("other", help="the other implementation's .npz")
    sub.add_argument(
        "--dtype",
        choices=tuple(TOLERANCES),
        help="its precision (default: float32 if any of its arrays is float32)",
    )
    sub.set_defaults(func=_cmd_check_reference)
