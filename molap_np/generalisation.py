"""Generalisation to a task the modules never saw (MOLAP.md section 8).

A *fold* holds tasks out of the corpus. The corpus statistics (CCA) and the
pre-training of the modules use the remaining tasks only; the first held-out
task is then learned on the frozen modules as in section 4 (fresh W_in,
W_out, b_out, h0; J and b fixed)::

    leave_one_out    held out: task i                    learned: task i
    leave_two_out    held out: task i and task i + 1     learned: task i
                     (corpus order, cyclically)

Every task is the learned task of exactly one fold per mode. In leave-two-out
the second held-out task is not learned: one learned task per fold keeps the
cost of the two modes equal and gives one entry per task and mode.

The held-out task is compared with *reference conditions*, each learning the
same task with the same step budget:

    molap            modules pre-trained on the whole corpus (all nine)
    no_pretraining   the random J and b that pre-training starts from
                     (g = 1.5, same module sizes): does pre-training matter?
    separate         a fresh network of N = 200, every weight trained

Scores. Each learned task is scored on a test batch of ``test_trials``
trials with both criteria of ``molap_np.metrics``. Its learning curve is the
paper accuracy on the evaluation batch of task learning (every
``eval_every`` steps), and ``steps_to_criterion`` is the first evaluated
step at which it reaches 90 % (``None`` if it never does). The curve is
sampled every ``eval_every`` steps, so that is the resolution of the count;
with a cosine learning-rate schedule the count also depends on the budget.

Common random numbers. Given an integer ``seed``, every fold and reference
draws from generators named by (seed, purpose, task), the same in every
condition: the pre-training stream is ``default_rng(seed)`` in every fold and
in the ``molap`` reference (as ``molap-np pretrain --seed``), so that two
pre-trainings differ only by the data of the held-out tasks; the held-out
task's fresh weights and training batches, and its test batch, are the same
in every condition that learns on frozen modules. Differences between
conditions then come from what the conditions change, not from the draw.

How much the corpus statistics move (``corpus_shift``). The whole-trial CCA
of section 3 is fitted on the full corpus (X with 25 columns, Y with 22) and
on the same trials without the held-out tasks (only their columns are
dropped). On a fresh full-corpus batch X, the full fit's variates are
``U = X_s A`` and the leave-out fit's are ``U' = X'_s A'``, where X'_s holds
only the columns the leave-out fit knows, standardised by that fit's means
and scales (``CCAResult.transform_x``). Components are matched by
the permutation that maximises the summed absolute correlation between U_j
and U'_pi(j); the report gives that matched |corr(U_j, U'_pi(j))|, and the
R^2 of the least-squares prediction of U_j from all r leave-out variates
(with intercept), which is indifferent to a rotation among components of
nearly equal canonical correlation. The same for V and Y.

Running it. ``generalisation_study`` runs every fold and reference, in
worker processes if asked. A pipeline can instead run ``run_fold`` per fold
as an independent unit (``fold_unit``), turn strategies it has already
trained into references with ``reference_from_strategy``, and assemble the
per-fold dicts with ``summarise``, then ``markdown_table``,
``corpus_shift_table``, ``paired_difference``, ``plot_generalisation`` and
``plot_curves``.
"""

import argparse
import copy
import hashlib
import itertools
import os
import time
from dataclasses import asdict, replace

import numpy as np

from .cca import fit_cca
from .primitives import (
    DESIGNS,
    PretrainConfig,
    check_design,
    make_primitives,
    pretrain,
)
from .rnn import init_params
from .strategies.base import check_tasks
from .strategies.separate import SeparateConfig, train_separate
from .task_learning import TaskLearningConfig, learn_task
from .tasks import TASK_NAMES, TASK_SIZES, make_batch, make_corpus_batch

MODES = ("leave_one_out", "leave_two_out")
REFERENCES = ("molap", "no_pretraining", "separate")
CONDITIONS = MODES + REFERENCES
CRITERION = 0.9
_CRITERIA = ("paper_accuracy", "strict_accuracy")
# Index of each purpose in the seed sequence of ``seeded_rng``.
PURPOSES = {"task": 1, "test": 2, "separate": 3, "corpus": 4}


# ----------------------------------------------------------------------------
# Which tasks a fold holds out


def check_mode(mode):
    """Return ``mode`` if it is one of ``MODES``, else raise ValueError."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    return mode


def held_out_tasks(held_out, mode="leave_one_out", corpus=TASK_NAMES):
    """The tasks a fold hides from the corpus statistics and pre-training.

    Parameters
    ----------
    held_out : str
        The task the fold learns; one of ``corpus``.
    mode : {"leave_one_out", "leave_two_out"}
    corpus : sequence of str
        The whole corpus, in order.

    Returns
    -------
    tuple of str
        ``(held_out,)``, or ``(held_out, next task in corpus, cyclically)``.
    """
    corpus = check_tasks(corpus)
    if held_out not in corpus:
        raise ValueError(
            f"held-out task {held_out!r} is not in the corpus; "
            f"valid: {', '.join(corpus)}"
        )
    if check_mode(mode) == "leave_one_out":
        return (held_out,)
    if len(corpus) < 3:
        raise ValueError("leave-two-out needs a corpus of at least 3 tasks")
    following = corpus[(corpus.index(held_out) + 1) % len(corpus)]
    return (held_out, following)


def pretraining_tasks(held_out, mode="leave_one_out", corpus=TASK_NAMES):
    """The corpus without the fold's held-out tasks, in corpus order."""
    hidden = held_out_tasks(held_out, mode, corpus)
    return tuple(t for t in corpus if t not in hidden)


