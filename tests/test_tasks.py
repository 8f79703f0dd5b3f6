"""The task corpus against MOLAP.md section 1.

Every rule is checked by decoding the generated inputs independently (the
angle by atan2 of the stimulus channels, the pulses by their values) and
comparing with the targets. The timeline constants below are restated from
MOLAP.md, not imported from the package, so that a drift of the generator
away from the specification fails here.
"""

import numpy as np
import pytest

from molap_np.tasks import TASK_NAMES, make_batch, make_corpus_batch

T = 110
BLANK = 10
FIX_ON, GO = 10, 85
STIM_ON = 35
PULSES = ((35, 45), (65, 75))
NOISE_STD = 0.02
GRID = 2 * np.pi / 36
SIZES = {
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
DIRECTION = ("DelayPro", "DelayAnti", "MemoryPro", "MemoryAnti")
VALUE = ("MemoryDm1", "MemoryDm2", "ContextMemDm1", "ContextMemDm2", "MultiMem")
TWO_CHANNEL_VALUE = ("ContextMemDm1", "ContextMemDm2", "MultiMem")
SEEDS = range(5)
TIMINGS = ("fixed", "random")


def angle_gap(a, b):
    """Absolute angle difference wrapped to [0, pi]."""
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def snap(angle):
    """Nearest angle of the 10 degree grid, in [0, 2 pi)."""
    return np.mod(np.round(np.asarray(angle) / GRID), 36) * GRID


def runs(mask):
    """Start and stop of each run of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def response_steps(batch, trial):
    """Steps where the fixation target is off after the blank: the response."""
    fixation = batch.targets[:, trial, 0]
    steps = np.flatnonzero((fixation == 0) & (np.arange(T) >= BLANK))
    return steps[steps > np.flatnonzero(fixation == 1).max()]


def decode_direction(batch, trial):
    """Stimulus angle and its steps, read from the input channels alone."""
    stimulus = batch.inputs[:, trial, 1:3]
    on = np.hypot(stimulus[:, 0], stimulus[:, 1]) > 0.5
    cos, sin = stimulus[on].mean(axis=0)
    return np.arctan2(sin, cos), on


def decode_answer_angle(batch, trial):
    """Angle of the direction target on the response steps."""
    answer = batch.targets[response_steps(batch, trial), trial, 1:3]
    assert np.allclose(answer, answer[0]), "the answer changes over time"
    assert np.isclose(np.hypot(*answer[0]), 1.0)
    return np.arctan2(answer[0, 1], answer[0, 0])


def pulse_windows(batch, trial):
    """The two pulse windows: MOLAP.md's steps, or the drawn onsets."""
    if batch.epochs["go"].min() == batch.epochs["go"].max() == GO:
        return PULSES
    ons = batch.epochs["pulse1_on"][trial], batch.epochs["pulse2_on"][trial]
    return tuple((on, on + 10) for on in ons)


def decode_pulses(batch, trial):
    """Mean of each input channel over each pulse, shape (2, n_in - 1)."""
    windows = pulse_windows(batch, trial)
    return np.array([batch.inputs[a:z, trial, 1:].mean(axis=0) for a, z in windows])


def value_target(batch, trial):
    """The value the target holds on the response steps."""
    value = batch.targets[response_steps(batch, trial), trial, 1]
    assert np.allclose(value, value[0]), "the answer changes over time"
    return value[0]


# --- the rules, decoded from the inputs ------------------------------------


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", DIRECTION)
def test_direction_answer_follows_the_stimulus_angle(task, timing):
    for seed in SEEDS:
        batch = make_batch(task, 64, np.random.default_rng(seed), timing=timing)
        for trial in range(64):
            seen, _ = decode_direction(batch, trial)
            shift = np.pi if task.endswith("Anti") else 0.0
            answer = decode_answer_angle(batch, trial)
            assert angle_gap(snap(seen) + shift, answer) < 1e-9
            assert angle_gap(seen, batch.params["theta"][trial]) < 0.05
            assert angle_gap(snap(seen), batch.params["theta"][trial]) < 1e-9


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", DIRECTION)
def test_direction_stimulus_epoch(task, timing):
    """Delay stimuli stay on to the end; Memory stimuli end at the go cue."""
    for seed in SEEDS:
        batch = make_batch(task, 64, np.random.default_rng(seed), timing=timing)
        for trial in range(64):
            _, on = decode_direction(batch, trial)
            [(start, stop)] = runs(on)
            go = response_steps(batch, trial)[0]
            assert stop == (go if task.startswith("Memory") else T)
            if timing == "fixed":
                assert (start, go) == (STIM_ON, GO)


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", TWO_CHANNEL_VALUE)
def test_two_channel_value_target_is_larger_pulse(task, timing):
    """Both angles decode from (cos, sin) pulses; the target follows the rule."""
    for seed in SEEDS:
        batch = make_batch(task, 64, np.random.default_rng(seed), timing=timing)
        for trial in range(64):
            stimulus = batch.inputs[:, trial, 1:3]
            on = np.hypot(stimulus[:, 0], stimulus[:, 1]) > 0.5
            found = runs(on)
            assert [(a, z - a) for a, z in found] == [
                (a, 10) for a, _ in pulse_windows(batch, trial)
            ]
            means = np.array([stimulus[a:z].mean(axis=0) for a, z in found])
            angles = snap(np.arctan2(means[:, 1], means[:, 0]))
            cos, sin = np.cos(angles), np.sin(angles)
            rule = {"ContextMemDm1": cos, "ContextMemDm2": sin, "MultiMem": cos + sin}
            assert np.isclose(value_target(batch, trial), rule[task].max())
            params = batch.params["theta1"][trial], batch.params["theta2"][trial]
            assert np.all(angle_gap(angles, params) < 1e-9)


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", ("MemoryDm1", "MemoryDm2"))
def test_one_channel_value_target_is_larger_pulse(task, timing):
    # The pulse mean carries the noise of 10 steps: std 0.02 / sqrt(10).
    tol = 6 * NOISE_STD / np.sqrt(10)
    for seed in SEEDS:
        batch = make_batch(task, 64, np.random.default_rng(seed), timing=timing)
        for trial in range(64):
            pulses = decode_pulses(batch, trial)[:, 0]
            assert abs(value_target(batch, trial) - pulses.max()) < tol
            trig = np.cos if task == "MemoryDm1" else np.sin
            params = batch.params["theta1"][trial], batch.params["theta2"][trial]
            assert np.allclose(pulses, trig(params), atol=tol)


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", VALUE)
def test_value_stimulus_only_in_the_pulses(task, timing):
    batch = make_batch(task, 64, np.random.default_rng(3), noise=False, timing=timing)
    for trial in range(64):
        quiet = np.ones(T, dtype=bool)
        for a, z in pulse_windows(batch, trial):
            quiet[a:z] = False
        assert np.all(batch.inputs[quiet, trial, 1:] == 0)


# --- the timeline ------------------------------------------------------------


@pytest.mark.parametrize("task", TASK_NAMES)
def test_fixation_on_exactly_on_steps_10_to_84(task):
    batch = make_batch(task, 32, np.random.default_rng(0), noise=False)
    expected = np.zeros(T)
    expected[FIX_ON:GO] = 1.0
    assert np.array_equal(batch.inputs[:, :, 0], np.tile(expected[:, None], 32))
    assert np.array_equal(batch.targets[:, :, 0], batch.inputs[:, :, 0])


@pytest.mark.parametrize("task", TASK_NAMES)
def test_fixation_target_is_noiseless(task):
    noisy = make_batch(task, 32, np.random.default_rng(0))
    clean = make_batch(task, 32, np.random.default_rng(0), noise=False)
    assert np.array_equal(noisy.targets, clean.targets)
    assert not np.array_equal(noisy.inputs[:, :, 0], clean.inputs[:, :, 0])


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_response_channels_hold_the_answer_from_go(task, timing):
    batch = make_batch(task, 32, np.random.default_rng(1), timing=timing)
    for trial in range(32):
        go = batch.epochs["go"][trial]
        answer = batch.targets[:, trial, 1:]
        assert np.all(answer[:go] == 0)
        assert np.all(answer[go:] == answer[-1])
        assert np.all(batch.targets[go:, trial, 0] == 0)


@pytest.mark.parametrize("task", ("MemoryPro", "MemoryAnti") + VALUE)
def test_memory_stimuli_are_off_at_the_response(task):
    clean = make_batch(task, 64, np.random.default_rng(2), noise=False)
    assert np.all(clean.inputs[GO:, :, 1:] == 0)
    noisy = make_batch(task, 64, np.random.default_rng(2))
    assert np.abs(noisy.inputs[GO:, :, 1:]).max() < 6 * NOISE_STD


@pytest.mark.parametrize("task", ("DelayPro", "DelayAnti"))
def test_delay_stimuli_stay_on_at_the_response(task):
    batch = make_batch(task, 64, np.random.default_rng(2), noise=False)
    amplitude = np.hypot(batch.inputs[:, :, 1], batch.inputs[:, :, 2])
    assert np.allclose(amplitude[STIM_ON:], 1.0)
    assert np.all(amplitude[:STIM_ON] == 0)


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_blank_steps_are_exactly_zero_with_noise(task, timing):
    batch = make_batch(task, 64, np.random.default_rng(4), timing=timing)
    assert np.all(batch.inputs[:BLANK] == 0)
    assert np.all(batch.targets[:BLANK] == 0)
    # ...and the noise does start right after them.
    assert np.all(batch.inputs[BLANK] != 0)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_shapes_and_dtype(task):
    batch = make_batch(task, 5, np.random.default_rng(0))
    n_in, n_out = SIZES[task]
    assert batch.inputs.shape == (T, 5, n_in)
    assert batch.targets.shape == (T, 5, n_out)
    assert batch.inputs.dtype == batch.targets.dtype == np.float64
    assert batch.batch_size == 5
    names = {"theta"} if task in DIRECTION else {"theta1", "theta2"}
    assert set(batch.params) == names
    for values in batch.params.values():
        assert values.shape == (5,)
        on_grid = np.isclose(values / GRID, np.round(values / GRID))
        assert np.all(on_grid & (values >= 0) & (values < 2 * np.pi))


def test_all_36_angles_occur():
    batch = make_batch("DelayPro", 2000, np.random.default_rng(0))
    assert np.unique(np.round(batch.params["theta"] / GRID)).size == 36


# --- noise --------------------------------------------------------------------


@pytest.mark.parametrize("task", ("DelayPro", "MemoryDm1", "MultiMem"))
def test_noise_is_gaussian_with_std_002(task):
    """Residuals pooled over steps 10..109; tolerance 5 standard errors."""
    noisy = make_batch(task, 200, np.random.default_rng(5))
    clean = make_batch(task, 200, np.random.default_rng(5), noise=False)
    noise = (noisy.inputs - clean.inputs)[BLANK:]  # (100, B, n_in)
    for channel in range(noise.shape[2]):
        sample = noise[:, :, channel].ravel()
        n = sample.size
        # Standard errors of the mean and of the standard deviation.
        assert abs(sample.mean()) < 5 * NOISE_STD / np.sqrt(n)
        assert abs(sample.std() / NOISE_STD - 1) < 5 / np.sqrt(2 * n)
        inside = np.mean(np.abs(sample) < NOISE_STD)
        assert abs(inside - 0.6827) < 5 * np.sqrt(0.6827 * 0.3173 / n)
    # Channels and steps are independent draws.
    flat = noise.reshape(-1, noise.shape[2])
    corr = np.corrcoef(flat.T)[np.triu_indices(noise.shape[2], 1)]
    assert np.all(np.abs(corr) < 5 / np.sqrt(flat.shape[0]))
    lag = np.corrcoef(noise[1:, :, 0].ravel(), noise[:-1, :, 0].ravel())[0, 1]
    assert abs(lag) < 5 / np.sqrt(flat.shape[0])


@pytest.mark.parametrize("task", TASK_NAMES)
def test_no_noise_means_exact_values(task):
    batch = make_batch(task, 64, np.random.default_rng(6), noise=False)
    assert set(np.unique(batch.inputs[:, :, 0])) == {0.0, 1.0}
    # Without noise a stimulus channel takes at most three values in a trial:
    # 0 and one value per pulse (or the one stimulus value).
    for trial in range(64):
        for channel in range(1, batch.inputs.shape[2]):
            assert np.unique(batch.inputs[:, trial, channel]).size <= 3


# --- seeds --------------------------------------------------------------------


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_same_seed_same_batch(task, timing):
    first = make_batch(task, 16, np.random.default_rng(7), timing=timing)
    again = make_batch(task, 16, np.random.default_rng(7), timing=timing)
    assert np.array_equal(first.inputs, again.inputs)
    assert np.array_equal(first.targets, again.targets)
    for key in first.params:
        assert np.array_equal(first.params[key], again.params[key])
    for key in first.epochs:
        assert np.array_equal(first.epochs[key], again.epochs[key])


@pytest.mark.parametrize("task", TASK_NAMES)
def test_different_seeds_differ(task):
    first = make_batch(task, 16, np.random.default_rng(7))
    other = make_batch(task, 16, np.random.default_rng(8))
    assert not np.array_equal(first.inputs, other.inputs)
    assert not np.array_equal(first.targets, other.targets)


# --- random timing ------------------------------------------------------------


@pytest.mark.parametrize("task", TASK_NAMES)
def test_random_timing_varies_per_trial(task):
    batch = make_batch(task, 64, np.random.default_rng(9), timing="random")
    for name in ("stim_on", "go"):
        assert np.unique(batch.epochs[name]).size > 5
    fixed = make_batch(task, 64, np.random.default_rng(9))
    assert np.unique(fixed.epochs["go"]).tolist() == [GO]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_random_timing_keeps_the_trial_structure(task):
    batch = make_batch(task, 256, np.random.default_rng(10), timing="random")
    steps = np.arange(T)[:, None]
    go = batch.epochs["go"]
    fixation = ((steps >= FIX_ON) & (steps < go)).astype(float)
    assert np.array_equal(batch.targets[:, :, 0], fixation)
    # The stimulus begins after fixation and ends by the go cue (or stays
    # on, Delay tasks); the response lasts at least 20 of the last 30 steps.
    assert np.all(batch.epochs["stim_on"] > FIX_ON)
    assert np.all(T - go >= 20)
    stim_off = batch.epochs["stim_off"]
    if task.startswith("Delay"):
        assert np.all(stim_off == T)
    elif task in DIRECTION:
        assert np.array_equal(stim_off, go)
    else:
        pulse1, pulse2 = batch.epochs["pulse1_on"], batch.epochs["pulse2_on"]
        assert np.all(pulse2 >= pulse1 + 10)
        assert np.array_equal(stim_off, pulse2 + 10)
        assert np.all(stim_off <= go)


# --- the corpus batch ---------------------------------------------------------


def test_corpus_shapes_and_order():
    corpus = make_corpus_batch(8, np.random.default_rng(0))
    assert corpus.tasks == TASK_NAMES
    assert corpus.inputs.shape == (T, 8, 25)
    assert corpus.targets.shape == (T, 8, 22)
    reverse = make_corpus_batch(8, np.random.default_rng(0), tasks=TASK_NAMES[::-1])
    assert reverse.tasks == TASK_NAMES


@pytest.mark.parametrize("timing", TIMINGS)
def test_corpus_trials_share_angles_and_epochs(timing):
    corpus = make_corpus_batch(64, np.random.default_rng(1), timing=timing)
    batches = corpus.batches
    theta1 = batches["MemoryDm1"].params["theta1"]
    theta2 = batches["MemoryDm1"].params["theta2"]
    for task in TASK_NAMES:
        params = batches[task].params
        assert np.array_equal(params.get("theta", params.get("theta1")), theta1)
        if task in VALUE:
            assert np.array_equal(params["theta2"], theta2)
        assert np.array_equal(
            batches[task].epochs["go"], batches["DelayPro"].epochs["go"]
        )
    # Independently: the angle seen by DelayPro is ContextMemDm1's first pulse.
    for trial in range(64):
        seen, _ = decode_direction(batches["DelayPro"], trial)
        stimulus = batches["ContextMemDm1"].inputs[:, trial, 1:3]
        first = runs(np.hypot(*stimulus.T) > 0.5)[0]
        pulse = stimulus[first[0] : first[1]].mean(axis=0)
        assert angle_gap(snap(seen), snap(np.arctan2(pulse[1], pulse[0]))) < 1e-9


def test_corpus_noise_is_independent_across_tasks():
    corpus = make_corpus_batch(64, np.random.default_rng(2))
    clean = make_corpus_batch(64, np.random.default_rng(2), noise=False)
    noise = (corpus.inputs - clean.inputs)[BLANK:]
    corr = np.corrcoef(noise[:, :, 0].ravel(), noise[:, :, 3].ravel())[0, 1]
    assert abs(corr) < 5 / np.sqrt(noise[:, :, 0].size)


@pytest.mark.parametrize("left_out", TASK_NAMES)
def test_leaving_a_task_out_changes_no_other_task(left_out):
    full = make_corpus_batch(16, np.random.default_rng(3)).batches
    rest = tuple(t for t in TASK_NAMES if t != left_out)
    part = make_corpus_batch(16, np.random.default_rng(3), tasks=rest).batches
    assert tuple(part) == rest
    for task in rest:
        assert np.array_equal(part[task].inputs, full[task].inputs)
        assert np.array_equal(part[task].targets, full[task].targets)


def test_corpus_blank_steps_are_zero():
    corpus = make_corpus_batch(16, np.random.default_rng(4), timing="random")
    assert np.all(corpus.inputs[:BLANK] == 0)
    assert np.all(corpus.targets[:BLANK] == 0)


# --- bad input ------------------------------------------------------------------


def test_unknown_task_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown task 'MemoryPr'") as err:
        make_batch("MemoryPr", 4, np.random.default_rng(0))
    for task in TASK_NAMES:
        assert task in str(err.value)
    with pytest.raises(ValueError, match="valid tasks are"):
        make_corpus_batch(4, np.random.default_rng(0), tasks=("DelayPro", "Nope"))


@pytest.mark.parametrize("size", (0, -3))
def test_batch_size_below_one(size):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        make_batch("DelayPro", size, np.random.default_rng(0))


@pytest.mark.parametrize("size", (2.0, "8", True))
def test_batch_size_not_an_int(size):
    with pytest.raises(TypeError, match="batch_size must be an int"):
        make_batch("DelayPro", size, np.random.default_rng(0))


@pytest.mark.parametrize("rng", (0, np.random.RandomState(0), None))
def test_rng_must_be_a_generator(rng):
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        make_batch("DelayPro", 4, rng)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        make_corpus_batch(4, rng)


def test_unknown_timing():
    with pytest.raises(ValueError, match="valid: fixed, random"):
        make_batch("DelayPro", 4, np.random.default_rng(0), timing="jitter")


def test_corpus_task_list_errors():
    with pytest.raises(ValueError, match="at least one task"):
        make_corpus_batch(4, np.random.default_rng(0), tasks=())
    with pytest.raises(TypeError, match="sequence of task names"):
        make_corpus_batch(4, np.random.default_rng(0), tasks="DelayPro")
