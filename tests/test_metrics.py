"""The two accuracy criteria against MOLAP.md section 6.

The expected scores are computed here from the task rules and the trial
angles (the oracle), not from the package's own window averages.
"""

import numpy as np
import pytest

from molap_np.metrics import (
    evaluate,
    paper_accuracy,
    paper_correct,
    strict_accuracy,
    strict_correct,
)
from molap_np.tasks import TASK_NAMES, make_batch, make_corpus_batch

DIRECTION = ("DelayPro", "DelayAnti", "MemoryPro", "MemoryAnti")
VALUE = ("MemoryDm1", "MemoryDm2", "ContextMemDm1", "ContextMemDm2", "MultiMem")
GRID = np.arange(36) * 2 * np.pi / 36
GO = 85
# With fixed timing the last 30 steps (80..109) hold 5 fixation steps and 25
# response steps, so the target means are 5/30 and 25/30 of the answer.
FIX_SHARE, RESPONSE_SHARE = 5 / 30, 25 / 30
FIX_TOL, RESPONSE_TOL = 0.15, 0.10


def answers(task, theta1, theta2=None):
    """The answer channels of MOLAP.md's table, shape (..., n_answers)."""
    if task in DIRECTION:
        angle = theta1 + (np.pi if task.endswith("Anti") else 0.0)
        return np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    rule = {
        "MemoryDm1": np.cos,
        "ContextMemDm1": np.cos,
        "MemoryDm2": np.sin,
        "ContextMemDm2": np.sin,
        "MultiMem": lambda a: np.cos(a) + np.sin(a),
    }[task]
    return np.maximum(rule(theta1), rule(theta2))[..., None]


def batch_answers(batch):
    params = batch.params
    if batch.task in DIRECTION:
        return answers(batch.task, params["theta"])
    return answers(batch.task, params["theta1"], params["theta2"])


def unit(values, task):
    """MOLAP.md's map to [0, 1] of the answer channels."""
    if task == "MultiMem":
        return (values + np.sqrt(2)) / (2 * np.sqrt(2))
    return (values + 1) / 2


def scale(task):
    """Raw output shift per unit of the [0, 1] scale, answer channels."""
    return 2 * np.sqrt(2) if task == "MultiMem" else 2.0


def target_units(batch):
    """m(target) per trial and channel, shape (B, n_out), from the rules."""
    answer = unit(RESPONSE_SHARE * batch_answers(batch), batch.task)
    fixation = np.full((batch.batch_size, 1), (1 + FIX_SHARE) / 2)
    return np.concatenate([fixation, answer], axis=1)


def silent_channel_ok(task, theta1, theta2=None, band="relative"):
    """Per trial and channel: does output 0 pass the paper criterion?"""
    target = unit(RESPONSE_SHARE * answers(task, theta1, theta2), task)
    silent = unit(0.0, task)
    fixation_target = (1 + FIX_SHARE) / 2
    if band == "relative":
        answer_ok = np.abs(silent - target) <= RESPONSE_TOL * target
        fixation_ok = abs(0.5 - fixation_target) <= FIX_TOL * fixation_target
    else:
        answer_ok = np.abs(silent - target) <= RESPONSE_TOL
        fixation_ok = abs(0.5 - fixation_target) <= FIX_TOL
    fixation = np.full(answer_ok.shape[:-1] + (1,), fixation_ok)
    return np.concatenate([fixation, answer_ok], axis=-1)


def silent_expectation(task, band="relative"):
    """Exact expected paper accuracy of output 0 over the angle grid."""
    if task in DIRECTION:
        return silent_channel_ok(task, GRID, band=band).mean()
    theta1, theta2 = np.meshgrid(GRID, GRID)
    return silent_channel_ok(task, theta1, theta2, band).mean()


def fixed_batch(task, size=256, seed=0, timing="fixed"):
    return make_batch(task, size, np.random.default_rng(seed), timing=timing)


# --- perfect and wrong outputs -------------------------------------------------


@pytest.mark.parametrize("timing", ("fixed", "random"))
@pytest.mark.parametrize("task", TASK_NAMES)
def test_perfect_output_scores_one(task, timing):
    batch = fixed_batch(task, timing=timing)
    assert evaluate(batch.targets, batch) == {
        "paper_accuracy": 1.0,
        "strict_accuracy": 1.0,
    }


