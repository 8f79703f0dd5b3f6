"""The no-pre-training control: MoLaP's network with a random J.

Does pre-training matter? This control is MoLaP without its first stage:
the recurrent weights J and b keep their random values (g = 1.5, a chaotic
reservoir) and every task is learned on them exactly as MoLaP learns it
(``task_learning.learn_task``: only W_in, W_out, b_out and h0 are trained).
The network has MoLaP's shape, N = 150 in three modules of 50, so the two
differ in nothing but the pre-training.
"""

import time
from dataclasses import dataclass, field

from ..rnn import init_params
from ..task_learning import TaskLearningConfig, learn_task
from ..tasks import TASK_SIZES
from .base import StrategyResult, check_rng, check_tasks, curve_from_log


def quick_task_learning():
    """Task-learning budget of the comparison's quick defaults."""
    return TaskLearningConfig(steps=500, eval_every=100)


@dataclass
class NoPretrainingConfig:
    """Network shape and task-learning budget of the control.

    ``N``, ``module_sizes`` and ``g`` are MoLaP's (``PretrainConfig``'s);
    ``task_learning`` is shared with MoLaP so both get the same budget.
    """

    N: int = 150
    module_sizes: tuple = (50, 50, 50)
    g: float = 1.5
    task_learning: TaskLearningConfig = field(default_factory=quick_task_learning)


def learn_tasks(base_params, module_sizes, tasks, rng, config, verbose):
    """Learn every task on the frozen J and b of ``base_params``.

    Returns
    -------
    networks : dict of str to TaskNetwork
    curves : dict of str to dict
    trainable_params, updates : int
        Summed over the tasks (each task's weights are its own).
    """
    networks, curves = {}, {}
    trainable_params = updates = 0
    for task in tasks:
        network, log = learn_task(
            base_params, task, rng, config, module_sizes, verbose=verbose
        )
        networks[task] = network
        curves[task] = curve_from_log(log)
        trainable_params += log.trainable_params
        updates += log.updates
    return networks, curves, trainable_params, updates


def train_no_pretraining(tasks, rng, config=None, verbose=True):
    """Learn every task on a random, frozen recurrent network.

    Parameters
    ----------
    tasks : sequence of str
    rng : numpy.random.Generator
        Draws the random network first, then each task's weights and
        batches in turn.
    config : NoPretrainingConfig, optional

    Returns
    -------
    StrategyResult
        ``trainable_params`` counts each task's W_in, W_out, b_out and h0.
    """
    tasks = check_tasks(tasks)
    check_rng(rng)
    config = config or NoPretrainingConfig()
    start = time.perf_counter()
    n_in = max(TASK_SIZES[task][0] for task in tasks)
    n_out = max(TASK_SIZES[task][1] for task in tasks)
    base = init_params(
        n_in, config.N, n_out, rng, g=config.g, module_sizes=config.module_sizes
    )
    networks, curves, trainable_params, updates = learn_tasks(
        base, config.module_sizes, tasks, rng, config.task_learning, verbose
    )
    return StrategyResult(
        "no_pretraining",
        networks,
        trainable_params,
        updates,
        time.perf_counter() - start,
        curves,
    )
