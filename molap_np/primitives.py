"""Pre-training the modules on latent primitives (MOLAP.md section 3).

A primitive design says what each module learns. Module k (k = 1 .. r) is
trained in turn on the network of ``molap_np.rnn``: the network receives the
design's input signal for k and must output its target signal::

    h[t+1] = tanh(W_in x_k[t] + J h[t] + b)     z[t] = W_out h[t+1] + b_out
    L_k = mean((z - z_k*)^2) + 2e-6 (|W_in|^2 + |J|^2)                    (1)

Only module k's diagonal block of J, the input weights W_in, the readout
(W_out, b_out) and h[0] are trained; module k starts from the weights module
k - 1 left. The blocks of J between modules and the bias b keep their random
values for good. After pre-training only J and b are kept: task learning
(``molap_np.task_learning``) gives every task new input and output weights.

Designs (``DESIGNS``):

``cca``
    The paper's. A corpus batch of the tasks is stacked into rows, X (rows,
    25) inputs and Y (rows, 22) targets, and CCA (``molap_np.cca``) gives r
    variate pairs U = X A, V = Y B. Each variate is rescaled to [0, 1] by its
    range on that batch and folded back to (T, trials). Module k maps U_k to
    V_k. Fresh corpus batches are drawn every step and projected with the
    CCA fitted once.
``task``
    The hand-designed primitives of the paper's first version: module 1
    reproduces the fixation input; module 2 receives input channel 1 of a
    random task's trial and must hold the value of its last stimulus or
    pulse until the end of the trial (a sample-and-hold memory); module 3
    does the same for input channel 2.
``response-cca``
    This package's design, which puts memory into the statistics. CCA pairs
    each step of the stimulus epoch with the answer the same trial asks for
    later (stimulus and response channels only, fixation left out)::

        X rows: x_stim[t] for stim_on <= t < go
        Y rows: mean of y_resp[s] over go <= s < T, for the same trial  (2)

    Module k receives the fixation input and the stimulus variate
    u_k[t] = (x_stim[t] / scale_x) A_k during the stimulus epoch (zero
    elsewhere, as the CCA saw it), and must output the answer variate
    v_k[t] = (y_resp[t] / scale_y) B_k, which is zero until the go cue: it
    must carry u_k across the delay and release it at go. Both are divided
    by their largest magnitude on the fitted batch, so that zero means "no
    stimulus" and "no answer".

``hold-max``
    Memory primitives cut to the corpus's needs (hand-designed, like
    ``task``): modules 1 and 2 hold the last value shown on input channel 1
    (resp. 2); module 3 receives channel 1 of a value task's trial and must
    hold the running maximum of its pulses, the operation every value task
    asks for (MemoryDm1 directly; the others once the input weights route
    the right channel, or the sum of both, into it).

Fit. The fit of module k is the R^2 of its target on a held-out batch drawn
once before training, measured right after module k's training (its readout
is retrained by the next module).

Shipped weights. ``molap_np/data/pretrained_<design>.npz`` are written with
the default ``PretrainConfig`` and one BLAS thread (another thread count sums
in another order and changes the last bits of the weights) by::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 molap-np pretrain \\
        --design cca --seed 0 --out molap_np/data/pretrained_cca.npz

and likewise for ``--design response-cca``. A test rebuilds them bit for bit;
each takes about 25 s on one core of this machine.

The comparison ``compare_designs`` learns every task on the pre-trained
recurrent weights of each design and on random ones (the no-pre-training
control), with the same task-learning seeds in every condition. With its
defaults, ``molap-np compare-primitives`` (4 designs and the control, 3
seeds, 9 tasks, 500 steps at batch 32, 2 worker processes: 135 task
learnings and 12 pre-trainings) took 61 minutes on this 2-core machine while
other jobs shared it.
"""

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .cca import fit_cca
from .files import load_network, save_network
from .rnn import init_params, module_mask, predict
from .tasks import (
    DIRECTION_TASKS,
    INPUT_NOISE,
    N_BLANK,
    PULSE_LEN,
    TASK_NAMES,
    TASK_SIZES,
    TIMINGS,
    T,
    check_task,
    make_corpus_batch,
)
from .training import SCHEDULES, train, trainable_count

DESIGNS = ("cca", "task", "response-cca", "hold-max")
DATA_DIR = Path(__file__).resolve().parent / "data"
PRETRAIN_WEIGHTS = ("W_in", "W_out", "b_out", "h0")