# ----------------------------------------------------------------------------
# Random streams


def seeded_rng(seed, purpose, task=None):
    """The generator of one purpose in a study seeded with ``seed``.

    ``purpose`` is one of ``PURPOSES`` (``task``: a task's fresh weights and
    training batches; ``test``: its test batch; ``separate``: the separate
    network's weights and batches; ``corpus``: the batch that measures the
    corpus shift). Task learning and its test batch use the same streams as
    ``primitives.compare_designs``.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; valid: {list(PURPOSES)}")
    index = 0 if task is None else TASK_NAMES.index(task)
    return np.random.default_rng([int(seed), PURPOSES[purpose], index])


def _streams(rng, seed, task):
    """Generators for pre-training, the task, its test and the corpus shift."""
    if (rng is None) == (seed is None):
        raise ValueError("pass exactly one of rng (a Generator) and seed (an int)")
    if seed is not None:
        streams = {p: seeded_rng(seed, p, task) for p in PURPOSES}
        # One corpus batch for every fold, so their shifts compare.
        streams["corpus"] = seeded_rng(seed, "corpus")
        return {"pretrain": np.random.default_rng(int(seed)), **streams}
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng)}")
    children = rng.spawn(len(PURPOSES) + 1)
    return dict(zip(("pretrain", *PURPOSES), children))


# ----------------------------------------------------------------------------
# Learning curves


def steps_to_criterion(steps, accuracy, threshold=CRITERION):
    """The first evaluated step at which ``accuracy`` reaches ``threshold``.

    Parameters
    ----------
    steps : sequence of int, shape (n,)
        Optimiser steps after which the accuracy was measured, increasing.
    accuracy : sequence of float, shape (n,)
    threshold : float

    Returns
    -------
    int or None
        ``None`` if the curve never reaches ``threshold``.
    """
    steps, accuracy = np.asarray(steps), np.asarray(accuracy, dtype=float)
    if steps.shape != accuracy.shape or steps.ndim != 1:
        raise ValueError(
            f"steps and accuracy must be 1-d of equal length, got shapes "
            f"{steps.shape} and {accuracy.shape}"
        )
    if np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing")
    reached = np.flatnonzero(accuracy >= threshold)
    return int(steps[reached[0]]) if reached.size else None


def _curve(eval_steps, evals):
    return {
        "steps": [int(s) for s in eval_steps],
        "paper_accuracy": [float(e["paper_accuracy"]) for e in evals],
        "strict_accuracy": [float(e["strict_accuracy"]) for e in evals],
    }


def _entry(scores, curve, seconds, test_trials):
    """One learned task's result, JSON-ready."""
    return {
        "paper_accuracy": float(scores["paper_accuracy"]),
        "strict_accuracy": float(scores["strict_accuracy"]),
        "test_trials": int(test_trials),
        "budget": curve["steps"][-1] if curve["steps"] else 0,
        "steps_to_criterion": steps_to_criterion(
            curve["steps"], curve["paper_accuracy"]
        ),
        "curve": curve,
        "seconds": float(seconds),
    }


def learn_and_score(base, task, rng, test, task_config=None, module_sizes=None):
    """Learn ``task`` on the frozen J, b of ``base``; score it on ``test``.

    Parameters
    ----------
    base : dict of ndarray
        A whole network (``rnn.check_params``); its ``J`` (N, N) and ``b``
        (N,) are kept, the rest replaced.
    task : str
    rng : numpy.random.Generator
        Fresh task weights, evaluation batch and training batches.
    test : TaskBatch
        The test batch of ``task``.
    task_config : TaskLearningConfig, optional
    module_sizes : sequence of int, optional

    Returns
    -------
    dict
        JSON-ready: ``paper_accuracy``, ``strict_accuracy`` (on ``test``),
        ``test_trials``, ``budget`` (steps), ``steps_to_criterion``,
        ``curve`` (``steps``, ``paper_accuracy``, ``strict_accuracy`` on the
        evaluation batch) and ``seconds``.
    """
    network, log = learn_task(
        base, task, rng, task_config, module_sizes=module_sizes, verbose=False
    )
    scores = network.evaluate(test)
    curve = _curve(log.eval_steps, log.evals)
    return _entry(scores, curve, log.seconds, test.batch_size)


# ----------------------------------------------------------------------------
# How much the corpus statistics move


def corpus_columns(tasks=TASK_NAMES):
    """Owner of each column of a corpus batch's X and Y.

    Returns
    -------
    x_owner, y_owner : list of str
        The task of each input column (25 for the full corpus) and each
        target column (22), in the order of ``CorpusBatch.inputs``.
    """
    ordered = [t for t in TASK_NAMES if t in tasks]
    x_owner = [t for t in ordered for _ in range(TASK_SIZES[t][0])]
    y_owner = [t for t in ordered for _ in range(TASK_SIZES[t][1])]
    return x_owner, y_owner


