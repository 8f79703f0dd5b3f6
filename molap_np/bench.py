"""How far one training step is from what this machine's BLAS allows.

    molap-np bench [--repeats R] [--no-torch]

One step is what ``training.train`` does for a batch: the loss (3) and its
gradient with ``value_and_grad`` (forward pass and backpropagation through
time). Two cases, float64, T = 110, B = 64, 3 inputs and 3 outputs:

    (a) MoLaP task learning: N = 150; W_in, W_out, b_out, h0 trained,
        J and b frozen (MOLAP.md section 4);
    (b) a separate network: N = 200, all six weights trained.

The floor is the step's matrix-product arithmetic at the rate this process
measures for a matrix product. Counting a multiply-add as 2 flops, with
j = 1 if J is trained and w = 1 if W_in is, one step costs::

    flops = 2 T B N (N (2 + j) + n_in (1 + w) + 3 n_out)

    forward     J h[t]: 2TBN^2,    W_in x[t]: 2TBN n_in,   W_out h: 2TBN n_out
    backward    J^T d[t]: 2TBN^2   (always: h0 or W_in needs it)
                dJ: 2TBN^2 (if j),  dW_in: 2TBN n_in (if w),
                dW_out and W_out^T e: 2 * 2TBN n_out

Element-wise work (tanh, its slope, adds) is not counted: the floor is a
bound, not a prediction. Two rates give two floors: the (B, N) @ (N, N)
product the time loop is made of, and a large 1000 x 1000 product. If
PyTorch is importable the same step is timed in PyTorch float64 too, with as
many threads as NumPy's BLAS is told to use, written two ways: a loop of
tensor operations (like ours) and ``torch.nn.RNN``. PyTorch is never a
dependency of molap_np. For reference, the step is also timed with autograd
tracing the time loop op by op (``traced_loss``), which is what
``rnn.forward`` replaces with its hand-written reverse pass.
"""

import os
import time
from types import SimpleNamespace

import autograd.numpy as anp
import numpy as np

from . import rnn, training
from .tasks import make_batch

T, B, N_IN, N_OUT = 110, 64, 3, 3
LARGE = 1000
CASES = (
    ("(a) MoLaP task learning, N = 150", 150, ("W_in", "W_out", "b_out", "h0")),
    ("(b) separate network, N = 200", 200, rnn.PARAM_NAMES),
)


def step_flops(T, B, N, n_in, n_out, trained):
    """Matrix-product flops of one step (see the module docstring)."""
    j = int("J" in trained)
    w = int("W_in" in trained)
    return 2 * T * B * N * (N * (2 + j) + n_in * (1 + w) + 3 * n_out)


def blas_threads():
    """Threads NumPy's BLAS is told to use: the environment, else all cores."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return os.cpu_count() or 1


def time_call(fn, repeats, warmup=2):
    """Wall times in seconds of ``repeats`` calls of ``fn`` after warm-up."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return np.array(times)


