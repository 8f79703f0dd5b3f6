"""MoLaP: modules pre-trained on latent primitives, then frozen.

Stage 1 (``molap_np.primitives``, MOLAP.md section 3) pre-trains the three
modules of an N = 150 network, one after the other, on the primitives of a
design: the paper's ``cca``, or this package's ``response-cca`` (the
default: in the comparison, seed 0, it learned the nine tasks to 88 % mean
paper accuracy where ``cca`` reached 69 %). Stage 2 (``molap_np.task_learning``,
section 4) freezes J and b for good and learns each task's own W_in, W_out,
b_out and h0. The cost of the strategy includes both stages: pre-training's
trained scalars and updates are added to those of the nine tasks.

The pre-trained network can come from a fresh pre-training (seeded by the
strategy's generator), from the weights shipped with the package, or from a
``PretrainResult`` the caller already has.
"""

import time
from dataclasses import dataclass, field

from ..primitives import PretrainConfig, check_design, load_pretrained, pretrain
from ..task_learning import TaskLearningConfig
from .base import StrategyResult, check_rng, check_tasks
from .no_pretraining import learn_tasks, quick_task_learning

SOURCES = ("fresh", "shipped", "given")


@dataclass
class MolapConfig:
    """Where the modules come from, and the budget of both stages.

    Attributes
    ----------
    design : str
        Primitive design, one of ``primitives.DESIGNS``; ``"cca"`` is the
        paper's.
    source : {"fresh", "shipped", "given"}
        Pre-train now with ``pretrain`` and the strategy's generator; load
        the package's weights for ``design``; or use ``pretrained``.
    pretrain : PretrainConfig
    task_learning : TaskLearningConfig
        Shared with the no-pre-training control.
    pretrained : PretrainResult, optional
        The pre-trained network when ``source == "given"``.
    """

    design: str = "response-cca"
    source: str = "fresh"
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    task_learning: TaskLearningConfig = field(default_factory=quick_task_learning)
    pretrained: object = None


def pretrained_network(config, rng, verbose=True):
    """The pre-trained weights and what producing them cost.

    Returns
    -------
    params : dict of ndarray
        ``J`` (N, N) and ``b`` (N,) are kept by task learning.
    module_sizes : tuple of int
    info : dict
        JSON-ready: ``design``, ``source``, ``trainable_params``,
        ``updates``, ``fits`` (no wall time, so that the same seed gives
        the same dict).
    """
    if config.source not in SOURCES:
        raise ValueError(
            f"unknown source {config.source!r}; valid: {', '.join(SOURCES)}"
        )
    check_design(config.design)
    if config.source == "shipped":
        params, meta = load_pretrained(config.design)
        info = {
            "trainable_params": int(meta["trainable_params"]),
            "updates": int(meta["updates"]),
            "fits": meta.get("fits"),
        }
        return params, tuple(meta["module_sizes"]), _with(info, config)

    result = config.pretrained
    if config.source == "fresh":
        result = pretrain(config.design, rng, config.pretrain, verbose=verbose)
    elif result is None:
        raise ValueError('source "given" needs a PretrainResult in pretrained')
    elif result.design != config.design:
        raise ValueError(
            f"the given pre-trained network has design {result.design!r}, "
            f"the config asks for {config.design!r}"
        )
    info = {
        "trainable_params": int(result.trainable_params),
        "updates": int(result.updates),
        "fits": [float(f) for f in result.fits],
    }
    return result.params, tuple(result.module_sizes), _with(info, config)


def _with(info, config):
    return {"design": config.design, "source": config.source, **info}


def train_molap(tasks, rng, config=None, verbose=True):
    """Pre-train (or load) the modules, then learn every task on them.

    Parameters
    ----------
    tasks : sequence of str
    rng : numpy.random.Generator
        Draws the pre-training (when fresh), then each task's weights and
        batches in turn.
    config : MolapConfig, optional

    Returns
    -------
    StrategyResult
        ``trainable_params`` and ``updates`` include pre-training's;
        ``extra["pretraining"]`` and ``extra["task_learning"]`` give each
        stage's share.
    """
    tasks = check_tasks(tasks)
    check_rng(rng)
    config = config or MolapConfig()
    start = time.perf_counter()
    base, sizes, pre = pretrained_network(config, rng, verbose)
    networks, curves, task_params, task_updates = learn_tasks(
        base, sizes, tasks, rng, config.task_learning, verbose
    )
    extra = {
        "pretraining": pre,
        "task_learning": {"trainable_params": task_params, "updates": task_updates},
    }
    return StrategyResult(
        "molap",
        networks,
        pre["trainable_params"] + task_params,
        pre["updates"] + task_updates,
        time.perf_counter() - start,
        curves,
        extra,
    )