def _rows(signal):
    return signal.reshape(-1, signal.shape[-1])  # (T, B, C) -> (T B, C)


def match_components(full, part):
    """Pair each full-corpus variate with a leave-out variate.

    Parameters
    ----------
    full, part : ndarray, shape (n, r)
        Variates of the same rows.

    Returns
    -------
    order : list of int
        ``part[:, order[j]]`` is matched with ``full[:, j]``; the permutation
        maximises the summed absolute correlation.
    matched : list of float, shape (r,)
        |corr(full_j, part_order[j])|.
    r2 : list of float, shape (r,)
        R^2 of the least-squares fit of ``full_j`` by all columns of
        ``part`` and an intercept.
    """
    r = full.shape[1]
    both = np.corrcoef(full.T, part.T)
    cross = np.abs(both[:r, r:])  # (r, r): full j against part k
    order = max(
        itertools.permutations(range(r)),
        key=lambda perm: cross[np.arange(r), perm].sum(),
    )
    design = np.column_stack([np.ones(len(part)), part])
    coef, *_ = np.linalg.lstsq(design, full, rcond=None)
    residual = ((full - design @ coef) ** 2).sum(axis=0)
    total = ((full - full.mean(axis=0)) ** 2).sum(axis=0)
    return (
        [int(k) for k in order],
        [float(cross[j, k]) for j, k in enumerate(order)],
        (1.0 - residual / total).tolist(),
    )


def corpus_shift(held_out, rng, eval_rng, config=None, corpus=TASK_NAMES):
    """How the whole-trial CCA changes when ``held_out`` tasks are removed.

    This is the CCA of design ``cca`` (MOLAP.md section 3) whatever design
    a fold pre-trains with; a fold reports its own design's canonical
    correlations under ``pretraining``. The comparison itself is defined in
    the module docstring.

    Parameters
    ----------
    held_out : sequence of str
        Tasks whose columns the leave-out fit does not see.
    rng : numpy.random.Generator
        Draws the corpus both fits use (as ``primitives.pretrain`` does
        first, so the same generator state gives pre-training's own CCA).
    eval_rng : numpy.random.Generator
        Draws the fresh full-corpus batch the variates are compared on.
    config : PretrainConfig, optional
        ``corpus_trials``, ``r``, ``reg`` and ``timing`` are used.
    corpus : sequence of str
        The full corpus.

    Returns
    -------
    dict
        JSON-ready: ``held_out``; ``full_correlations`` and
        ``leave_out_correlations`` (r each); ``x_columns`` and
        ``y_columns`` (known / total); for ``u`` and ``v``: ``order``,
        ``matched`` and ``r2`` (see ``match_components``).
    """
    config = config or PretrainConfig()
    corpus = check_tasks(corpus)
    x_known, y_known = _known_columns(held_out, corpus)
    batch = make_corpus_batch(config.corpus_trials, rng, corpus, timing=config.timing)
    X, Y = _rows(batch.inputs), _rows(batch.targets)
    full = fit_cca(X, Y, r=config.r, reg=config.reg)
    part = fit_cca(X[:, x_known], Y[:, y_known], r=config.r, reg=config.reg)

    fresh = make_corpus_batch(
        config.corpus_trials, eval_rng, corpus, timing=config.timing
    )
    X, Y = _rows(fresh.inputs), _rows(fresh.targets)
    shift = {
        "held_out": list(held_out),
        "full_correlations": full.correlations.tolist(),
        "leave_out_correlations": part.correlations.tolist(),
        "x_columns": [int(x_known.sum()), int(x_known.size)],
        "y_columns": [int(y_known.sum()), int(y_known.size)],
    }
    pairs = (
        ("u", full.transform_x(X), part.transform_x(X[:, x_known])),
        ("v", full.transform_y(Y), part.transform_y(Y[:, y_known])),
    )
    for name, full_variates, part_variates in pairs:
        order, matched, r2 = match_components(full_variates, part_variates)
        shift[name] = {"order": order, "matched": matched, "r2": r2}
    return shift


def _known_columns(held_out, corpus):
    """Boolean masks of the X and Y columns owned by kept tasks."""
    x_owner, y_owner = corpus_columns(corpus)
    x_known = np.array([t not in held_out for t in x_owner])
    y_known = np.array([t not in held_out for t in y_owner])
    return x_known, y_known


# ----------------------------------------------------------------------------
# One fold


def recurrent_fingerprint(params):
    """SHA-256 of the bytes of J and b: equal exactly when both are."""
    digest = hashlib.sha256()
    for name in ("J", "b"):
        digest.update(np.ascontiguousarray(params[name], dtype=np.float64).tobytes())
    return digest.hexdigest()


def _pretraining_info(result):
    return {
        "tasks": list(result.tasks),
        "fits": [float(f) for f in result.fits],
        "canonical_correlations": [float(c) for c in result.canonical_correlations],
        "seconds": float(result.seconds),
        "recurrent_sha256": recurrent_fingerprint(result.params),
    }


