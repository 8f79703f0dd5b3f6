"""The nine-task corpus of MoLaP.

The tasks are the simplified set of Duncker et al. (2020), itself adapted from
Yang et al. (2019). Every trial lasts ``T = 110`` steps of ``dt = 10`` ms:

    steps   0 ..   9   blank: every input and target is exactly zero
    steps  10 ..  84   fixation input on (channel 0); the network must hold it
    steps  35 ..       stimulus (see each task below)
    steps  85 .. 109   go cue (fixation off) and response

A direction theta is coded by two scalars (cos theta, sin theta) and drawn from
36 angles on a 10 degree grid. There are no rule inputs: a task is told apart
by its own input and output weights.

Array layout, used everywhere in the package (time-major, float64)::

    inputs   (T, B, n_in)     channel 0 is fixation
    targets  (T, B, n_out)    channel 0 is fixation

Random epoch lengths (``timing="random"``) move the stimulus onset, the pulse
times and the go cue per trial while keeping ``T = 110``.
"""

from dataclasses import dataclass, field

import numpy as np

T = 110
N_BLANK = 10
FIX_ON, GO = 10, 85
STIM_ON = 35
PULSE_LEN = 10
PULSE2_ON = 65
N_ANGLES = 36
INPUT_NOISE = 0.02

TASK_NAMES = (
    "DelayPro",
    "DelayAnti",
    "MemoryPro",
    "MemoryAnti",
    "MemoryDm1",
    "MemoryDm2",
    "ContextMemDm1",
    "ContextMemDm2",
    "MultiMem",
)
DIRECTION_TASKS = TASK_NAMES[:4]
VALUE_TASKS = TASK_NAMES[4:]

# (n_in, n_out) per task: fixation plus the stimulus or answer channels.
TASK_SIZES = {
    "DelayPro": (3, 3),
    "DelayAnti": (3, 3),
    "MemoryPro": (3, 3),
    "MemoryAnti": (3, 3),
    "MemoryDm1": (2, 2),
    "MemoryDm2": (2, 2),
    "ContextMemDm1": (3, 2),
    "ContextMemDm2": (3, 2),
    "MultiMem": (3, 2),
}
TIMINGS = ("fixed", "random")


@dataclass
class TaskBatch:
    """One batch of trials of one task.

    Attributes
    ----------
    task : str
        One of ``TASK_NAMES``.
    inputs : ndarray, shape (T, B, n_in)
        Fixation on channel 0, then the stimulus channels.
    targets : ndarray, shape (T, B, n_out)
        Fixation on channel 0, then the answer channels. Never noisy.
    params : dict of ndarray, each shape (B,)
        The latent variables of each trial in radians: ``theta`` for the
        direction tasks, ``theta1`` and ``theta2`` for the others.
    epochs : dict of ndarray, each shape (B,)
        First step of each epoch per trial: ``fix_on``, ``stim_on``,
        ``stim_off`` (first step without stimulus; ``T`` if it stays on),
        ``pulse1_on``, ``pulse2_on`` (value tasks) and ``go``.
    """

    task: str
    inputs: np.ndarray
    targets: np.ndarray
    params: dict = field(default_factory=dict)
    epochs: dict = field(default_factory=dict)

    @property
    def batch_size(self):
        return self.inputs.shape[1]


def check_task(task):
    """Return ``task`` if it is a known task name, else raise ValueError."""
    if task not in TASK_NAMES:
        raise ValueError(
            f"unknown task {task!r}; valid tasks are: {', '.join(TASK_NAMES)}"
        )
    return task


def _check_batch_args(batch_size, rng, timing):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    if timing not in TIMINGS:
        raise ValueError(f"unknown timing {timing!r}; valid: {', '.join(TIMINGS)}")


