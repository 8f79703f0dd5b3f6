"""The multi-task strategies compared in the study, one file each.

Every strategy module exposes a config dataclass whose defaults are the
quick settings of the comparison, and::

    train_<name>(tasks, rng, config=None, verbose=True) -> StrategyResult

``STRATEGIES`` maps each name to its training function and config class, so
a new strategy is one new file plus one line here. ``molap-np compare``
(``molap_np.comparison``) trains them all and compares them.
"""

import dataclasses
from typing import NamedTuple

from .base import StrategyResult, TaskNetwork
from .dni import DNIConfig, train_dni
from .joint import JointConfig, train_joint
from .molap import MolapConfig, train_molap
from .no_pretraining import NoPretrainingConfig, train_no_pretraining
from .separate import SeparateConfig, train_separate


class Strategy(NamedTuple):
    train: object
    config: type


STRATEGIES = {
    "molap": Strategy(train_molap, MolapConfig),
    "no_pretraining": Strategy(train_no_pretraining, NoPretrainingConfig),
    "separate": Strategy(train_separate, SeparateConfig),
    "dni": Strategy(train_dni, DNIConfig),
    "joint": Strategy(train_joint, JointConfig),
}
STRATEGY_NAMES = tuple(STRATEGIES)


def check_strategy(name):
    """Return ``name`` if it is a registered strategy, else raise."""
    if name not in STRATEGIES:
        raise ValueError(
            f"unknown strategy {name!r}; valid: {', '.join(STRATEGY_NAMES)}"
        )
    return name


def _replace(config, mapping, where):
    """A copy of dataclass ``config`` with the entries of ``mapping`` set.

    Nested dataclass fields take a dict of their own entries; list values
    of tuple fields become tuples.
    """
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(mapping) - fields)
    if unknown:
        raise ValueError(
            f"{where}: unknown settings {unknown}; valid: {sorted(fields)}"
        )
    changes = {}
    for key, value in mapping.items():
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            value = _replace(current, value, f"{where}.{key}")
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        changes[key] = value
    return dataclasses.replace(config, **changes)


def make_config(name, settings=None):
    """The config of strategy ``name`` from a dict of settings.

    Parameters
    ----------
    name : str
        A key of ``STRATEGIES``.
    settings : dict or config instance, optional
        Entries that replace the quick defaults; nested configs (MoLaP's
        ``pretrain`` and ``task_learning``) take dicts. For
        ``no_pretraining``, a ``pretrain`` dict gives the network's ``N``,
        ``module_sizes`` and ``g`` (MoLaP's shape), its other entries are
        ignored. An instance of the config class is returned as it is.

    Raises
    ------
    ValueError
        On an unknown strategy or setting, naming the valid ones.
    """
    config_class = STRATEGIES[check_strategy(name)].config
    if isinstance(settings, config_class):
        return settings
    settings = dict(settings or {})
    if name == "no_pretraining" and "pretrain" in settings:
        shape = settings.pop("pretrain")
        for key in ("N", "module_sizes", "g"):
            if key in shape:
                settings.setdefault(key, shape[key])
    return _replace(config_class(), settings, name)


def with_steps_per_task(name, config, steps, n_tasks):
    """A copy of ``config`` with ``steps`` optimiser steps per task.

    The joint network learns all tasks together: it gets ``steps *
    n_tasks`` steps, as many as the others take over all tasks.
    """
    check_strategy(name)
    if name in ("molap", "no_pretraining"):
        learning = dataclasses.replace(config.task_learning, steps=steps)
        return dataclasses.replace(config, task_learning=learning)
    if name == "joint":
        return dataclasses.replace(config, steps=steps * n_tasks)
    return dataclasses.replace(config, steps=steps)


def train_strategy(name, tasks, rng, config=None, verbose=True):
    """Train strategy ``name``; see each ``train_<name>``."""
    return STRATEGIES[check_strategy(name)].train(tasks, rng, config, verbose)


def add_command(subparsers):
    """Add ``molap-np compare``."""
    from .. import comparison

    comparison.add_compare_command(subparsers)


__all__ = [
    "STRATEGIES",
    "STRATEGY_NAMES",
    "StrategyResult",
    "TaskNetwork",
    "add_command",
    "check_strategy",
    "make_config",
    "train_strategy",
    "with_steps_per_task",
]