@pytest.mark.parametrize("task", TASK_NAMES)
def test_wrong_output_scores_zero(task):
    """Fixation held at 3 and every answer off by 1: wrong on every count."""
    batch = fixed_batch(task)
    outputs = batch.targets + 1.0
    outputs[:, :, 0] = 3.0
    assert paper_accuracy(outputs, batch) == 0.0
    assert strict_accuracy(outputs, batch) == 0.0


@pytest.mark.parametrize("task", DIRECTION)
def test_opposite_direction_fails_strict(task):
    batch = fixed_batch(task)
    outputs = batch.targets.copy()
    outputs[:, :, 1:] *= -1
    assert strict_accuracy(outputs, batch) == 0.0


# --- the paper criterion's bands ---------------------------------------------


def shifted(batch, channel, factor, sign):
    """Outputs = targets, channel shifted by factor times its band edge."""
    tol = FIX_TOL if channel == 0 else RESPONSE_TOL
    per_unit = 2.0 if channel == 0 else scale(batch.task)
    edge = tol * target_units(batch)[:, channel] * per_unit  # (B,) raw units
    outputs = batch.targets.copy()
    outputs[:, :, channel] += sign * factor * edge
    return outputs


@pytest.mark.parametrize("sign", (1, -1))
@pytest.mark.parametrize("task", TASK_NAMES)
def test_paper_band_edges(task, sign):
    batch = fixed_batch(task)
    for channel in range(batch.targets.shape[2]):
        inside = paper_correct(shifted(batch, channel, 0.999, sign), batch)
        outside = paper_correct(shifted(batch, channel, 1.001, sign), batch)
        others = np.arange(inside.shape[1]) != channel
        assert inside.all()
        assert not outside[:, channel].any()
        assert outside[:, others].all()


def test_paper_band_is_relative_to_the_target():
    """The same shift passes a large target and fails a small one."""
    batch = fixed_batch("DelayPro", 1024)
    outputs = batch.targets + 0.02  # 0.01 on the [0, 1] scale
    correct = paper_correct(outputs, batch)[:, 1:]
    expected = 0.01 <= RESPONSE_TOL * target_units(batch)[:, 1:]
    assert np.array_equal(correct, expected)
    # MOLAP.md: a bias of 0.02 costs about 8 % per channel (3 of 36 angles).
    per_angle = 0.01 <= RESPONSE_TOL * unit(RESPONSE_SHARE * np.cos(GRID), "")
    assert np.isclose(1 - per_angle.mean(), 3 / 36)


# --- the strict criterion's edges ----------------------------------------------


def rotated(batch, angle, amplitude=1.0):
    """Targets with the answer direction turned by ``angle`` on the response."""
    outputs = batch.targets.copy()
    answer = np.arctan2(batch.targets[-1, :, 2], batch.targets[-1, :, 1])
    outputs[GO:, :, 1] = amplitude * np.cos(answer + angle)
    outputs[GO:, :, 2] = amplitude * np.sin(answer + angle)
    return outputs


@pytest.mark.parametrize("sign", (1, -1))
@pytest.mark.parametrize("task", DIRECTION)
def test_strict_angle_edge(task, sign):
    batch = fixed_batch(task)
    assert strict_correct(rotated(batch, sign * 0.099 * np.pi), batch).all()
    assert not strict_correct(rotated(batch, sign * 0.101 * np.pi), batch).any()


@pytest.mark.parametrize("task", DIRECTION)
def test_strict_ignores_amplitude_but_paper_does_not(task):
    batch = fixed_batch(task)
    small = rotated(batch, 0.0, amplitude=0.3)
    assert strict_accuracy(small, batch) == 1.0
    assert paper_accuracy(small, batch) < 0.5


@pytest.mark.parametrize("task", DIRECTION)
def test_strict_fixation_edge(task):
    batch = fixed_batch(task)
    outputs = batch.targets.copy()
    outputs[GO:, :, 0] = 0.49
    assert strict_correct(outputs, batch).all()
    outputs[GO:, :, 0] = 0.51
    assert not strict_correct(outputs, batch).any()


