"""What every strategy returns, so that evaluation, counting, perturbation and
the pipeline treat them alike.

A strategy turns a list of tasks into one ``TaskNetwork`` per task. Several
task networks may share weights (MoLaP's J and b, DNI's whole network); each
holds the full weight dict it runs with, in the layout of ``molap_np.rnn``.
"""

from dataclasses import dataclass, field

import autograd.numpy as anp
import numpy as np

from ..metrics import evaluate
from ..rnn import PARAM_NAMES, forward, predict
from ..tasks import TASK_SIZES, check_task, make_batch
from ..training import L2_DEFAULT, train


@dataclass
class TaskNetwork:
    """The network a strategy uses for one task.

    Attributes
    ----------
    task : str
    params : dict of ndarray
        Full weights, ``W_in`` (N, n_net_in) ... ``h0`` (N,).
    module_sizes : tuple of int
        Units per module (one module of N units for a plain network).
    rule : int, optional
        Index of the one-hot rule input switched on for this task; rule
        inputs follow the task channels (joint network only).
    """

    task: str
    params: dict
    module_sizes: tuple
    rule: int | None = None

    def network_inputs(self, inputs):
        """Task inputs (T, B, n_in) padded to the network's (T, B, n_net_in).

        Channels a task does not use stay zero; a rule input is 1 on every
        step of the trial.
        """
        T, B, n_in = inputs.shape
        n_net = self.params["W_in"].shape[1]
        if n_in == n_net and self.rule is None:
            return inputs
        padded = np.zeros((T, B, n_net))
        padded[:, :, :n_in] = inputs
        if self.rule is not None:
            padded[:, :, self.rule] = 1.0
        return padded

    def run(self, inputs, params=None):
        """Task outputs (T, B, n_out) for task inputs (T, B, n_in).

        ``params`` replaces the stored weights (a perturbed copy, say).
        """
        params = self.params if params is None else params
        outputs = predict(params, self.network_inputs(inputs))
        return outputs[:, :, : TASK_SIZES[self.task][1]]

    def evaluate(self, batch, params=None):
        """Paper and strict accuracy on a task batch."""
        return evaluate(self.run(batch.inputs, params), batch)


@dataclass
class StrategyResult:
    """A trained strategy: its task networks and what they cost.

    Attributes
    ----------
    name : str
        Key of the strategy (``molap``, ``separate``, ``dni``, ...).
    networks : dict of str to TaskNetwork
    trainable_params : int
        Distinct scalars trained over the whole study (shared ones once).
    updates : int
        Sum over all optimiser steps of the scalars each step changed.
    seconds : float
        Wall time of the training.
    curves : dict
        Learning curves per task: ``{"steps": [...], "paper_accuracy":
        [...], "loss": [...]}`` (keys may grow).
    extra : dict
        Strategy-specific results (DNI's accuracy matrix, ...), JSON-ready.
    """

    name: str
    networks: dict
    trainable_params: int
    updates: int
    seconds: float
    curves: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def evaluate(self, test_batches):
        """``{task: {"paper_accuracy": ..., "strict_accuracy": ...}}``."""
        return {
            task: self.networks[task].evaluate(batch)
            for task, batch in test_batches.items()
            if task in self.networks
        }


@dataclass
class NetworkBatch:
    """Trials in a network's own widths, with the outputs each task scores.

    Networks shared by tasks of different sizes (DNI, joint) get inputs
    padded with zeros (and rule inputs), and only the task's own outputs
    enter the loss.

    Attributes
    ----------
    inputs : ndarray, shape (T, B, n_net_in)
    targets : ndarray, shape (T, B, n_net_out)
        Zero on channels a trial's task does not define.
    mask : ndarray, shape (T, B, n_net_out)
        1.0 where a trial's task defines the target, else 0.0.
    """

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray


def to_network_batch(network, batch):
    """A task batch in the widths of ``network`` (a TaskNetwork)."""
    T, B, n_out = batch.targets.shape
    n_net_out = network.params["W_out"].shape[0]
    targets = np.zeros((T, B, n_net_out))
    targets[:, :, :n_out] = batch.targets
    mask = np.zeros((T, B, n_net_out))
    mask[:, :, :n_out] = 1.0
    return NetworkBatch(network.network_inputs(batch.inputs), targets, mask)


def stack_batches(batches):
    """Several NetworkBatches as one, trials side by side (axis 1)."""
    return NetworkBatch(
        np.concatenate([b.inputs for b in batches], axis=1),
        np.concatenate([b.targets for b in batches], axis=1),
        np.concatenate([b.mask for b in batches], axis=1),
    )


def masked_mse_loss(params, batch, l2=L2_DEFAULT):
    """Equation (3) over the scored outputs only; differentiable.

    The mean runs over the entries where ``batch.mask`` is 1, so on a batch
    of one task of the network's own width it equals ``training.mse_loss``.
    """
    _, outputs = forward(params, batch.inputs)
    squared = (outputs - batch.targets) ** 2 * batch.mask
    error = anp.sum(squared) / np.sum(batch.mask)
    penalty = anp.sum(params["W_in"] ** 2) + anp.sum(params["J"] ** 2)
    return error + l2 * penalty


def curve_from_log(log):
    """A TrainingLog as a JSON-ready learning curve.

    Returns
    -------
    dict
        ``steps``, ``paper_accuracy`` and ``strict_accuracy`` (one entry per
        evaluation) and ``loss`` (one entry per step).
    """
    return {
        "steps": [int(s) for s in log.eval_steps],
        "paper_accuracy": [float(e["paper_accuracy"]) for e in log.evals],
        "strict_accuracy": [float(e["strict_accuracy"]) for e in log.evals],
        "loss": [float(v) for v in log.loss],
    }


def check_tasks(tasks):
    """The task names as a tuple, each checked, at least one, no repeats."""
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError("tasks must name at least one task")
    for task in tasks:
        check_task(task)
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks repeat a name: {list(tasks)}")
    return tasks


def check_rng(rng):
    """Raise a clear error unless ``rng`` is a numpy Generator."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def train_on_task(
    network, rng, config, trainable=None, transform_grads=None, verbose=True
):
    """Train ``network`` on its own task with the masked loss.

    Parameters
    ----------
    network : TaskNetwork
        Its ``params`` are the starting weights (not modified).
    rng : numpy.random.Generator
        Draws a held-out test batch first, then the training batches.
    config : object
        With ``steps``, ``batch_size``, ``lr``, ``schedule``, ``clip``,
        ``eval_every`` and ``eval_batch_size`` (every strategy's config).
    trainable : dict, optional
        Trainable set of ``training.train``; every weight if omitted.
    transform_grads : callable, optional
        Passed to ``training.train`` (DNI's projection).

    Returns
    -------
    params : dict of ndarray
        The trained weights.
    log : TrainingLog
        ``evals`` hold the paper and strict accuracy on the test batch.
    """
    task = network.task
    test = make_batch(task, config.eval_batch_size, rng)

    def sample(r):
        return to_network_batch(network, make_batch(task, config.batch_size, r))

    return train(
        network.params,
        sample,
        trainable or {name: None for name in PARAM_NAMES},
        config.steps,
        rng,
        lr=config.lr,
        schedule=config.schedule,
        clip=config.clip,
        loss_fn=masked_mse_loss,
        transform_grads=transform_grads,
        evaluate=lambda params: network.evaluate(test, params),
        eval_every=config.eval_every,
        log_every=config.eval_every,
        verbose=verbose,
        label=task,
    )
