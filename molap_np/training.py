"""Training: the loss, Adam, and a loop that trains only what it is told to.

The loss of every strategy is the mean squared error over all steps, trials
and outputs plus an L2 penalty on the input and recurrent weights::

    L = mean((y - y*)^2) + l2 (|W_in|^2 + |J|^2),      l2 = 2e-6       (3)

Adam (Kingma and Ba, 2015), for a gradient g at step s = 1, 2, ...::

    m = beta1 m + (1 - beta1) g          v = beta2 v + (1 - beta2) g^2
    theta -= lr(s) * (m / (1 - beta1^s)) / (sqrt(v / (1 - beta2^s)) + eps)   (4)

A trainable set maps a weight name to ``None`` (the whole array is trained)
or to a boolean mask of the entries that are (for example one module's block
of J). Entries outside the set keep their exact bits: the update is applied
through ``numpy.where``, never by adding a zero. Their gradient is zeroed
before clipping, so the clipping norm counts trained entries only.
"""

import time
from dataclasses import dataclass, field

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from .rnn import forward

L2_DEFAULT = 2e-6
SCHEDULES = ("constant", "cosine", "step")


class TrainingDiverged(RuntimeError):
    """The loss or the gradient stopped being finite.

    Attributes
    ----------
    step : int or None
        The step (1-based) whose loss or gradient was not finite; the
        weights were not updated with it.
    """

    def __init__(self, message, step=None):
        super().__init__(message)
        self.step = step


def mse_loss(params, batch, l2=L2_DEFAULT):
    """Equation (3) on one batch; differentiable with autograd."""
    _, outputs = forward(params, batch.inputs)
    error = anp.mean((outputs - batch.targets) ** 2)
    penalty = anp.sum(params["W_in"] ** 2) + anp.sum(params["J"] ** 2)
    return error + l2 * penalty


def trainable_count(params, trainable):
    """Number of trainable scalars in a trainable set."""
    total = 0
    for name, mask in trainable.items():
        total += np.size(params[name]) if mask is None else int(np.sum(mask))
    return total


def check_trainable(params, trainable):
    """Raise a clear error unless ``trainable`` fits ``params``."""
    if not trainable:
        raise ValueError("the trainable set is empty: nothing would be trained")
    for name, mask in trainable.items():
        if name not in params:
            raise ValueError(
                f"trainable weight {name!r} is not in the network; "
                f"its weights are {sorted(params)}"
            )
        if mask is None:
            continue
        if np.shape(mask) != np.shape(params[name]):
            raise ValueError(
                f"mask for {name!r} has shape {np.shape(mask)}, "
                f"the weight has {np.shape(params[name])}"
            )
        if np.asarray(mask).dtype != bool:
            raise ValueError(
                f"mask for {name!r} must be a boolean array, "
                f"got dtype {np.asarray(mask).dtype}"
            )


class Adam:
    """Adam, equation (4), on a dict of arrays."""

    def __init__(self, params, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.step_count = 0

    def updates(self, grads, lr):
        """The step to subtract from each weight for these gradients."""
        self.step_count += 1
        s, b1, b2 = self.step_count, self.beta1, self.beta2
        steps = {}
        for name, g in grads.items():
            self.m[name] = b1 * self.m[name] + (1 - b1) * g
            self.v[name] = b2 * self.v[name] + (1 - b2) * g**2
            m_hat = self.m[name] / (1 - b1**s)
            v_hat = self.v[name] / (1 - b2**s)
            steps[name] = lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return steps


def learning_rate(lr, step, steps, schedule="constant", final_fraction=0.05):
    """Learning rate at ``step`` (0-based) of ``steps``.

    ``constant`` keeps ``lr``; ``cosine`` decays it along half a cosine to
    ``final_fraction * lr``; ``step`` divides it by 10 at 50 % and 75 % of
    the run.
    """
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        progress = step / max(steps - 1, 1)
        low = final_fraction * lr
        return low + 0.5 * (lr - low) * (1 + np.cos(np.pi * progress))
    if schedule == "step":
        return lr * 0.1 ** (int(step >= 0.5 * steps) + int(step >= 0.75 * steps))
    raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")


def global_norm(grads):
    """Joint Euclidean norm of a dict of arrays."""
    return float(np.sqrt(sum(np.vdot(g, g) for g in grads.values())))


def clip_by_norm(grads, max_norm, norm=None):
    """Scale all gradients together so that their joint norm is <= max_norm.

    ``norm`` may pass in ``global_norm(grads)`` when it is already known.
    """
    if norm is None:
        norm = global_norm(grads)
    if norm <= max_norm:
        return grads
    return {k: g * (max_norm / norm) for k, g in grads.items()}


@dataclass
class TrainingLog:
    """What a training run did, for plots and for counting its cost.

    Attributes
    ----------
    loss : ndarray, shape (steps,)
        Training loss of every step's batch.
    eval_steps : list of int
        Steps after which ``evaluate`` ran.
    evals : list of dict
        Its results, one per entry of ``eval_steps``.
    trainable_params : int
        Scalars in the trainable set.
    updates : int
        Sum over steps of the number of scalars that step changed.
    seconds : float
        Wall time of the run.
    """

    loss: np.ndarray
    eval_steps: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    trainable_params: int = 0
    updates: int = 0
    seconds: float = 0.0


def _check_finite(step, steps, what, value, lr):
    if np.isfinite(value):
        return
    raise TrainingDiverged(
        f"training diverged at step {step}/{steps}: the {what} is {value}. "
        f"Lower the learning rate (now {lr:.3g}), pass clip= to bound the "
        f"gradient norm, or check loss_fn and the batches for NaN.",
        step,
    )


def _check_settings(steps, lr, schedule, clip, log_every):
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr}")
    learning_rate(lr, 0, max(steps, 1), schedule)  # rejects unknown schedules
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be a positive number or None, got {clip}")
    if not log_every >= 1:
        raise ValueError(f"log_every must be >= 1, got {log_every}")


