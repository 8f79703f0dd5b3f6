"""Learning a task on frozen recurrent weights (MOLAP.md section 4).

The recurrent weights J and b of a (pre-trained or random) network are never
changed again. Each task gets its own input weights W_in (N, n_in), readout
W_out (n_out, N) and b_out (n_out,), and initial state h0 (N,), and only those
are trained, on the loss of equation (3). Learning one task therefore cannot
disturb any other.
"""

from dataclasses import dataclass

import numpy as np

from .metrics import evaluate
from .rnn import check_params, predict
from .tasks import TASK_SIZES, check_task, make_batch
from .training import train

TASK_WEIGHTS = ("W_in", "W_out", "b_out", "h0")
READOUT_INITS = ("random", "zero")


@dataclass
class TaskLearningConfig:
    """Budget, optimiser and initialisation of task learning.

    MOLAP.md's research code used batch 500, lr 1e-3 and ~4,500 steps. The
    defaults here (1,000 steps of 32 trials, Adam at 1e-2 with a cosine
    decay, clipping at norm 1) are the settings the tutorials use. The
    pipeline's quick preset changes two of them, the best pair of a later
    screen (see the README): ``lr=3e-2``, which carries most of the gain,
    and ``input_scale=0.3``, input weights drawn at 0.3 times MOLAP.md's
    scale, which helps a little at that rate and hurts at 1e-2.
    """

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-2
    schedule: str = "cosine"
    clip: float | None = 1.0
    readout_init: str = "random"
    input_scale: float = 1.0
    eval_every: int = 100
    eval_batch_size: int = 256


def fresh_task_weights(N, task, rng, readout_init="random", input_scale=1.0):
    """New input weights, readout and initial state for ``task``.

    Returns
    -------
    dict of ndarray
        ``W_in`` (N, n_in), ``W_out`` (n_out, N), ``b_out`` (n_out,),
        ``h0`` (N,), drawn as in MOLAP.md section 2, with W_in's std times
        ``input_scale`` (``readout_init="zero"`` starts W_out and b_out at
        zero).
    """
    n_in, n_out = TASK_SIZES[check_task(task)]
    if readout_init not in READOUT_INITS:
        raise ValueError(
            f"unknown readout_init {readout_init!r}; valid: {', '.join(READOUT_INITS)}"
        )
    if not (np.isfinite(input_scale) and input_scale > 0):
        raise ValueError(f"input_scale must be a positive number, got {input_scale}")
    out_std = 1 / np.sqrt(N + 1)
    weights = {
        "W_in": rng.normal(0, input_scale / np.sqrt(n_in), size=(N, n_in)),
        "W_out": rng.normal(0, out_std, size=(n_out, N)),
        "b_out": rng.normal(0, out_std, size=n_out),
        "h0": rng.normal(0, 1, size=N),
    }
    if readout_init == "zero":
        weights["W_out"][:] = 0.0
        weights["b_out"][:] = 0.0
    return weights


def learn_task(
    base_params,
    task,
    rng,
    config=None,
    module_sizes=None,
    verbose=True,
):
    """Learn ``task`` on the frozen J and b of ``base_params``.

    Parameters
    ----------
    base_params : dict of ndarray
        A network whose ``J`` (N, N) and ``b`` (N,) are kept; its other
        weights are replaced by fresh ones for the task.
    task : str
    rng : numpy.random.Generator
        Draws the fresh weights, the training batches and the test batch.
    config : TaskLearningConfig, optional
    module_sizes : sequence of int, optional
        Recorded in the returned network.

    Returns
    -------
    network : TaskNetwork
    log : TrainingLog
        Loss per step; ``evals`` holds the accuracy on a held-out batch.
    """
    # Imported here: the strategies package imports this module in turn.
    from .strategies.base import TaskNetwork

    config = config or TaskLearningConfig()
    N = check_params(base_params)[0]
    params = {"J": base_params["J"], "b": base_params["b"]}
    params.update(
        fresh_task_weights(N, task, rng, config.readout_init, config.input_scale)
    )
    test = make_batch(task, config.eval_batch_size, rng)

    def score(p):
        return evaluate(predict(p, test.inputs), test)

    trained, log = train(
        params,
        lambda r: make_batch(task, config.batch_size, r),
        {name: None for name in TASK_WEIGHTS},
        config.steps,
        rng,
        lr=config.lr,
        schedule=config.schedule,
        clip=config.clip,
        evaluate=score,
        eval_every=config.eval_every,
        log_every=config.eval_every,
        verbose=verbose,
        label=task,
    )
    module_sizes = tuple(module_sizes) if module_sizes else (N,)
    return TaskNetwork(task, trained, module_sizes), log
