"""What every strategy returns, so that evaluation, counting, perturbation and
the pipeline treat them alike.

A strategy turns a list of tasks into one ``TaskNetwork`` per task. Several
task networks may share weights (MoLaP's J and b, DNI's whole network); each
holds the full weight dict it runs with, in the layout of ``molap_np.rnn``.
"""

from dataclasses import dataclass, field

import numpy as np

from ..metrics import evaluate
from ..rnn import predict
from ..tasks import TASK_SIZES


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