def fold_pretraining(
    held_out,
    rng,
    design="cca",
    pretrain_config=None,
    mode="leave_one_out",
    corpus=TASK_NAMES,
    verbose=False,
):
    """Pre-train a fold's modules on the corpus without its held-out tasks.

    Returns
    -------
    PretrainResult
        Its ``tasks`` are the pre-training tasks; no trial of a held-out
        task was generated to make it.
    """
    kept = pretraining_tasks(held_out, mode, corpus)
    return pretrain(check_design(design), rng, pretrain_config, kept, verbose)


def run_fold(
    held_out,
    rng=None,
    *,
    seed=None,
    design="cca",
    pretrain_config=None,
    task_config=None,
    mode="leave_one_out",
    test_trials=500,
    corpus=TASK_NAMES,
    test_batch=None,
    verbose=False,
):
    """One fold: pre-train without the held-out tasks, then learn the first.

    Parameters
    ----------
    held_out : str
        The task the fold learns (and the first it holds out).
    rng : numpy.random.Generator, optional
        Source of every draw (split into independent children).
    seed : int, optional
        Instead of ``rng``: common random numbers shared with every other
        fold and reference of the same seed (see the module docstring).
    design : str
        Primitive design, one of ``primitives.DESIGNS``.
    pretrain_config : PretrainConfig, optional
    task_config : TaskLearningConfig, optional
    mode : {"leave_one_out", "leave_two_out"}
    test_trials : int
        Trials of the final test batch.
    corpus : sequence of str
        The corpus, in order.
    test_batch : TaskBatch, optional
        The held-out task's test batch (say, the one every strategy is
        scored on); drawn from the fold's test stream if omitted, and then
        ``test_trials`` trials long.
    verbose : bool
        One line when the fold is done.

    Returns
    -------
    dict
        JSON-ready: ``kind`` ("fold"), ``mode``, ``design``, ``seed``,
        ``held_out`` (every hidden task), ``task`` (the learned one),
        ``pretraining`` (tasks, fits, canonical correlations, seconds,
        ``recurrent_sha256``), ``corpus_shift`` (see ``corpus_shift``),
        ``result`` (see ``learn_and_score``) and ``settings``.
    """
    start = time.perf_counter()
    pretrain_config = pretrain_config or PretrainConfig()
    task_config = task_config or TaskLearningConfig()
    hidden = held_out_tasks(held_out, mode, corpus)
    streams = _streams(rng, seed, held_out)
    test = _test_batch(held_out, test_batch, test_trials, streams["test"])
    statistics_rng = copy.deepcopy(streams["pretrain"])

    pretrained = fold_pretraining(
        held_out, streams["pretrain"], design, pretrain_config, mode, corpus
    )
    shift = corpus_shift(
        hidden, statistics_rng, streams["corpus"], pretrain_config, corpus
    )
    result = learn_and_score(
        pretrained.params,
        held_out,
        streams["task"],
        test,
        task_config,
        pretrained.module_sizes,
    )
    fold = {
        "kind": "fold",
        "mode": mode,
        "design": design,
        "seed": None if seed is None else int(seed),
        "held_out": list(hidden),
        "task": held_out,
        "pretraining": _pretraining_info(pretrained),
        "corpus_shift": shift,
        "result": result,
        "settings": _settings(pretrain_config, task_config, test_trials),
        "seconds": time.perf_counter() - start,
    }
    if verbose:
        print(_line(f"{mode} {design}", held_out, result))
    return fold


def _test_batch(task, batch, trials, rng):
    """``batch`` after checking it is ``task``'s, or a new one of ``trials``."""
    if batch is None:
        return make_batch(task, trials, rng)
    if getattr(batch, "task", None) != task:
        raise ValueError(
            f"test_batch must be a TaskBatch of {task}, got "
            f"{getattr(batch, 'task', type(batch).__name__)}"
        )
    return batch


def _settings(pretrain_config, task_config, test_trials, separate_config=None):
    settings = {
        "pretrain_config": _plain(asdict(pretrain_config)),
        "task_config": asdict(task_config),
        "test_trials": int(test_trials),
    }
    if separate_config is not None:
        settings["separate_config"] = asdict(separate_config)
    return settings


def _plain(config):
    config["module_sizes"] = [int(m) for m in config["module_sizes"]]
    return config


def _line(label, task, result):
    reached = result["steps_to_criterion"]
    return (
        f"{label:<28}{task:<15}paper {result['paper_accuracy']:.3f}  "
        f"strict {result['strict_accuracy']:.3f}  "
        f"90% at {'-' if reached is None else reached}/{result['budget']}"
    )


def fold_unit(out_dir, rng, **kwargs):
    """``run_fold`` as a ``runner.Unit`` function.

    ``out_dir`` is unused. With an int ``seed`` among ``kwargs`` the fold
    draws common random numbers from it and ``rng`` is not used.
    """
    return run_fold(rng=_unit_rng(rng, kwargs), **kwargs)


def _unit_rng(rng, kwargs):
    return None if kwargs.get("seed") is not None else rng


# ----------------------------------------------------------------------------
# Reference conditions