def matmul_rate(shape_a, shape_b, repeats, rng):
    """Median flop rate (flop/s) of a float64 product of these shapes."""
    a, b = rng.normal(size=shape_a), rng.normal(size=shape_b)
    inner = max(1, int(2e6 // (a.shape[0] * b.shape[1])))  # calls per timing

    def products():
        for _ in range(inner):
            a @ b

    seconds = np.median(time_call(products, repeats)) / inner
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / seconds


def _problem(N, seed=0):
    rng = np.random.default_rng(seed)
    params = rnn.init_params(N_IN, N, N_OUT, rng)
    batch = make_batch("MemoryPro", B, rng)
    return params, batch


def numpy_step(params, batch, trained, loss_fn=training.mse_loss):
    """One step of ``train``'s gradient, as a function of no arguments."""
    loss_and_grad = training.gradient_function(params, loss_fn)
    arrays = {name: params[name] for name in trained}
    return lambda: loss_and_grad(arrays, batch)


def traced_loss(params, batch, l2):
    """Loss (3) with autograd tracing the time loop op by op.

    What ``rnn.forward`` would cost without its hand-written reverse pass.
    """
    x = batch.inputs
    h = anp.ones((x.shape[1], 1)) * params["h0"]  # (B, N)
    states = []
    for x_t in x:
        h = anp.tanh(x_t @ params["W_in"].T + h @ params["J"].T + params["b"])
        states.append(h)
    outputs = anp.stack(states) @ params["W_out"].T + params["b_out"]
    penalty = anp.sum(params["W_in"] ** 2) + anp.sum(params["J"] ** 2)
    return anp.mean((outputs - batch.targets) ** 2) + l2 * penalty


def _torch_weights(torch, params, trained):
    return {
        name: torch.tensor(value, dtype=torch.float64, requires_grad=name in trained)
        for name, value in params.items()
    }


def _torch_loss(torch, w, outputs, targets):
    penalty = (w["W_in"] ** 2).sum() + (w["J"] ** 2).sum()
    return ((outputs - targets) ** 2).mean() + training.L2_DEFAULT * penalty


def torch_loop_step(torch, params, batch, trained):
    """The same step in PyTorch, as a loop of tensor operations."""
    w = _torch_weights(torch, params, trained)
    x, y = torch.tensor(batch.inputs), torch.tensor(batch.targets)

    def step():
        drive = x @ w["W_in"].T + w["b"]  # (T, B, N)
        h = w["h0"].expand(x.shape[1], -1)
        states = []
        for drive_t in drive.unbind(0):  # unbind: one backward op, not T
            h = torch.tanh(torch.addmm(drive_t, h, w["J"].T))
            states.append(h)
        outputs = torch.stack(states) @ w["W_out"].T + w["b_out"]
        loss = _torch_loss(torch, w, outputs, y)
        loss.backward()
        for value in w.values():
            value.grad = None
        return loss.item()

    return step


def torch_rnn_step(torch, params, batch, trained):
    """The same step in PyTorch with ``torch.nn.RNN`` (its own time loop)."""
    w = _torch_weights(torch, params, trained)
    x, y = torch.tensor(batch.inputs), torch.tensor(batch.targets)
    N = params["J"].shape[0]
    cell = torch.nn.RNN(N_IN, N, nonlinearity="tanh", dtype=torch.float64)
    cell.weight_ih_l0, cell.weight_hh_l0 = _as_parameters(torch, w["W_in"], w["J"])
    cell.bias_ih_l0, cell.bias_hh_l0 = _as_parameters(
        torch, w["b"], torch.zeros(N, dtype=torch.float64)
    )

    def step():
        h0 = w["h0"].expand(1, x.shape[1], -1).contiguous()
        states, _ = cell(x, h0)
        outputs = states @ w["W_out"].T + w["b_out"]
        loss = _torch_loss(torch, w, outputs, y)
        loss.backward()
        for value in list(w.values()) + list(cell.parameters()):
            value.grad = None
        return loss.item()

    return step


def _as_parameters(torch, *tensors):
    return [
        torch.nn.Parameter(t.detach().clone(), requires_grad=t.requires_grad)
        for t in tensors
    ]


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def run_benchmark(repeats=15, use_torch=True, cases=CASES, verbose=True):
    """Time one training step per case against the matmul floor.

    Parameters
    ----------
    repeats : int
        Timed steps per measurement; medians are reported.
    use_torch : bool
        Also time PyTorch if it is importable.
    cases : sequence of (label, N, trained weight names)

    Returns
    -------
    dict
        ``threads``, ``large_rate`` (flop/s) and ``cases``: per case its
        ``flops``, ``loop_rate``, step times in seconds (``numpy``,
        ``torch_loop``, ``torch_rnn``: arrays of ``repeats``, or None;
        ``traced``: a third as many) and the ratios of the medians of
        ``numpy`` to the two floors.
    """
    rng = np.random.default_rng(0)
    threads = blas_threads()
    torch = _import_torch() if use_torch else None
    if torch is not None:
        torch.set_num_threads(threads)
    large_rate = matmul_rate((LARGE, LARGE), (LARGE, LARGE), max(3, repeats // 3), rng)
    result = {"threads": threads, "large_rate": large_rate, "cases": []}
    if verbose:
        _print_header(threads, repeats, large_rate, torch, use_torch)

    for label, N, trained in cases:
        case = _run_case(label, N, trained, repeats, rng, torch, large_rate)
        result["cases"].append(case)
        if verbose:
            _print_case(case)
    return result


def _run_case(label, N, trained, repeats, rng, torch, large_rate):
    params, batch = _problem(N)
    flops = step_flops(T, B, N, N_IN, N_OUT, trained)
    case = SimpleNamespace(label=label, N=N, trained=tuple(trained), flops=flops)
    case.loop_rate = matmul_rate((B, N), (N, N), repeats, rng)
    case.large_rate = large_rate
    step_fn = numpy_step(params, batch, trained)
    case.numpy = time_call(step_fn, repeats)
    case.loss = float(step_fn()[0])
    traced_fn = numpy_step(params, batch, trained, traced_loss)
    _check_same_loss(case.loss, float(traced_fn()[0]), "traced")
    case.traced = time_call(traced_fn, max(3, repeats // 3))
    case.torch_loop = case.torch_rnn = None
    if torch is not None:
        for key, make in (
            ("torch_loop", torch_loop_step),
            ("torch_rnn", torch_rnn_step),
        ):
            torch_fn = make(torch, params, batch, trained)
            _check_same_loss(case.loss, torch_fn(), key)
            setattr(case, key, time_call(torch_fn, repeats))
    step = np.median(case.numpy)
    case.ratio_loop_floor = step / (flops / case.loop_rate)
    case.ratio_large_floor = step / (flops / large_rate)
    return vars(case)


def _check_same_loss(loss, other_loss, key):
    """Refuse to compare times of steps that do not compute the same loss."""
    if not np.isclose(loss, other_loss, rtol=1e-10, atol=0):
        raise RuntimeError(
            f"the {key} step gives loss {other_loss!r}, molap_np gives "
            f"{loss!r}: the benchmark would compare different work"
        )


def _print_header(threads, repeats, large_rate, torch, use_torch):
    print(
        f"molap-np bench: one training step (loss and gradient), float64, "
        f"T = {T}, B = {B}, {N_IN} inputs, {N_OUT} outputs"
    )
    print(f"BLAS threads {threads}; medians of {repeats} steps [min - max]")
    load, cores = _load_average(), os.cpu_count() or 1
    if load is not None and load > cores - 0.5:
        print(
            f"warning: load average {load:.1f} on {cores} cores; other work "
            f"shares the CPU and the times below are slower and noisier"
        )
    print(f"large matmul {LARGE}^3: {large_rate / 1e9:.1f} GFLOP/s")
    if torch is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    elif use_torch:
        print("PyTorch: not importable, comparison skipped")


def _load_average():
    """The 1-minute load average, or None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _ms(times):
    low, high = times.min() * 1e3, times.max() * 1e3
    return f"{np.median(times) * 1e3:7.1f} ms [{low:.1f} - {high:.1f}]"


def _print_case(case):
    N, step = case["N"], np.median(case["numpy"])
    print()
    print(case["label"] + ": trains " + ", ".join(case["trained"]))
    print(f"  {'matmul flops per step':<26}{case['flops'] / 1e9:.3f} G")
    print(f"  {f'({B}, {N}) @ ({N}, {N})':<26}{case['loop_rate'] / 1e9:.1f} GFLOP/s")
    print(f"  {'molap_np step':<26}{_ms(case['numpy'])}")
    ratio = step / np.median(case["traced"])
    print(
        f"  {'autograd tracing the loop':<26}{_ms(case['traced'])}   "
        f"molap_np / traced {ratio:.2f}"
    )
    for key, name in (("loop", "loop's"), ("large", "large")):
        floor = case["flops"] / case[f"{key}_rate"]
        print(
            f"  {f'floor at the {name} rate':<26}{floor * 1e3:7.1f} ms   "
            f"step / floor {case[f'ratio_{key}_floor']:.2f}"
        )
    for key, name in (("torch_loop", "tensor loop"), ("torch_rnn", "nn.RNN")):
        if case[key] is not None:
            ratio = step / np.median(case[key])
            print(
                f"  {'PyTorch ' + name:<26}{_ms(case[key])}   "
                f"molap_np / PyTorch {ratio:.2f}"
            )


def _cmd_bench(args):
    run_benchmark(repeats=args.repeats, use_torch=not args.no_torch)


def add_command(subparsers):
    """Add ``molap-np bench`` to the command line."""
    sub = subparsers.add_parser(
        "bench", help="time one training step against the machine's floor"
    )
    sub.add_argument(
        "--repeats", type=int, default=15, help="timed steps per measurement"
    )
    sub.add_argument(
        "--no-torch", action="store_true", help="skip the PyTorch comparison"
    )
    sub.set_defaults(func=_cmd_bench)
