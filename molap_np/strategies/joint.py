"""The joint multi-task network (Yang et al. 2019): all tasks at once.

The strategy most used in the field (a choice of this project, MOLAP.md
section 5): one network of N = 200 units whose input is the 3 shared task
channels (narrower tasks padded with zeros) followed by one rule input per
task, and whose 3 shared outputs are read for every task (only the task's
own outputs enter the loss). Every weight is trained on interleaved trials
of all tasks: each step's batch mixes the tasks, ``batch_size // n_tasks``
trials of each and the remainder given to the tasks in turn, so that every
step's gradient serves all tasks at once. The rule input of task i is 1 on
every step of its trials.
"""

import time
from dataclasses import dataclass

import numpy as np

from ..rnn import PARAM_NAMES, init_params
from ..tasks import make_batch
from ..training import train
from .base import (
    StrategyResult,
    TaskNetwork,
    check_rng,
    check_tasks,
    masked_mse_loss,
    stack_batches,
    to_network_batch,
)

N_SHARED_IN = 3
N_SHARED_OUT = 3


@dataclass
class JointConfig:
    """Network and budget of the joint network.

    ``steps`` counts optimiser steps over all tasks together; the quick
    default (4,500 = 9 x 500) matches the total steps the one-task-at-a-time
    strategies take at 500 steps per task, with the same batch of 32 trials.
    """

    N: int = 200
    g: float = 1.5
    steps: int = 4500
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "cosine"
    clip: float | None = 1.0
    eval_every: int = 500
    eval_batch_size: int = 128


def trials_per_task(batch_size, n_tasks, step):
    """Trials of each task in the batch of ``step``, shape (n_tasks,).

    Each task gets ``batch_size // n_tasks``; the remainder goes to
    consecutive tasks starting at ``step mod n_tasks``.
    """
    counts = np.full(n_tasks, batch_size // n_tasks)
    extra = (np.arange(n_tasks) - step) % n_tasks < batch_size % n_tasks
    return counts + extra


def rule_networks(tasks, params, N):
    """One TaskNetwork per task on the shared weights, rule i for task i."""
    return {
        task: TaskNetwork(task, params, (N,), rule=N_SHARED_IN + i)
        for i, task in enumerate(tasks)
    }


def train_joint(tasks, rng, config=None, verbose=True):
    """Train one network with rule inputs on interleaved trials of all tasks.

    Parameters
    ----------
    tasks : sequence of str
    rng : numpy.random.Generator
        Draws the initial weights, the test batches and every batch.
    config : JointConfig, optional

    Returns
    -------
    StrategyResult
        Every task network holds the shared weights and its rule index.
        Each task's curve holds its accuracy on its test batch; its
        ``loss`` is the loss of the mixed batches, the same for all tasks.
    """
    tasks = check_tasks(tasks)
    check_rng(rng)
    config = config or JointConfig()
    if config.batch_size < len(tasks):
        raise ValueError(
            f"batch_size {config.batch_size} is smaller than the {len(tasks)} "
            "tasks: every batch must hold at least one trial of each"
        )
    start = time.perf_counter()
    n_in = N_SHARED_IN + len(tasks)
    params = init_params(n_in, config.N, N_SHARED_OUT, rng, g=config.g)
    templates = rule_networks(tasks, params, config.N)
    tests = {task: make_batch(task, config.eval_batch_size, rng) for task in tasks}
    step = [0]
    per_task = []

    def sample(r):
        counts = trials_per_task(config.batch_size, len(tasks), step[0])
        step[0] += 1
        return stack_batches(
            [
                to_network_batch(templates[task], make_batch(task, int(n), r))
                for task, n in zip(tasks, counts)
            ]
        )

    def score(p):
        scores = {t: templates[t].evaluate(tests[t], p) for t in tasks}
        per_task.append(scores)
        return {
            key: float(np.mean([s[key] for s in scores.values()]))
            for key in ("paper_accuracy", "strict_accuracy")
        }

    params, log = train(
        params,
        sample,
        {name: None for name in PARAM_NAMES},
        config.steps,
        rng,
        lr=config.lr,
        schedule=config.schedule,
        clip=config.clip,
        loss_fn=masked_mse_loss,
        evaluate=score,
        eval_every=config.eval_every,
        log_every=config.eval_every,
        verbose=verbose,
        label="joint",
    )
    curves = {
        task: {
            "steps": [int(s) for s in log.eval_steps],
            "paper_accuracy": [s[task]["paper_accuracy"] for s in per_task],
            "strict_accuracy": [s[task]["strict_accuracy"] for s in per_task],
            "loss": [float(v) for v in log.loss],
        }
        for task in tasks
    }
    return StrategyResult(
        "joint",
        rule_networks(tasks, params, config.N),
        log.trainable_params,
        log.updates,
        time.perf_counter() - start,
        curves,
    )