def reference_base(
    condition, rng, design="cca", pretrain_config=None, corpus=TASK_NAMES
):
    """The frozen J and b of the ``molap`` or ``no_pretraining`` condition.

    ``molap`` pre-trains on the whole corpus. ``no_pretraining`` gives the
    random weights that very pre-training starts from: it draws the design's
    corpus statistics and then the initial weights from the pre-training
    generator, in ``pretrain``'s order, so its J equals the pre-trained J
    outside the modules' diagonal blocks, and its b is the same.

    Parameters
    ----------
    condition : {"molap", "no_pretraining"}
    rng : numpy.random.Generator or int
        The pre-training generator; an int seed stands for
        ``numpy.random.default_rng(seed)``, the stream of the folds run
        with that seed.
    design : str
    pretrain_config : PretrainConfig, optional
    corpus : sequence of str
        The tasks ``molap`` pre-trains on.

    Returns
    -------
    params : dict of ndarray
        A whole network; task learning keeps its ``J`` (N, N) and ``b``
        (N,) and replaces the rest.
    module_sizes : tuple of int
    info : dict
        JSON-ready: pre-training tasks, fits and correlations (empty for
        the control) and ``recurrent_sha256``.
    """
    config = pretrain_config or PretrainConfig()
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(int(rng))
    sizes = tuple(int(m) for m in config.module_sizes)
    if condition == "molap":
        result = pretrain(check_design(design), rng, config, corpus, False)
        return result.params, sizes, _pretraining_info(result)
    if condition != "no_pretraining":
        raise ValueError(
            f"condition {condition!r} has no frozen base; valid: molap, no_pretraining"
        )
    primitives = make_primitives(design, rng, config, corpus)
    params = init_params(
        primitives.n_in, config.N, 1, rng, g=config.g, module_sizes=sizes
    )
    info = {"tasks": [], "fits": [], "canonical_correlations": []}
    info["recurrent_sha256"] = recurrent_fingerprint(params)
    return params, sizes, info


def separate_config_for(task_config):
    """A separate network's config with the same steps, batches and curve."""
    return SeparateConfig(
        steps=task_config.steps,
        batch_size=task_config.batch_size,
        eval_every=task_config.eval_every,
        eval_batch_size=task_config.eval_batch_size,
    )


def run_reference(
    task,
    condition,
    rng=None,
    *,
    seed=None,
    base=None,
    design="cca",
    pretrain_config=None,
    task_config=None,
    separate_config=None,
    test_trials=500,
    corpus=TASK_NAMES,
    test_batch=None,
    verbose=False,
):
    """Learn ``task`` in a reference condition and score it.

    Parameters
    ----------
    task : str
    condition : {"molap", "no_pretraining", "separate"}
    rng, seed
        As in ``run_fold``; with the same seed, the task's fresh weights,
        batches and test batch equal those of the folds.
    base : tuple, optional
        ``(params, module_sizes, info)`` of ``reference_base``, to share one
        pre-training between tasks; made here if omitted (``molap`` then
        pre-trains once per call). Not used by ``separate``.
    design, pretrain_config, task_config, test_trials, corpus, test_batch
        As in ``run_fold``.
    separate_config : SeparateConfig, optional
        ``separate_config_for(task_config)`` by default: the same number of
        steps, every weight trained at the separate networks' own rate.

    Returns
    -------
    dict
        JSON-ready: ``kind`` ("reference"), ``condition``, ``design``,
        ``seed``, ``task``, ``pretraining`` (or ``None``), ``result`` (see
        ``learn_and_score``) and ``settings``.
    """
    if condition not in REFERENCES:
        raise ValueError(
            f"unknown reference {condition!r}; valid: {', '.join(REFERENCES)}"
        )
    pretrain_config = pretrain_config or PretrainConfig()
    task_config = task_config or TaskLearningConfig()
    streams = _streams(rng, seed, task)
    test = _test_batch(task, test_batch, test_trials, streams["test"])
    info = None
    if condition == "separate":
        separate_config = separate_config or separate_config_for(task_config)
        result = _separate_result(task, streams["separate"], test, separate_config)
    else:
        if base is None:
            base = reference_base(
                condition, streams["pretrain"], design, pretrain_config, corpus
            )
        params, sizes, info = base
        result = learn_and_score(
            params, task, streams["task"], test, task_config, sizes
        )
    if verbose:
        print(_line(condition, task, result))
    return {
        "kind": "reference",
        "condition": condition,
        "design": design if condition != "separate" else None,
        "seed": None if seed is None else int(seed),
        "task": task,
        "pretraining": info,
        "result": result,
        "settings": _settings(
            pretrain_config, task_config, test_trials, separate_config
        ),
    }


def _separate_result(task, rng, test, config):
    trained = train_separate([task], rng, config, verbose=False)
    curve = trained.curves[task]
    curve = {key: curve[key] for key in ("steps", *_CRITERIA)}
    scores = trained.networks[task].evaluate(test)
    return _entry(scores, curve, trained.seconds, test.batch_size)


def reference_unit(out_dir, rng, **kwargs):
    """``run_reference`` as a ``runner.Unit`` function, like ``fold_unit``.

    Without a ``base`` among ``kwargs``, a ``molap`` unit pre-trains on its
    own (with a seed, every such unit pre-trains identically).
    """
    return run_reference(rng=_unit_rng(rng, kwargs), **kwargs)


