"""How a network's outputs on a task batch are scored.

Two criteria, both returning the fraction of correct trials.

Paper accuracy (the "% correct" of the MoLaP figures). For each trial and
output channel c, output and target are averaged over the last 30 steps
(80 .. 109) and mapped to [0, 1] by the channel's known range::

    m(y) = (y + 1) / 2                     fixation, cos, sin, Dm values
    m(y) = (y + sqrt 2) / (2 sqrt 2)       MultiMem's value, in [-sqrt 2, sqrt 2]

The channel is correct when the output lies within a relative band of the
target, |m(o) - m(t)| <= tol * m(t), with tol = 0.15 for fixation and 0.10 for
the response channels. Accuracy is the fraction of correct trials averaged
over channels. (A silent network, output 0, scores 0.37 on the direction tasks
and 0.53 on the value tasks under this rule, the figures of MOLAP.md.)

Strict accuracy (beyond the paper). Outputs are averaged over each trial's
response epoch (go .. 109). A direction trial is correct when the decoded
angle atan2(sin, cos) is within 0.1 pi of the target's and the fixation output
is below 0.5; a value trial when the absolute error of the value is below 0.1.
"""

import numpy as np

from .tasks import DIRECTION_TASKS, T, check_task

PAPER_WINDOW = 30
FIXATION_TOL = 0.15
RESPONSE_TOL = 0.10
ANGLE_TOL = 0.1 * np.pi
VALUE_TOL = 0.1


def check_outputs(outputs, batch):
    """Raise a clear error unless ``outputs`` fits ``batch``'s targets."""
    outputs = np.asarray(outputs)
    if outputs.shape != batch.targets.shape:
        raise ValueError(
            f"outputs have shape {outputs.shape}, but the {batch.task} batch's "
            f"targets have shape {batch.targets.shape} (T, B, n_out)"
        )
    if not np.all(np.isfinite(outputs)):
        raise ValueError("outputs contain NaN or inf; the network has diverged")
    return outputs


def _to_unit(values, task):
    """Map each channel to [0, 1] by its known range; values (..., n_out)."""
    unit = (values + 1.0) / 2.0
    if task == "MultiMem":
        root2 = np.sqrt(2.0)
        value = (values[..., 1:] + root2) / (2 * root2)
        unit = np.concatenate([unit[..., :1], value], axis=-1)
    return unit


def paper_correct(outputs, batch):
    """Per trial and channel, is the output right by the paper's criterion?

    Parameters
    ----------
    outputs : ndarray, shape (T, B, n_out)
    batch : TaskBatch

    Returns
    -------
    ndarray of bool, shape (B, n_out)
    """
    outputs = check_outputs(outputs, batch)
    check_task(batch.task)
    out = _to_unit(outputs[-PAPER_WINDOW:].mean(axis=0), batch.task)
    tgt = _to_unit(batch.targets[-PAPER_WINDOW:].mean(axis=0), batch.task)
    tol = np.full(out.shape[-1], RESPONSE_TOL)
    tol[0] = FIXATION_TOL
    return np.abs(out - tgt) <= tol * np.abs(tgt)


def paper_accuracy(outputs, batch):
    """Fraction of correct trials, averaged over channels (paper criterion)."""
    return float(paper_correct(outputs, batch).mean())


def _response_means(values, batch):
    """Average over each trial's response epoch; values (T, B, C) -> (B, C)."""
    steps = np.arange(T)[:, None]
    mask = (steps >= batch.epochs["go"][None, :]).astype(float)
    return np.einsum("tbc,tb->bc", values, mask) / mask.sum(axis=0)[:, None]


def strict_correct(outputs, batch):
    """Per trial, is the response right by the strict criterion?

    Returns
    -------
    ndarray of bool, shape (B,)
    """
    outputs = check_outputs(outputs, batch)
    check_task(batch.task)
    out = _response_means(outputs, batch)
    tgt = _response_means(batch.targets, batch)
    if batch.task in DIRECTION_TASKS:
        angle_out = np.arctan2(out[:, 2], out[:, 1])
        angle_tgt = np.arctan2(tgt[:, 2], tgt[:, 1])
        # Wrap the difference to (-pi, pi] so 355 and 5 degrees are close.
        diff = np.angle(np.exp(1j * (angle_out - angle_tgt)))
        return (np.abs(diff) < ANGLE_TOL) & (out[:, 0] < 0.5)
    return np.abs(out[:, 1] - tgt[:, 1]) < VALUE_TOL


def strict_accuracy(outputs, batch):
    """Fraction of trials correct by the strict criterion."""
    return float(strict_correct(outputs, batch).mean())


def evaluate(outputs, batch):
    """Both accuracies of ``outputs`` on ``batch`` as a dict."""
    return {
        "paper_accuracy": paper_accuracy(outputs, batch),
        "strict_accuracy": strict_accuracy(outputs, batch),
    }
