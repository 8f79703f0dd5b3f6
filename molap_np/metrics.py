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
over channels.

Why a relative band: the paper says "within 15 % of the target mean". Read as
a relative band, a silent network (output 0) scores 10/27 = 0.370 on the
direction tasks, 0.528 on MemoryDm1/2 and ContextMemDm1/2 and 0.556 on
MultiMem (exact over the 36 x 36 angle grid), the figures MOLAP.md section 10
reports. An absolute band |m(o) - m(t)| <= tol would give 0.444 and 0.583
instead. Both silent scores are high because the fixation target averages
5/30 over the window, so its band includes m(0) = 0.5. The band is also
narrower for negative targets (m(t) near 0) than for positive ones.

Strict accuracy (beyond the paper). Outputs are averaged over each trial's
response epoch (go .. 109). A direction trial is correct when the decoded
angle atan2(sin, cos) is within 0.1 pi of the target's and the fixation output
is below 0.5; a value trial when the absolute error of the value is below 0.1.
The criterion looks at the angle only, never the amplitude: a silent network
decodes atan2(0, 0) = 0 and so scores 3/36 on the direction tasks (the
targets at 350, 0 and 10 degrees).
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
    if not all(hasattr(batch, name) for name in ("task", "targets", "epochs")):
        raise TypeError(
            "batch must be a TaskBatch of one task (make_batch), "
            f"got {type(batch).__name__}"
        )
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