def _masked(grads, trainable):
    """Zero the gradient of entries outside their weight's mask."""
    return {
        name: g if trainable[name] is None else np.where(trainable[name], g, 0.0)
        for name, g in grads.items()
    }


def _apply(params, trainable, deltas):
    """Subtract ``deltas`` inside the trainable set; count changed scalars."""
    changed = 0
    for name, delta in deltas.items():
        old = params[name]
        new = old - delta
        if trainable[name] is not None:
            # Entries outside the mask keep their exact bits.
            new = np.where(trainable[name], new, old)
        changed += int(np.count_nonzero(new != old))
        params[name] = new
    return changed


def gradient_function(params, loss_fn=mse_loss, l2=L2_DEFAULT):
    """``f(arrays, batch) -> (loss, grads)`` for the arrays named in ``arrays``.

    Weights not in ``arrays`` are read from ``params`` when ``f`` is called
    and are constants to autograd, so no gradient is computed for them.
    This is the gradient of one step of ``train``.
    """

    def loss_of(arrays, batch):
        return loss_fn({**params, **arrays}, batch, l2)

    return value_and_grad(loss_of)


def train(
    params,
    sample_batch,
    trainable,
    steps,
    rng,
    *,
    lr=1e-3,
    schedule="constant",
    clip=None,
    l2=L2_DEFAULT,
    loss_fn=mse_loss,
    transform_grads=None,
    evaluate=None,
    eval_every=None,
    log_every=100,
    verbose=True,
    label="",
):
    """Train the entries of ``trainable`` with Adam on fresh batches.

    Each step: draw a batch, take the loss and its gradient, zero the
    gradient outside the masks, apply ``transform_grads``, clip, and take an
    Adam step on the trainable entries only.

    Parameters
    ----------
    params : dict of ndarray
        Starting weights; not modified.
    sample_batch : callable
        ``sample_batch(rng)`` returns a batch with ``inputs`` (T, B, n_in) and
        ``targets`` (T, B, n_out); a new one is drawn every step.
    trainable : dict of str to (None or bool ndarray)
        The trainable set (see the module docstring).
    steps : int
        Optimiser steps.
    rng : numpy.random.Generator
        Passed to ``sample_batch``.
    lr, schedule : float, str
        Peak learning rate and its schedule (see ``learning_rate``).
    clip : float, optional
        Bound on the joint gradient norm.
    l2 : float
        Weight of the L2 term of the loss.
    loss_fn : callable
        ``loss_fn(params, batch, l2)``; equation (3) by default.
    transform_grads : callable, optional
        ``transform_grads(grads, params)`` returns new gradients, for methods
        that project them (DNI).
    evaluate : callable, optional
        ``evaluate(params)`` returns a dict of scores; run every
        ``eval_every`` steps and after the last.
    log_every : int
        Print one progress line every this many steps when ``verbose``.

    Returns
    -------
    params : dict of ndarray
        The trained weights (new arrays).
    log : TrainingLog

    Raises
    ------
    TrainingDiverged
        When a step's loss or gradient is not finite.
    """
    _check_settings(steps, lr, schedule, clip, log_every)
    check_trainable(params, trainable)
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    names = list(trainable)
    adam = Adam({k: params[k] for k in names})

    loss_and_grad = gradient_function(params, loss_fn, l2)
    log = TrainingLog(
        np.zeros(steps), trainable_params=trainable_count(params, trainable)
    )
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = sample_batch(rng)
        loss, grads = loss_and_grad({k: params[k] for k in names}, batch)
        rate = learning_rate(lr, step - 1, steps, schedule)
        _check_finite(step, steps, "loss", loss, rate)

        grads = _masked(grads, trainable)
        if transform_grads is not None:
            grads = transform_grads(grads, params)
        norm = global_norm(grads)
        # A finite gradient keeps Adam's step, and so the weights, finite.
        _check_finite(step, steps, "gradient norm", norm, rate)
        if clip is not None:
            grads = clip_by_norm(grads, clip, norm)

        log.updates += _apply(params, trainable, adam.updates(grads, rate))
        log.loss[step - 1] = loss
        _maybe_evaluate(step, steps, params, log, evaluate, eval_every)
        if verbose and (step % log_every == 0 or step == steps):
            print(_progress_line(label, step, steps, loss, log))
    log.seconds = time.perf_counter() - start
    return params, log


def _maybe_evaluate(step, steps, params, log, evaluate, eval_every):
    if evaluate is not None and (
        (eval_every and step % eval_every == 0) or step == steps
    ):
        log.eval_steps.append(step)
        log.evals.append(evaluate(params))


def _progress_line(label, step, steps, loss, log):
    line = f"{label:<14}step {step:>5}/{steps}  loss {loss:.4f}"
    if log.evals and log.eval_steps[-1] == step:
        for key, value in log.evals[-1].items():
            line += f"  {key} {value:.3f}"
    return line
