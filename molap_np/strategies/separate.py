"""Separate networks: one fresh network per task, every weight trained.

The performance upper bound of the study and its parameter-count worst case
(MOLAP.md section 5). Task k gets its own network of N = 200 units, with
exactly the task's inputs and outputs, and trains all of W_in, J, b, W_out,
b_out and h0 on the loss of equation (3). Nothing is shared, so nothing is
forgotten, and nothing learned for one task helps another.
"""

import time
from dataclasses import dataclass

from ..rnn import init_params
from ..tasks import TASK_SIZES
from .base import (
    StrategyResult,
    TaskNetwork,
    check_rng,
    check_tasks,
    curve_from_log,
    train_on_task,
)


@dataclass
class SeparateConfig:
    """Size and training budget of each separate network.

    The quick defaults fit the comparison's time budget (500 steps per task,
    as for every strategy). Adam at 1e-3 with a cosine decay and gradient
    clipping at norm 1 learns the direction tasks within 300 steps at
    N = 200; 3e-3 failed, 5e-4 was no better. Value tasks may sit at the
    mean output for several hundred steps first, longer for some seeds.
    """

    N: int = 200
    g: float = 1.5
    steps: int = 500
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "cosine"
    clip: float | None = 1.0
    eval_every: int = 100
    eval_batch_size: int = 256


def train_separate(tasks, rng, config=None, verbose=True):
    """Train one fresh network per task.

    Parameters
    ----------
    tasks : sequence of str
        Task names, learned in this order.
    rng : numpy.random.Generator
        Draws every network's initial weights and every batch.
    config : SeparateConfig, optional

    Returns
    -------
    StrategyResult
        ``trainable_params`` sums all six arrays of every network.
    """
    tasks = check_tasks(tasks)
    check_rng(rng)
    config = config or SeparateConfig()
    start = time.perf_counter()
    networks, curves = {}, {}
    trainable_params = updates = 0

    for task in tasks:
        n_in, n_out = TASK_SIZES[task]
        params = init_params(n_in, config.N, n_out, rng, g=config.g)
        network = TaskNetwork(task, params, (config.N,))
        params, log = train_on_task(network, rng, config, verbose=verbose)
        networks[task] = TaskNetwork(task, params, (config.N,))
        curves[task] = curve_from_log(log)
        trainable_params += log.trainable_params
        updates += log.updates

    seconds = time.perf_counter() - start
    return StrategyResult(
        "separate", networks, trainable_params, updates, seconds, curves
    )