@pytest.mark.parametrize("sign", (1, -1))
@pytest.mark.parametrize("task", VALUE)
def test_strict_value_edge(task, sign):
    batch = fixed_batch(task)
    outputs = batch.targets.copy()
    outputs[GO:, :, 1] += sign * 0.099
    assert strict_correct(outputs, batch).all()
    outputs[GO:, :, 1] += sign * 0.002
    assert not strict_correct(outputs, batch).any()


# --- the silent network -------------------------------------------------------


@pytest.mark.parametrize("task", TASK_NAMES)
def test_silent_network_matches_the_oracle_per_trial(task):
    batch = fixed_batch(task, 1024)
    params = batch.params
    theta1 = params.get("theta", params.get("theta1"))
    expected = silent_channel_ok(task, theta1, params.get("theta2"))
    silent = np.zeros_like(batch.targets)
    assert np.array_equal(paper_correct(silent, batch), expected)
    # The batch score estimates the exact grid expectation; a trial's score
    # lies in [0, 1], so its standard deviation is at most 0.5.
    standard_error = 0.5 / np.sqrt(batch.batch_size)
    gap = paper_accuracy(silent, batch) - silent_expectation(task)
    assert abs(gap) < 5 * standard_error


def test_silent_network_figures_of_molap_md():
    """0.37 on direction tasks, 0.53 on value tasks (MultiMem: 0.56)."""
    for task in DIRECTION:
        assert np.isclose(silent_expectation(task), 10 / 27)
        assert round(silent_expectation(task), 2) == 0.37
    for task in VALUE[:4]:
        assert round(silent_expectation(task), 2) == 0.53
    assert round(silent_expectation("MultiMem"), 2) == 0.56


def test_an_absolute_band_would_not_give_those_figures():
    """Why metrics.py reads "within 15 % of the target mean" as relative."""
    assert round(silent_expectation("DelayPro", band="absolute"), 2) == 0.44
    assert round(silent_expectation("MemoryDm1", band="absolute"), 2) == 0.58


@pytest.mark.parametrize("task", DIRECTION)
def test_silent_network_strict_score_on_directions(task):
    """atan2(0, 0) = 0: targets within 0.1 pi of 0 degrees count as correct."""
    batch = fixed_batch(task, 1024)
    answer = np.arctan2(batch_answers(batch)[:, 1], batch_answers(batch)[:, 0])
    expected = np.abs(np.angle(np.exp(1j * answer))) < 0.1 * np.pi
    silent = np.zeros_like(batch.targets)
    assert np.array_equal(strict_correct(silent, batch), expected)
    assert np.mean(np.abs(np.angle(np.exp(1j * GRID))) < 0.1 * np.pi) == 3 / 36


# --- bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", ((110, 8, 4), (109, 8, 3), (110, 7, 3), (110, 8), (8, 110, 3))
)
def test_wrong_shape_is_a_clear_error(shape):
    batch = fixed_batch("DelayPro", 8)
    for score in (paper_accuracy, strict_accuracy, evaluate):
        with pytest.raises(ValueError, match=r"outputs have shape .* \(T, B, n_out\)"):
            score(np.zeros(shape), batch)


@pytest.mark.parametrize("bad", (np.nan, np.inf))
def test_non_finite_outputs_are_a_clear_error(bad):
    batch = fixed_batch("MemoryDm1", 8)
    outputs = batch.targets.copy()
    outputs[50, 3, 1] = bad
    for score in (paper_accuracy, strict_accuracy):
        with pytest.raises(ValueError, match="NaN or inf"):
            score(outputs, batch)


def test_a_corpus_batch_is_not_a_task_batch():
    corpus = make_corpus_batch(4, np.random.default_rng(0))
    with pytest.raises(TypeError, match="TaskBatch of one task"):
        paper_accuracy(corpus.targets, corpus)


def test_evaluate_gives_both_scores():
    batch = fixed_batch("MultiMem", 64)
    # One offset per trial and channel, so that some trials fail.
    outputs = batch.targets + np.random.default_rng(1).normal(0, 0.1, (64, 2))
    scores = evaluate(outputs, batch)
    assert scores == {
        "paper_accuracy": paper_accuracy(outputs, batch),
        "strict_accuracy": strict_accuracy(outputs, batch),
    }
    assert 0 < scores["paper_accuracy"] < 1
    assert 0 < scores["strict_accuracy"] < 1