def reference_from_strategy(condition, result, test_batches):
    """Reference entries from a strategy the pipeline has already trained.

    Parameters
    ----------
    condition : {"molap", "no_pretraining", "separate"}
    result : StrategyResult
        Its ``networks`` and ``curves`` (``steps`` and ``paper_accuracy``
        at least) per task.
    test_batches : dict of str to TaskBatch
        The test batch of each task to score.

    Returns
    -------
    list of dict
        One reference dict (as ``run_reference`` returns, without
        ``settings``) per task that has a network, a curve and a batch.
    """
    if condition not in REFERENCES:
        raise ValueError(
            f"unknown reference {condition!r}; valid: {', '.join(REFERENCES)}"
        )
    references = []
    for task, batch in test_batches.items():
        if task not in result.networks or task not in result.curves:
            continue
        curve = result.curves[task]
        curve = {key: list(curve[key]) for key in ("steps", *_CRITERIA) if key in curve}
        scores = result.networks[task].evaluate(batch)
        references.append(
            {
                "kind": "reference",
                "condition": condition,
                "task": task,
                "pretraining": None,
                "result": _entry(scores, curve, 0.0, batch.batch_size),
            }
        )
    return references


# ----------------------------------------------------------------------------
# The whole study


def _serial_or_pool(workers):
    """A process pool of ``workers``, or an in-process stand-in for 1."""
    if workers <= 1:
        return _InProcess()
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