def _draw_angles(batch_size, rng):
    """Two angles per trial on the 10 degree grid, shape (B,) each."""
    step = 2 * np.pi / N_ANGLES
    theta1 = rng.integers(N_ANGLES, size=batch_size) * step
    theta2 = rng.integers(N_ANGLES, size=batch_size) * step
    return theta1, theta2


def _draw_epochs(batch_size, rng, timing):
    """Epoch onsets per trial, each an int array of shape (B,)."""
    full = np.full(batch_size, 0, dtype=int)
    if timing == "fixed":
        stim_on = full + STIM_ON
        pulse2_on = full + PULSE2_ON
        go = full + GO
    else:
        # Onsets jitter around the fixed design; the response keeps at least
        # 20 steps so that the last-30-step accuracy window sees it.
        stim_on = rng.integers(20, 41, size=batch_size)
        pulse2_on = stim_on + PULSE_LEN + rng.integers(10, 31, size=batch_size)
        go = pulse2_on + PULSE_LEN + rng.integers(5, 16, size=batch_size)
        go = np.minimum(go, T - 20)
    return {
        "fix_on": full + FIX_ON,
        "stim_on": stim_on,
        "pulse1_on": stim_on,
        "pulse2_on": pulse2_on,
        "go": go,
    }


def _window(epochs_start, epochs_stop):
    """Boolean mask (T, B) that is True on steps start <= t < stop."""
    steps = np.arange(T)[:, None]
    return (steps >= epochs_start[None, :]) & (steps < epochs_stop[None, :])


def _build(task, theta1, theta2, epochs, noise_rng):
    """Inputs and targets of ``task`` for given angles and epochs."""
    B = theta1.shape[0]
    n_in, n_out = TASK_SIZES[task]
    inputs = np.zeros((T, B, n_in))
    targets = np.zeros((T, B, n_out))
    fixation = _window(epochs["fix_on"], epochs["go"]).astype(float)
    response = _window(epochs["go"], np.full(B, T)).astype(float)
    inputs[:, :, 0] = fixation
    targets[:, :, 0] = fixation
    epochs = dict(epochs)

    if task in DIRECTION_TASKS:
        stim_off = epochs["go"] if task.startswith("Memory") else np.full(B, T)
        stimulus = _window(epochs["stim_on"], stim_off).astype(float)
        answer = theta1 + np.pi if task.endswith("Anti") else theta1
        inputs[:, :, 1] = stimulus * np.cos(theta1)
        inputs[:, :, 2] = stimulus * np.sin(theta1)
        targets[:, :, 1] = response * np.cos(answer)
        targets[:, :, 2] = response * np.sin(answer)
        epochs["stim_off"] = stim_off
        del epochs["pulse1_on"], epochs["pulse2_on"]
    else:
        pulse1 = _window(epochs["pulse1_on"], epochs["pulse1_on"] + PULSE_LEN)
        pulse2 = _window(epochs["pulse2_on"], epochs["pulse2_on"] + PULSE_LEN)
        pulse1, pulse2 = pulse1.astype(float), pulse2.astype(float)
        cos_pulses = pulse1 * np.cos(theta1) + pulse2 * np.cos(theta2)
        sin_pulses = pulse1 * np.sin(theta1) + pulse2 * np.sin(theta2)
        if task == "MemoryDm1":
            inputs[:, :, 1] = cos_pulses
        elif task == "MemoryDm2":
            inputs[:, :, 1] = sin_pulses
        else:
            inputs[:, :, 1] = cos_pulses
            inputs[:, :, 2] = sin_pulses
        if task.endswith("Dm1"):
            value = np.maximum(np.cos(theta1), np.cos(theta2))
        elif task.endswith("Dm2"):
            value = np.maximum(np.sin(theta1), np.sin(theta2))
        else:
            value = np.maximum(
                np.cos(theta1) + np.sin(theta1), np.cos(theta2) + np.sin(theta2)
            )
        targets[:, :, 1] = response * value
        epochs["stim_off"] = epochs["pulse2_on"] + PULSE_LEN

    if noise_rng is not None:
        # Noise starts with the trial proper: the blank steps stay exactly 0.
        noise = noise_rng.normal(0.0, INPUT_NOISE, size=(T - N_BLANK, B, n_in))
        inputs[N_BLANK:] += noise
    if task in DIRECTION_TASKS:
        params = {"theta": theta1.copy()}
    else:
        params = {"theta1": theta1.copy(), "theta2": theta2.copy()}
    return TaskBatch(task, inputs, targets, params, epochs)