@dataclass
class PretrainConfig:
    """Network size and optimiser of pre-training.

    ``steps``, ``batch_size``, ``lr``, ``schedule`` and ``clip`` apply to
    each module in turn. ``corpus_trials`` trials of every task feed the
    CCA; ``eval_trials`` make the held-out batch of each module's fit.
    The research code trained on batches of 200 at lr 5e-3 (MOLAP.md
    section 3); 200 steps at batch 32 already fit every module of every
    design to R^2 >= 0.9 and keep a pre-training near 25 s.
    """

    N: int = 150
    module_sizes: tuple = (50, 50, 50)
    r: int = 3
    steps: int = 200
    batch_size: int = 32
    lr: float = 5e-3
    schedule: str = "cosine"
    clip: float | None = 1.0
    corpus_trials: int = 200
    eval_trials: int = 100
    eval_every: int = 50
    reg: float = 1e-6
    g: float = 1.5
    timing: str = "fixed"

    def check(self):
        """Raise a clear error unless the settings fit together."""
        sizes = tuple(int(m) for m in self.module_sizes)
        if sum(sizes) != self.N or min(sizes) < 1:
            raise ValueError(f"module_sizes {sizes} must be positive and sum to N")
        if len(sizes) != self.r:
            raise ValueError(
                f"r = {self.r} primitives need r modules, got module_sizes {sizes}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {SCHEDULES}")
        if self.timing not in TIMINGS:
            raise ValueError(f"unknown timing {self.timing!r}; valid: {TIMINGS}")
        for name in ("steps", "batch_size", "corpus_trials", "eval_trials"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass
class PrimitiveBatch:
    """Input and target signals of one module.

    Attributes
    ----------
    inputs : ndarray, shape (T, B, n_in)
    targets : ndarray, shape (T, B, 1)
    """

    inputs: np.ndarray
    targets: np.ndarray


@dataclass
class PretrainResult:
    """A pre-trained network and how it got there.

    Attributes
    ----------
    params : dict of ndarray
        Weights after the last module: ``J`` (N, N) and ``b`` (N,) are what
        task learning keeps; ``W_in`` (N, n_in), ``W_out`` (1, N) and the
        rest belong to the last primitive.
    module_sizes : tuple of int
    design : str
    fits : list of float
        R^2 of each module's target on its held-out batch, in module order,
        right after that module's training.
    final_fits : list of float
        The same with the final J: module k's head on the J that the later
        modules left (how much later training disturbed module k).
    heads : list of dict of ndarray
        ``W_in``, ``W_out``, ``b_out``, ``h0`` right after each module's
        training: with J and b they run primitive k.
    cca : CCAResult or None
        The CCA the primitives came from (``None`` for ``task``).
    canonical_correlations : list of float
        Its correlations (empty without CCA).
    trainable_params : int
        Distinct scalars trained over the whole pre-training.
    updates : int
        Sum over steps of the scalars each step changed.
    seconds : float
    logs : list of TrainingLog
        One per module, with ``evals`` holding ``{"r2": ...}``.
    config : PretrainConfig
    tasks : tuple of str
        The tasks whose data the pre-training saw.
    initial_params : dict of ndarray
        The random weights pre-training started from.
    """

    params: dict
    module_sizes: tuple
    design: str
    fits: list
    final_fits: list
    heads: list
    cca: object
    canonical_correlations: list
    trainable_params: int
    updates: int
    seconds: float
    logs: list
    config: PretrainConfig
    tasks: tuple = TASK_NAMES
    initial_params: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Designs: each prepares its signals from the corpus once (``__init__``), then
# ``sample(k, batch_size, rng)`` draws a fresh PrimitiveBatch for module k.
# ``n_in`` is the number of input channels the network needs, ``cca`` the
# fitted CCA or None.


def _check_tasks(tasks):
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError("tasks must name at least one task")
    for task in tasks:
        check_task(task)
    return tasks


def _add_input_noise(signal, rng):
    """Input noise as the tasks add it: steps 10 .. T-1, shape (T, B, C)."""
    noisy = signal.copy()
    noise = rng.normal(0.0, INPUT_NOISE, size=(T - N_BLANK,) + signal.shape[1:])
    noisy[N_BLANK:] += noise
    return noisy


class CCAPrimitives:
    """The paper's primitives: canonical variate pairs of the whole trial."""

    n_in = 1

    def __init__(self, rng, config, tasks):
        self.tasks, self.timing = tasks, config.timing
        corpus = make_corpus_batch(config.corpus_trials, rng, tasks, timing=self.timing)
        X, Y = _rows(corpus.inputs), _rows(corpus.targets)
        self.cca = fit_cca(X, Y, r=config.r, reg=config.reg)

        U, V = self.cca.transform(X, Y)
        self.u_low, self.u_range = U.min(axis=0), np.ptp(U, axis=0)
        self.v_low, self.v_range = V.min(axis=0), np.ptp(V, axis=0)

    def variates(self, corpus):
        """Rescaled variates of a corpus batch, each shape (T, B, r)."""
        U, V = self.cca.transform(_rows(corpus.inputs), _rows(corpus.targets))
        U = (U - self.u_low) / self.u_range
        V = (V - self.v_low) / self.v_range
        shape = corpus.inputs.shape[:2] + (-1,)
        return U.reshape(shape), V.reshape(shape)

    def sample(self, k, batch_size, rng):
        corpus = make_corpus_batch(batch_size, rng, self.tasks, timing=self.timing)
        U, V = self.variates(corpus)
        return PrimitiveBatch(U[:, :, k : k + 1], V[:, :, k : k + 1])


def _rows(signal):
    """Stack time and trials into rows: (T, B, C) -> (T * B, C)."""
    return signal.reshape(-1, signal.shape[-1])


def stimulus_on(batch):
    """Where a task's stimulus is shown, bool (T, B), from its epochs."""
    steps = np.arange(T)[:, None]
    epochs = batch.epochs
    if batch.task in DIRECTION_TASKS:
        return (steps >= epochs["stim_on"]) & (steps < epochs["stim_off"])
    on = np.zeros((T, batch.batch_size), dtype=bool)
    for onset in (epochs["pulse1_on"], epochs["pulse2_on"]):
        on |= (steps >= onset) & (steps < onset + PULSE_LEN)
    return on


def hold_last(values, on):
    """Sample and hold: the value at the last step where ``on``, else 0.

    Parameters
    ----------
    values : ndarray, shape (T, B)
    on : ndarray of bool, shape (T, B)

    Returns
    -------
    ndarray, shape (T, B)
    """
    steps = np.where(on, np.arange(T)[:, None], -1)
    last = np.maximum.accumulate(steps, axis=0)
    held = np.take_along_axis(values, np.maximum(last, 0), axis=0)
    return np.where(last >= 0, held, 0.0)


def hold_max(values, on):
    """Running maximum of the values where ``on``, else 0 before the first.

    Parameters
    ----------
    values : ndarray, shape (T, B)
    on : ndarray of bool, shape (T, B)

    Returns
    -------
    ndarray, shape (T, B)
    """
    running = np.maximum.accumulate(np.where(on, values, -np.inf), axis=0)
    return np.where(np.isfinite(running), running, 0.0)


_TARGET_RULES = {
    "copy": lambda values, on: values,
    "hold": hold_last,
    "max": hold_max,
}


class TaskPrimitives:
    """Hand-designed primitives: fixation, then memories of channels 1, 2.

    ``MODULES`` lists, per module, the target rule applied to the clean
    input channel and the channel; ``max`` draws value-task trials only.
    """

    n_in = 1
    MODULES = (("copy", 0), ("hold", 1), ("hold", 2))

    def __init__(self, rng, config, tasks):
        if config.r != len(self.MODULES):
            raise ValueError(
                f"this design has {len(self.MODULES)} primitives, got r = {config.r}"
            )
        self.tasks, self.timing = tasks, config.timing
        self.cca = None
        self.sources = []
        for rule, channel in self.MODULES:
            sources = tuple(t for t in tasks if TASK_SIZES[t][0] > channel)
            if rule == "max":
                sources = tuple(t for t in sources if t not in DIRECTION_TASKS)
            if not sources:
                raise ValueError(
                    f"the primitive {rule!r} of input channel {channel} has no "
                    f"task to draw from among {tasks}"
                )
            self.sources.append(sources)

    def sample(self, k, batch_size, rng):
        corpus = make_corpus_batch(
            batch_size, rng, self.tasks, noise=False, timing=self.timing
        )
        rule, channel = self.MODULES[k]
        choice = rng.integers(len(self.sources[k]), size=batch_size)
        clean = np.zeros((T, batch_size))
        targets = np.zeros((T, batch_size))
        for i, task in enumerate(self.sources[k]):
            trials = choice == i
            batch = corpus.batches[task]
            values = batch.inputs[:, trials, channel]
            clean[:, trials] = values
            on = stimulus_on(batch)[:, trials]
            targets[:, trials] = _TARGET_RULES[rule](values, on)
        inputs = _add_input_noise(clean[:, :, None], rng)
        return PrimitiveBatch(inputs, targets[:, :, None])


class HoldMaxPrimitives(TaskPrimitives):
    """Memory primitives: hold channel 1, hold channel 2, running maximum."""

    MODULES = (("hold", 1), ("hold", 2), ("max", 1))


class ResponseCCAPrimitives:
    """Memory primitives: CCA of stimulus-epoch inputs and later answers."""

    n_in = 2

    def __init__(self, rng, config, tasks):
        self.tasks, self.timing = tasks, config.timing
        corpus = make_corpus_batch(config.corpus_trials, rng, tasks, timing=self.timing)
        X, Y = self._pairs(corpus)
        self.cca = fit_cca(X, Y, r=config.r, reg=config.reg)

        u, v = self._signals(corpus)
        self.u_peak = np.abs(u).max(axis=(0, 1))
        self.v_peak = np.abs(v).max(axis=(0, 1))

    @staticmethod
    def _stimulus(corpus):
        """Stimulus channels of all tasks, (T, B, 25 - n_tasks)."""
        return np.concatenate([b.inputs[:, :, 1:] for b in corpus.batches.values()], 2)

    @staticmethod
    def _response(corpus):
        """Response channels of all tasks, (T, B, 22 - n_tasks)."""
        return np.concatenate([b.targets[:, :, 1:] for b in corpus.batches.values()], 2)

    def _pairs(self, corpus):
        """Rows (x_stim[t], mean response of the trial) for stimulus steps."""
        epochs = next(iter(corpus.batches.values())).epochs
        steps = np.arange(T)[:, None]
        in_stimulus = (steps >= epochs["stim_on"]) & (steps < epochs["go"])
        in_response = (steps >= epochs["go"]).astype(float)
        response = self._response(corpus)
        answer = (
            np.einsum("tbc,tb->bc", response, in_response) / in_response.sum(0)[:, None]
        )
        X = self._stimulus(corpus)[in_stimulus]
        Y = np.broadcast_to(answer, response.shape)[in_stimulus]
        return X, Y

    def _signals(self, corpus):
        """Unscaled variates, each (T, B, r): u in the stimulus epoch, v after.

        The stimulus variate is shown only where the CCA saw it: a Delay
        task's stimulus stays on after go and would otherwise give the
        answer away without any memory.
        """
        epochs = next(iter(corpus.batches.values())).epochs
        steps = np.arange(T)[:, None, None]
        shown = (steps >= epochs["stim_on"][:, None]) & (steps < epochs["go"][:, None])
        u = (self._stimulus(corpus) / self.cca.x_scale) @ self.cca.A
        v = (self._response(corpus) / self.cca.y_scale) @ self.cca.B
        return np.where(shown, u, 0.0), v

    def sample(self, k, batch_size, rng):
        corpus = make_corpus_batch(batch_size, rng, self.tasks, timing=self.timing)
        u, v = self._signals(corpus)
        fixation = next(iter(corpus.batches.values())).inputs[:, :, :1]
        inputs = np.concatenate([fixation, u[:, :, k : k + 1] / self.u_peak[k]], 2)
        return PrimitiveBatch(inputs, v[:, :, k : k + 1] / self.v_peak[k])


_DESIGN_CLASSES = {
    "cca": CCAPrimitives,
    "task": TaskPrimitives,
    "response-cca": ResponseCCAPrimitives,
    "hold-max": HoldMaxPrimitives,
}


def check_design(design):
    """Return ``design`` if it is known, else raise ValueError."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; valid designs: {DESIGNS}")
    return design


def make_primitives(design, rng, config, tasks=TASK_NAMES):
    """The primitive signals of ``design``, prepared from a corpus batch."""
    return _DESIGN_CLASSES[check_design(design)](rng, config, _check_tasks(tasks))


# ---------------------------------------------------------------------------
# Pre-training


def r_squared(outputs, targets):
    """Coefficient of determination over all steps and trials."""
    residual = np.sum((outputs - targets) ** 2)
    total = np.sum((targets - targets.mean()) ** 2)
    return float(1.0 - residual / total)


def module_fit(params, batch):
    """R^2 of a network's output on a primitive batch's target."""
    return r_squared(predict(params, batch.inputs), batch.targets)


def module_trainable(module_sizes, k):
    """Trainable set of module k: its block of J, W_in, readout and h0."""
    trainable = {name: None for name in PRETRAIN_WEIGHTS}
    trainable["J"] = module_mask(module_sizes, k)
    return trainable


def pretrain(design, rng, config=None, tasks=TASK_NAMES, verbose=True):
    """Pre-train the modules of a network on the primitives of ``design``.

    Parameters
    ----------
    design : str
        One of ``DESIGNS``.
    rng : numpy.random.Generator
        Draws the corpus for the statistics, the initial weights, the
        held-out batches and every training batch, in that order.
    config : PretrainConfig, optional
    tasks : sequence of str
        The tasks whose trials may be used; the others are never generated.
    verbose : bool
        Print a progress line every ``config.eval_every`` steps.

    Returns
    -------
    PretrainResult
    """
    config = config or PretrainConfig()
    config.check()
    tasks = _check_tasks(tasks)
    start = time.perf_counter()
    primitives = make_primitives(design, rng, config, tasks)
    sizes = tuple(int(m) for m in config.module_sizes)
    params = init_params(
        primitives.n_in, config.N, 1, rng, g=config.g, module_sizes=sizes
    )
    initial = {name: value.copy() for name, value in params.items()}
    heldout = [primitives.sample(k, config.eval_trials, rng) for k in range(config.r)]

    logs, fits, heads, union = [], [], [], {}
    for k in range(config.r):
        params, log = _train_module(
            params, primitives, k, heldout[k], rng, config, verbose
        )
        logs.append(log)
        fits.append(log.evals[-1]["r2"])
        heads.append({name: params[name].copy() for name in PRETRAIN_WEIGHTS})
        union = _merge_trainable(union, module_trainable(sizes, k))
    final_fits = [
        module_fit({**params, **head}, batch) for head, batch in zip(heads, heldout)
    ]

    cca = primitives.cca
    return PretrainResult(
        params=params,
        module_sizes=sizes,
        design=design,
        fits=fits,
        final_fits=final_fits,
        heads=heads,
        cca=cca,
        canonical_correlations=[] if cca is None else cca.correlations.tolist(),
        trainable_params=trainable_count(params, union),
        updates=sum(log.updates for log in logs),
        seconds=time.perf_counter() - start,
        logs=logs,
        config=config,
        tasks=tasks,
        initial_params=initial,
    )


def _train_module(params, primitives, k, heldout, rng, config, verbose):
    def fit(p):
        return {"r2": module_fit(p, heldout)}

    return train(
        params,
        lambda r: primitives.sample(k, config.batch_size, r),
        module_trainable(config.module_sizes, k),
        config.steps,
        rng,
        lr=config.lr,
        schedule=config.schedule,
        clip=config.clip,
        evaluate=fit,
        eval_every=config.eval_every,
        log_every=config.eval_every,
        verbose=verbose,
        label=f"module {k + 1}",
    )


def _merge_trainable(a, b):
    """Union of two trainable sets (``None`` means the whole array)."""
    merged = dict(a)
    for name, mask in b.items():
        if name not in merged:
            merged[name] = mask
        elif mask is None or merged[name] is None:
            merged[name] = None
        else:
            merged[name] = merged[name] | mask
    return merged


# ---------------------------------------------------------------------------
# Files


def pretrained_path(design):
    """Where the shipped network of ``design`` lives."""
    return DATA_DIR / f"pretrained_{check_design(design)}.npz"


def save_pretrained(result, path, seed):
    """Write a pre-trained network with its provenance, atomically.

    The metadata records the design, seed, configuration, tasks, both
    lists of fits and the canonical correlations. The CCA and the heads of
    the earlier modules are left out to keep the file small (the metadata
    is stored as UTF-32 text); ``pretrain`` with the same seed and
    configuration gives them back.
    """
    save_network(
        path,
        result.params,
        module_sizes=result.module_sizes,
        seed=seed,
        stage="pretraining",
        design=result.design,
        config=_config_dict(result.config),
        tasks=list(result.tasks),
        fits=[float(f) for f in result.fits],
        final_fits=[float(f) for f in result.final_fits],
        canonical_correlations=list(result.canonical_correlations),
        trainable_params=int(result.trainable_params),
        updates=int(result.updates),
    )


def _config_dict(config):
    out = asdict(config)
    out["module_sizes"] = list(out["module_sizes"])
    return out


def load_pretrained(design):
    """The shipped pre-trained network of ``design``.

    Returns
    -------
    params : dict of ndarray
        ``J`` (150, 150) and ``b`` (150,) are the pre-trained recurrent
        weights; the rest belong to the last primitive.
    metadata : dict
        See ``save_pretrained``.
    """
    path = pretrained_path(design)
    if not path.exists():
        shipped = [d for d in DESIGNS if pretrained_path(d).exists()]
        raise FileNotFoundError(
            f"no shipped weights for design {design!r} (shipped: {shipped}); "
            f"make them with: molap-np pretrain --design {design} --seed 0 "
            f"--out FILE, then load with molap_np.files.load_network(FILE)"
        )
    return load_network(path)


# ---------------------------------------------------------------------------
# Does pre-training help? Every design against the random control.

CONTROL = "no-pretraining"
SCORES = {
    "paper": "Paper accuracy",
    "strict": "Strict accuracy",
    "curve": "Paper accuracy averaged over the learning curve (learning speed)",
}


def _seed_rng(seed, *stream):
    """An independent generator per (seed, stream) so jobs can run apart."""
    return np.random.default_rng([seed, *stream])


def _base_network(condition, seed, pretrain_config):
    """Weights of a condition for one seed (task learning keeps J and b)."""
    config = pretrain_config or PretrainConfig()
    rng = np.random.default_rng(seed)
    if condition == CONTROL:
        return init_params(1, config.N, 1, rng, g=config.g), {"fits": [], "cc": []}
    result = pretrain(condition, rng, config, verbose=False)
    info = {
        "fits": [float(f) for f in result.fits],
        "cc": [float(c) for c in result.canonical_correlations],
        "seconds": result.seconds,
    }
    return result.params, info


def _learn_and_test(base, task, seed, task_config, test_trials):
    """Learn one task on frozen J, b; accuracies on a fresh test batch."""
    from .task_learning import learn_task
    from .tasks import make_batch

    index = TASK_NAMES.index(task)
    network, log = learn_task(
        base, task, _seed_rng(seed, 1, index), task_config, verbose=False
    )
    test = make_batch(task, test_trials, _seed_rng(seed, 2, index))
    scores = network.evaluate(test)
    scores["curve_steps"] = list(log.eval_steps)
    scores["curve_paper"] = [e["paper_accuracy"] for e in log.evals]
    scores["seconds"] = log.seconds
    return scores


def _run_jobs(function, jobs, workers, report=None):
    """``[function(*job) for job in jobs]``, in ``workers`` processes.

    ``report(index, result)`` is called as each job finishes, in order.
    """
    report = report or (lambda index, result: None)
    if workers <= 1:
        results = []
        for index, job in enumerate(jobs):
            results.append(function(*job))
            report(index, results[-1])
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(function, *job) for job in jobs]
        for index, future in enumerate(futures):
            report(index, future.result())
        return [future.result() for future in futures]


def compare_designs(
    designs=DESIGNS,
    seeds=(0, 1, 2),
    task_config=None,
    pretrain_config=None,
    tasks=TASK_NAMES,
    verbose=True,
    workers=1,
    test_trials=500,
):
    """Learn every task on each design's modules and on random ones.

    For each seed s, each design is pre-trained with
    ``numpy.random.default_rng(s)`` (as ``molap-np pretrain --seed s``) and
    the control gets the random J and b of ``rnn.init_params`` (g = 1.5).
    Task learning then uses the same generator for a given (seed, task) in
    every condition, so the conditions share their initial task weights,
    training batches and test batch of ``test_trials`` trials.

    Parameters
    ----------
    designs : sequence of str
        Designs to compare; the control is always added.
    seeds : sequence of int
    task_config : TaskLearningConfig, optional
        Budget of every task (``learn_task``'s default if omitted).
    pretrain_config : PretrainConfig, optional
    tasks : sequence of str
        Tasks to learn; pre-training always sees the whole corpus.
    verbose : bool
        One line per finished pre-training and per learned task.
    workers : int
        Processes to run the independent jobs in; results do not depend
        on it.
    test_trials : int

    Returns
    -------
    dict
        JSON-ready: ``settings``; ``conditions[name]`` with ``pretraining``
        (fits and canonical correlations per seed), ``tasks[task]`` (per
        seed, and mean and sample standard deviation over seeds, of
        ``paper`` and ``strict`` accuracy on the test batch and of
        ``curve``, the learning curve's mean; the curves themselves) and
        ``mean`` (the same for the average over tasks).
    """
    from .task_learning import TaskLearningConfig

    task_config = task_config or TaskLearningConfig()
    designs = tuple(check_design(d) for d in designs)
    tasks, seeds = _check_tasks(tasks), [int(s) for s in seeds]
    conditions = designs + (CONTROL,)
    start = time.perf_counter()

    pairs = [(c, s) for c in conditions for s in seeds]
    keys = [(c, s, t) for c, s in pairs for t in tasks]

    def report_base(index, result):
        if verbose:
            fits = np.round(result[1]["fits"], 3).tolist()
            condition, seed = pairs[index]
            print(f"{condition:<15}seed {seed}  module fits {fits}", flush=True)

    def report_task(index, score):
        if verbose:
            condition, seed, task = keys[index]
            print(
                f"{condition:<15}seed {seed}  {task:<14}"
                f"paper {score['paper_accuracy']:.3f}  "
                f"strict {score['strict_accuracy']:.3f}",
                flush=True,
            )

    base_jobs = [(c, s, pretrain_config) for c, s in pairs]
    bases = dict(zip(pairs, _run_jobs(_base_network, base_jobs, workers, report_base)))

    task_jobs = [(bases[c, s][0], t, s, task_config, test_trials) for c, s, t in keys]
    scores = dict(
        zip(keys, _run_jobs(_learn_and_test, task_jobs, workers, report_task))
    )

    results = {
        "settings": {
            "designs": list(designs),
            "seeds": seeds,
            "tasks": list(tasks),
            "test_trials": test_trials,
            "task_config": asdict(task_config),
            "pretrain_config": _config_dict(pretrain_config or PretrainConfig()),
        },
        "conditions": {},
    }
    for c in conditions:
        results["conditions"][c] = _summarise(c, seeds, tasks, bases, scores)
    results["seconds"] = time.perf_counter() - start
    return results


def _spread(values):
    values = np.asarray(values, dtype=float)
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def _summarise(condition, seeds, tasks, bases, scores):
    summary = {"pretraining": [bases[condition, s][1] for s in seeds], "tasks": {}}
    for t in tasks:
        per_seed = [scores[condition, s, t] for s in seeds]
        entry = {"steps": per_seed[0]["curve_steps"]}
        for key, name in (("paper_accuracy", "paper"), ("strict_accuracy", "strict")):
            values = [p[key] for p in per_seed]
            entry[name] = values
            entry[f"{name}_mean"], entry[f"{name}_std"] = _spread(values)
        entry["curves"] = [p["curve_paper"] for p in per_seed]
        # Mean of the learning curve: higher means learned sooner.
        entry["curve"] = [float(np.mean(c)) for c in entry["curves"]]
        entry["curve_mean"], entry["curve_std"] = _spread(entry["curve"])
        summary["tasks"][t] = entry
    mean = {}
    for name in SCORES:
        per_seed = np.mean([summary["tasks"][t][name] for t in tasks], axis=0)
        mean[name] = per_seed.tolist()
        mean[f"{name}_mean"], mean[f"{name}_std"] = _spread(per_seed)
    summary["mean"] = mean
    return summary


# ---------------------------------------------------------------------------
# Reports of the comparison


def comparison_table(results):
    """Markdown tables (paper, strict, curve means): tasks x conditions."""
    conditions = list(results["conditions"])
    tasks = results["settings"]["tasks"]
    seeds = len(results["settings"]["seeds"])
    lines = []
    for name, title in SCORES.items():
        lines += [f"{title}, mean ± std over {seeds} seeds:", ""]
        lines.append("| task | " + " | ".join(conditions) + " |")
        lines.append("|---|" + "---|" * len(conditions))
        for task in tasks + ["mean"]:
            cells = []
            for c in conditions:
                summary = results["conditions"][c]
                entry = summary["mean"] if task == "mean" else summary["tasks"][task]
                cells.append(
                    f"{entry[name + '_mean']:.3f} ± {entry[name + '_std']:.3f}"
                )
            label = "**mean**" if task == "mean" else task
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines + _difference_table(results))


def _difference_table(results):
    """Each design minus the control, paired by seed, mean over tasks."""
    control = results["conditions"][CONTROL]["mean"]
    seeds = len(results["settings"]["seeds"])
    lines = [
        f"Difference to {CONTROL} (same seeds, mean over tasks), "
        f"mean ± std over {seeds} seeds:",
        "",
        "| design | " + " | ".join(SCORES) + " |",
        "|---|" + "---|" * len(SCORES),
    ]
    for c, summary in results["conditions"].items():
        if c == CONTROL:
            continue
        cells = []
        for name in SCORES:
            diff = np.subtract(summary["mean"][name], control[name])
            mean, std = _spread(diff)
            cells.append(f"{mean:+.3f} ± {std:.3f}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines + [""]


def plot_comparison(results):
    """Bars of both accuracies per task and condition, with seed spread."""
    import matplotlib.pyplot as plt

    conditions = list(results["conditions"])
    tasks = results["settings"]["tasks"] + ["mean"]
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    width = 0.8 / len(conditions)
    x = np.arange(len(tasks))
    for ax, name in zip(axes, ("paper", "strict")):
        for i, c in enumerate(conditions):
            summary = results["conditions"][c]
            entries = [summary["tasks"][t] for t in tasks[:-1]] + [summary["mean"]]
            ax.bar(
                x + (i - (len(conditions) - 1) / 2) * width,
                [e[f"{name}_mean"] for e in entries],
                width,
                yerr=[e[f"{name}_std"] for e in entries],
                label=c,
                color=_condition_color(c, i),
                capsize=2,
            )
        ax.set_ylabel(f"{name} accuracy")
        ax.set_ylim(0, 1.05)
    axes[0].legend(
        ncol=len(conditions), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1)
    )
    axes[1].set_xticks(x, tasks, rotation=30, ha="right")
    steps = results["settings"]["task_config"]["steps"]
    seeds = len(results["settings"]["seeds"])
    fig.suptitle(
        f"Tasks learned on frozen modules, {steps} steps each "
        f"(mean and std over {seeds} seeds)"
    )
    fig.tight_layout()
    return fig


def _condition_color(condition, index):
    """The study's colours for MoLaP (cca) and the control, others cycled."""
    from .plotting import STRATEGY_COLORS

    if condition == "cca":
        return STRATEGY_COLORS["molap"]
    if condition == CONTROL:
        return STRATEGY_COLORS["no_pretraining"]
    return ("#e6ab02", "#a6761d", "#666666", "#1f78b4")[index % 4]


# ---------------------------------------------------------------------------
# Commands


def _cmd_pretrain(args):
    config = PretrainConfig()
    if args.steps is not None:
        config.steps = args.steps
    result = pretrain(
        args.design, np.random.default_rng(args.seed), config, verbose=not args.quiet
    )
    out = args.out or f"pretrained_{args.design}.npz"
    save_pretrained(result, out, args.seed)
    fits = ", ".join(f"{f:.4f}" for f in result.fits)
    print(f"{args.design}: fits (R^2) {fits}; {result.seconds:.0f} s; wrote {out}")


def _cmd_compare(args):
    import matplotlib

    matplotlib.use("Agg")
    from .files import atomic_write, write_json
    from .task_learning import TaskLearningConfig

    task_config = TaskLearningConfig(
        steps=args.steps, lr=args.lr, input_scale=args.input_scale
    )
    pretrain_config = PretrainConfig()
    if args.pretrain_steps is not None:
        pretrain_config.steps = args.pretrain_steps
    results = compare_designs(
        args.designs,
        range(args.seeds),
        task_config,
        pretrain_config,
        args.tasks,
        verbose=not args.quiet,
        workers=args.workers,
    )
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, "compare_primitives")
    write_json(base + ".json", results)
    table = comparison_table(results)
    atomic_write(base + ".md", lambda f: f.write(table.encode()))
    figure = plot_comparison(results)
    atomic_write(base + ".png", lambda f: figure.savefig(f, format="png", dpi=120))
    print(table)
    print(f"wrote {base}.json, .md, .png in {results['seconds']:.0f} s")


def add_command(subparsers):
    """Add ``molap-np pretrain`` and ``molap-np compare-primitives``."""
    sub = subparsers.add_parser(
        "pretrain", help="pre-train the modules on a primitive design"
    )
    sub.add_argument("--design", required=True, choices=DESIGNS)
    sub.add_argument("--seed", type=int, default=0, help="seed of everything")
    sub.add_argument("--out", help="network file (default pretrained_DESIGN.npz)")
    sub.add_argument("--steps", type=int, help="steps per module (default: config)")
    sub.add_argument("--quiet", action="store_true", help="no progress lines")
    sub.set_defaults(func=_cmd_pretrain)

    sub = subparsers.add_parser(
        "compare-primitives",
        help="learn the tasks on each design's modules and on random ones",
    )
    sub.add_argument("--seeds", type=int, default=3, help="seeds 0 .. n-1")
    sub.add_argument("--steps", type=int, default=500, help="steps per task")
    sub.add_argument(
        "--lr", type=float, default=1e-2, help="task learning rate (default 1e-2)"
    )
    sub.add_argument(
        "--input-scale",
        type=float,
        default=1.0,
        help="std of fresh input weights relative to MOLAP.md's (default 1)",
    )
    sub.add_argument("--pretrain-steps", type=int, help="steps per module")
    sub.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=DESIGNS)
    sub.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    sub.add_argument("--workers", type=int, default=2, help="processes")
    sub.add_argument("--out", default="molap_results/primitives", help="folder")
    sub.add_argument("--quiet", action="store_true", help="no progress lines")
    sub.set_defaults(func=_cmd_compare)