class _InProcess:
    """The part of an executor the study uses, running each call at once."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, function, *args, **kwargs):
        return _Done(function(*args, **kwargs))


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def generalisation_study(
    tasks=TASK_NAMES,
    seed=0,
    *,
    corpus=TASK_NAMES,
    design="cca",
    modes=MODES,
    references=REFERENCES,
    pretrain_config=None,
    task_config=None,
    separate_config=None,
    test_trials=500,
    workers=1,
    verbose=True,
):
    """Every fold of ``modes`` and every reference condition, for ``tasks``.

    Parameters
    ----------
    tasks : sequence of str
        The tasks to learn, each as the held-out task of one fold per mode
        and in every reference condition.
    corpus : sequence of str
        The whole corpus, in order (it must contain ``tasks``).
    seed : int
        Seed of the common random numbers (see the module docstring).
    design : str
    modes : sequence of str
        Subset of ``MODES``.
    references : sequence of str
        Subset of ``REFERENCES``.
    pretrain_config, task_config, separate_config, test_trials
        As in ``run_fold`` and ``run_reference``.
    workers : int
        Processes; the results do not depend on it.
    verbose : bool
        One line per learned task.

    Returns
    -------
    dict
        ``{"folds": [...], "references": [...], "summary": summarise(...),
        "seconds": ...}``, JSON-ready.
    """
    start = time.perf_counter()
    tasks, corpus = check_tasks(tasks), check_tasks(corpus)
    modes = [check_mode(m) for m in modes]
    for task in tasks:
        held_out_tasks(task, "leave_one_out", corpus)
    common = {"seed": seed, "design": design, "pretrain_config": pretrain_config}
    common.update(task_config=task_config, test_trials=test_trials, corpus=corpus)

    with _serial_or_pool(workers) as pool:
        bases = {
            c: pool.submit(reference_base, c, seed, design, pretrain_config, corpus)
            for c in references
            if c != "separate"
        }
        folds = [
            pool.submit(run_fold, t, mode=m, verbose=verbose, **common)
            for m in modes
            for t in tasks
        ]
        jobs = [
            pool.submit(
                run_reference,
                t,
                c,
                base=None if c == "separate" else bases[c].result(),
                separate_config=separate_config,
                verbose=verbose,
                **common,
            )
            for c in references
            for t in tasks
        ]
        folds = [f.result() for f in folds]
        refs = [j.result() for j in jobs]
    return {
        "folds": folds,
        "references": refs,
        "summary": summarise(folds, refs),
        "seconds": time.perf_counter() - start,
    }


# ----------------------------------------------------------------------------
# Summary, table and figures


def summarise(folds, references=()):
    """Gather fold and reference results into one table per task.

    Parameters
    ----------
    folds : iterable of dict
        What ``run_fold`` returned, any number of modes and tasks.
    references : iterable of dict
        What ``run_reference`` or ``reference_from_strategy`` returned.

    Returns
    -------
    dict
        JSON-ready: ``tasks`` (corpus order), ``conditions`` (present ones,
        in ``CONDITIONS`` order), ``criterion``, ``results[task][condition]``
        (the result entries), ``mean[condition]`` (mean accuracies over the
        tasks it has, tasks that reached the criterion, and count),
        ``corpus_shift[mode][task]`` and ``budgets[condition]`` (the
        distinct step budgets seen).
    """
    results, shifts = {}, {}
    for fold in folds:
        _put(results, fold["task"], fold["mode"], fold["result"])
        shifts.setdefault(fold["mode"], {})[fold["task"]] = fold["corpus_shift"]
    for ref in references:
        _put(results, ref["task"], ref["condition"], ref["result"])
    tasks = [t for t in TASK_NAMES if t in results]
    present = {c for entry in results.values() for c in entry}
    conditions = [c for c in CONDITIONS if c in present]
    return {
        "tasks": tasks,
        "conditions": conditions,
        "criterion": CRITERION,
        "results": {t: results[t] for t in tasks},
        "mean": {c: _condition_mean(results, tasks, c) for c in conditions},
        "corpus_shift": shifts,
        "budgets": {
            c: sorted({results[t][c]["budget"] for t in tasks if c in results[t]})
            for c in conditions
        },
    }


def _put(results, task, condition, entry):
    by_condition = results.setdefault(task, {})
    if condition in by_condition:
        raise ValueError(
            f"two results for {task} in condition {condition!r}: summarise one "
            f"design and seed at a time"
        )
    by_condition[condition] = entry


def _condition_mean(results, tasks, condition):
    entries = [results[t][condition] for t in tasks if condition in results[t]]
    return {
        "paper_accuracy": float(np.mean([e["paper_accuracy"] for e in entries])),
        "strict_accuracy": float(np.mean([e["strict_accuracy"] for e in entries])),
        "reached": sum(e["steps_to_criterion"] is not None for e in entries),
        "tasks": len(entries),
    }


def paired_difference(summary, condition, reference="molap", key="paper_accuracy"):
    """Per-task differences ``condition - reference`` of one score.

    Returns
    -------
    dict
        ``tasks`` (those both conditions have), ``differences`` (one per
        task), ``mean`` and ``std`` (sample standard deviation over tasks;
        0 for one task).
    """
    results = summary["results"]
    tasks = [t for t in summary["tasks"] if {condition, reference} <= set(results[t])]
    if not tasks:
        raise ValueError(f"no task has both {condition!r} and {reference!r}")
    values = [results[t][condition][key] - results[t][reference][key] for t in tasks]
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {
        "tasks": tasks,
        "differences": values,
        "mean": float(np.mean(values)),
        "std": std,
    }


LABELS = {
    "leave_one_out": "leave-one-out",
    "leave_two_out": "leave-two-out",
    "molap": "MoLaP (all nine)",
    "no_pretraining": "no pre-training",
    "separate": "separate N=200",
}


def _cell(entry):
    if entry is None:
        return "–"
    reached = entry["steps_to_criterion"]
    steps = "not reached" if reached is None else f"{reached}"
    return f"{entry['paper_accuracy']:.2f} / {entry['strict_accuracy']:.2f} / {steps}"


def markdown_table(summary):
    """The held-out task's scores per condition, as a Markdown table.

    A cell reads ``paper / strict / steps to 90 % paper accuracy``.
    """
    conditions = summary["conditions"]
    header = "| task | " + " | ".join(LABELS[c] for c in conditions) + " |"
    lines = [header, "|---" * (len(conditions) + 1) + "|"]
    for task in summary["tasks"]:
        entries = summary["results"][task]
        cells = [_cell(entries.get(c)) for c in conditions]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    means = []
    for c in conditions:
        m = summary["mean"][c]
        means.append(
            f"{m['paper_accuracy']:.2f} / {m['strict_accuracy']:.2f} / "
            f"{m['reached']} of {m['tasks']}"
        )
    lines.append("| **mean** | " + " | ".join(means) + " |")
    budgets = ", ".join(
        f"{LABELS[c]} {'/'.join(map(str, b))}" for c, b in summary["budgets"].items()
    )
    lines.append("")
    lines.append(
        f"Cells: paper accuracy / strict accuracy / first evaluated step at "
        f"{summary['criterion']:.0%} paper accuracy (mean row: tasks that "
        f"reached it). Step budgets: {budgets}."
    )
    return "\n".join(lines)


def corpus_shift_table(summary, mode="leave_one_out"):
    """How the whole-trial CCA moves per held-out task, as Markdown.

    Per component: the leave-out canonical correlation, the matched
    correlation of the full and leave-out variates, and 1 - R^2 of the full
    variate predicted from all leave-out variates (see ``corpus_shift``).
    """
    shifts = summary["corpus_shift"].get(mode, {})
    lines = [
        "| held out | canonical correlations | matched corr U | 1 - R² U "
        "| matched corr V | 1 - R² V |",
        "|---|---|---|---|---|---|",
    ]
    for shift in shifts.values():
        cells = [_numbers(shift["leave_out_correlations"], ".4f")]
        for name in ("u", "v"):
            cells.append(_numbers(shift[name]["matched"], ".4f"))
            cells.append(_numbers([1 - x for x in shift[name]["r2"]], ".1e"))
        lines.append(f"| {'+'.join(shift['held_out'])} | " + " | ".join(cells) + " |")
    if shifts:
        full = next(iter(shifts.values()))["full_correlations"]
        lines += ["", f"Full corpus canonical correlations: {_numbers(full, '.4f')}"]
    return "\n".join(lines)


def _numbers(values, spec):
    return " ".join(format(x, spec) for x in values)


def _style(condition):
    """Colour, hatch and transparency of a condition's bars and lines."""
    from .plotting import STRATEGY_COLORS

    if condition in MODES:
        color = STRATEGY_COLORS["molap"]
        return color, ("//" if condition == "leave_one_out" else "xx"), 0.55
    return STRATEGY_COLORS[condition], None, 1.0