def make_batch(task, batch_size, rng, noise=True, timing="fixed"):
    """Draw a batch of trials of one task.

    Parameters
    ----------
    task : str
        One of ``TASK_NAMES``.
    batch_size : int
        Number of trials B, at least 1.
    rng : numpy.random.Generator
        Source of the angles, the epoch lengths and the noise.
    noise : bool
        Add Gaussian noise (standard deviation 0.02) to every input channel on
        steps 10 .. 109.
    timing : {"fixed", "random"}
        Fixed epochs as in the paper, or onsets drawn per trial.

    Returns
    -------
    TaskBatch
        ``inputs`` (T, B, n_in) and ``targets`` (T, B, n_out), float64.
        ``params["theta"]`` is the stimulus direction (an Anti task's answer
        is ``theta + pi``).

    Notes
    -----
    The noise is drawn last, so two generators in the same state give the
    same trials with ``noise=True`` and ``noise=False``, the second without
    the noise.
    """
    check_task(task)
    _check_batch_args(batch_size, rng, timing)
    theta1, theta2 = _draw_angles(batch_size, rng)
    epochs = _draw_epochs(batch_size, rng, timing)
    return _build(task, theta1, theta2, epochs, rng if noise else None)


@dataclass
class CorpusBatch:
    """The same B trials of several tasks, for the corpus statistics.

    Trial i of every task shares its angles ``theta1[i]`` and ``theta2[i]``
    and its epoch onsets; the input noise of each task is independent.

    Attributes
    ----------
    batches : dict of str to TaskBatch
        One batch per task, in corpus order.
    """

    batches: dict

    @property
    def tasks(self):
        return tuple(self.batches)

    @property
    def inputs(self):
        """All tasks' inputs side by side, shape (T, B, sum of n_in)."""
        return np.concatenate([b.inputs for b in self.batches.values()], axis=2)

    @property
    def targets(self):
        """All tasks' targets side by side, shape (T, B, sum of n_out)."""
        return np.concatenate([b.targets for b in self.batches.values()], axis=2)


def make_corpus_batch(batch_size, rng, tasks=TASK_NAMES, noise=True, timing="fixed"):
    """Draw a batch of every task in ``tasks`` with shared angles per trial.

    The generator's stream is used the same way whichever tasks are asked
    for: each of the nine tasks owns a noise seed drawn up front, so leaving
    a task out changes nothing in the others.

    Returns
    -------
    CorpusBatch
        ``inputs`` (T, B, 25) and ``targets`` (T, B, 22) for all nine tasks.
    """
    if isinstance(tasks, str):
        raise TypeError(
            f"tasks must be a sequence of task names, got the string {tasks!r}; "
            f"write tasks=({tasks!r},) for one task"
        )
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError("tasks must name at least one task")
    for task in tasks:
        check_task(task)
    _check_batch_args(batch_size, rng, timing)
    theta1, theta2 = _draw_angles(batch_size, rng)
    epochs = _draw_epochs(batch_size, rng, timing)
    noise_seeds = rng.integers(2**63, size=len(TASK_NAMES))
    batches = {}
    for task in TASK_NAMES:
        if task not in tasks:
            continue
        noise_rng = None
        if noise:
            noise_rng = np.random.default_rng(noise_seeds[TASK_NAMES.index(task)])
        batches[task] = _build(task, theta1, theta2, epochs, noise_rng)
    return CorpusBatch(batches)