def plot_generalisation(summary):
    """Held-out accuracy (both criteria) and steps to criterion per task.

    Bars are grouped by task, one per condition; MoLaP's leave-out modes
    share its colour, hatched. A task that never reached the criterion is
    drawn as an empty bar at its budget.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    tasks, conditions = summary["tasks"], summary["conditions"]
    fig, axes = plt.subplots(3, 1, figsize=(10, 8.5), sharex=True)
    width = 0.8 / max(len(conditions), 1)
    x = np.arange(len(tasks))
    for i, condition in enumerate(conditions):
        offset = x + (i - (len(conditions) - 1) / 2) * width
        _bars(axes, summary, tasks, condition, offset, width)
    for ax, label in zip(axes, ("paper accuracy", "strict accuracy")):
        ax.set_ylim(0, 1.02)
        ax.axhline(summary["criterion"], color="0.6", lw=0.8, ls="--")
        ax.set_ylabel(label)
    axes[2].set_ylabel(f"steps to {summary['criterion']:.0%} paper")
    axes[2].set_xticks(x, tasks, rotation=30, ha="right")
    axes[2].set_title("empty bar: not reached within the budget", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(conditions), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def _bars(axes, summary, tasks, condition, offset, width):
    color, hatch, alpha = _style(condition)
    entries = [summary["results"][t].get(condition) for t in tasks]
    for ax, key in zip(axes, _CRITERIA):
        values = [np.nan if e is None else e[key] for e in entries]
        ax.bar(
            offset,
            values,
            width,
            color=color,
            alpha=alpha,
            hatch=hatch,
            edgecolor=color,
            label=LABELS[condition],
        )
    for position, entry in zip(offset, entries):
        if entry is None:
            continue
        reached = entry["steps_to_criterion"]
        height = entry["budget"] if reached is None else reached
        axes[2].bar(
            position,
            height,
            width,
            hatch=hatch,
            edgecolor=color,
            color="none" if reached is None else color,
            alpha=1.0 if reached is None else alpha,
        )


def plot_curves(summary, tasks=None, ncols=3):
    """Learning curves (paper accuracy) of each task, one line per condition.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    tasks = list(tasks or summary["tasks"])
    ncols = min(ncols, len(tasks))
    nrows = int(np.ceil(len(tasks) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.5 * ncols, 2.6 * nrows), squeeze=False
    )
    for ax, task in zip(axes.flat, tasks):
        for condition in summary["conditions"]:
            if condition not in summary["results"][task]:
                continue
            curve = summary["results"][task][condition]["curve"]
            style = {"leave_one_out": "--", "leave_two_out": ":"}.get(condition, "-")
            ax.plot(
                curve["steps"],
                curve["paper_accuracy"],
                style,
                color=_style(condition)[0],
                label=LABELS[condition],
            )
        ax.axhline(summary["criterion"], color="0.6", lw=0.8)
        ax.set_title(task, fontsize=10)
        ax.set_ylim(0, 1.02)
    for ax in axes.flat[len(tasks) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("paper accuracy")
    axes.flat[0].legend(fontsize=6, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# Command line


def _cmd_generalise(args):
    import matplotlib

    matplotlib.use("Agg")
    from .files import atomic_write, write_json

    task_config = replace(TaskLearningConfig(), steps=args.steps)
    if args.batch_size:
        task_config = replace(task_config, batch_size=args.batch_size)
    pretrain_config = PretrainConfig()
    if args.pretrain_steps:
        pretrain_config = replace(pretrain_config, steps=args.pretrain_steps)
    study = generalisation_study(
        args.tasks,
        args.seed,
        design=args.design,
        modes=args.modes,
        references=args.references,
        pretrain_config=pretrain_config,
        task_config=task_config,
        test_trials=args.test_trials,
        workers=args.workers,
        verbose=not args.quiet,
    )
    _write_study(study, args.out, write_json, atomic_write)


def _write_study(study, out, write_json, atomic_write):
    os.makedirs(out, exist_ok=True)
    summary = study["summary"]
    write_json(os.path.join(out, "generalisation.json"), study)
    text = markdown_table(summary) + "\n\n" + corpus_shift_table(summary) + "\n"
    atomic_write(
        os.path.join(out, "generalisation.md"), lambda f: f.write(text.encode())
    )
    for name, fig in (
        ("generalisation.png", plot_generalisation(summary)),
        ("generalisation_curves.png", plot_curves(summary)),
    ):
        fig.savefig(os.path.join(out, name), dpi=120)
    print(text)
    print(f"wrote {out}/generalisation.json, .md, .png in {study['seconds']:.0f} s")


def add_command(subparsers):
    """Add ``molap-np generalise``."""
    sub = subparsers.add_parser(
        "generalise",
        help="learn each task on modules pre-trained without it",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub.add_argument("--design", default="cca", choices=DESIGNS)
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--steps", type=int, default=1000, help="steps per task")
    sub.add_argument("--batch-size", type=int, help="task batch (default: config)")
    sub.add_argument("--pretrain-steps", type=int, help="steps per module")
    sub.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    sub.add_argument(
        "--references", nargs="*", default=list(REFERENCES), choices=REFERENCES
    )
    sub.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    sub.add_argument("--test-trials", type=int, default=500)
    sub.add_argument("--workers", type=int, default=1, help="processes")
    sub.add_argument("--out", default="molap_results/generalisation", help="folder")
    sub.add_argument("--quiet", action="store_true", help="no progress lines")
    sub.set_defaults(func=_cmd_generalise)
