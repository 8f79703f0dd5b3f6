"""Comparing the strategies: accuracy per task, what each costs, curves.

``molap-np compare`` trains every strategy of ``molap_np.strategies`` on the
tasks, scores each on the same held-out batches and writes::

    comparison.json     the dict of ``compare`` (shape below)
    comparison.md       ``markdown_report``: summary, per-task accuracies,
                        DNI's accuracy matrix
    accuracy_paper.png, accuracy_strict.png, costs.png, curves.png,
    dni_matrix.png

The dict of ``compare``::

    {"tasks": [...], "test_trials": 500, "settings": {...},
     "strategies": {name: {"tasks": {task: {"paper_accuracy": ...,
                                            "strict_accuracy": ...}},
                           "mean": {"paper_accuracy": ..., ...},
                           "min": {"paper_accuracy": ..., ...},
                           "trainable_params": ..., "updates": ...,
                           "curves": {task: {"steps": [...],
                                             "paper_accuracy": [...],
                                             "strict_accuracy": [...],
                                             "loss_steps": [...],
                                             "loss": [...]}},
                           "extra": {...}}},
     "seconds": {name: ...}}

Cost of a run: with the quick defaults (nine tasks, 500 steps of 32
trials per task, MoLaP pre-trained fresh) ``molap-np compare --seed 0``
took 780 CPU-seconds over its two worker processes, about 6.5 minutes on
two otherwise idle cores; ``--steps 400`` takes about a fifth less.

Wall-clock times sit under ``seconds`` only: two runs with the same seed
give the same dict apart from that key. Each strategy draws from its own
generator, ``strategy_rng(seed, name)``, so adding a strategy, leaving one
out or running them in parallel changes no other strategy's numbers.
"""

import dataclasses
import os
import time
import zlib

import numpy as np

from .files import atomic_write, write_json
from .plotting import STRATEGY_COLORS, STRATEGY_LABELS
from .strategies import (
    STRATEGY_NAMES,
    check_strategy,
    make_config,
    train_strategy,
    with_steps_per_task,
)
from .strategies.base import check_tasks
from .tasks import TASK_NAMES, make_batch

CRITERIA = ("paper_accuracy", "strict_accuracy")
LABELS = STRATEGY_LABELS
# Rough training cost of each strategy relative to MoLaP's, at equal steps
# per task: the largest start first when strategies run in parallel.
RELATIVE_COST = {"dni": 2.2, "joint": 2.0, "separate": 2.0, "molap": 1.2}
MAX_LOSS_POINTS = 100
COLORS = STRATEGY_COLORS


def strategy_rng(seed, name):
    """The generator of strategy ``name`` (or of any named stream)."""
    key = zlib.crc32(f"strategy-{name}".encode())
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


def make_test_batches(tasks, rng, n=500):
    """One held-out batch of ``n`` trials per task, drawn in corpus order.

    Returns
    -------
    dict of str to TaskBatch
    """
    tasks = check_tasks(tasks)
    return {task: make_batch(task, n, rng) for task in TASK_NAMES if task in tasks}


def _thin_loss(loss):
    """At most MAX_LOSS_POINTS window means of a per-step loss."""
    loss = np.asarray(loss, dtype=float)
    if loss.size == 0:
        return [], []
    width = int(np.ceil(loss.size / MAX_LOSS_POINTS))
    starts = np.arange(0, loss.size, width)
    means = [float(loss[s : s + width].mean()) for s in starts]
    return [int(min(s + width, loss.size)) for s in starts], means


def _curves(curves):
    out = {}
    for task, curve in curves.items():
        entry = {k: list(v) for k, v in curve.items() if k != "loss"}
        entry["loss_steps"], entry["loss"] = _thin_loss(curve.get("loss", []))
        out[task] = entry
    return out


def _summary(scores, how):
    return {c: float(how([s[c] for s in scores.values()])) for c in CRITERIA}


def compare(results, test_batches):
    """Score trained strategies on shared test batches.

    Parameters
    ----------
    results : dict of str to StrategyResult
    test_batches : dict of str to TaskBatch
        One held-out batch per task (``make_test_batches``); every strategy
        must have a network for each.

    Returns
    -------
    dict
        JSON-ready, in the shape of the module docstring (``settings`` is
        left for the caller).
    """
    tasks = list(test_batches)
    out = {
        "tasks": tasks,
        "test_trials": int(next(iter(test_batches.values())).batch_size),
        "strategies": {},
        "seconds": {},
    }
    for name, result in results.items():
        missing = [task for task in tasks if task not in result.networks]
        if missing:
            raise ValueError(f"strategy {name!r} has no network for {missing}")
        scores = result.evaluate(test_batches)
        out["strategies"][name] = {
            "tasks": scores,
            "mean": _summary(scores, np.mean),
            "min": _summary(scores, np.min),
            "trainable_params": int(result.trainable_params),
            "updates": int(result.updates),
            "curves": _curves(result.curves),
            "extra": result.extra,
        }
        out["seconds"][name] = float(result.seconds)
    return out


# ---------------------------------------------------------------- tables


def _pct(value):
    return "" if value is None else f"{100 * value:.1f}"


def markdown_table(comparison, kind="summary"):
    """One Markdown table of a comparison.

    Parameters
    ----------
    comparison : dict
        From ``compare``.
    kind : {"summary", "paper_accuracy", "strict_accuracy"}
        ``summary``: mean and worst accuracy (%), trainable parameters,
        updates and seconds per strategy; otherwise the accuracy (%) of
        each strategy on each task by that criterion.
    """
    strategies = comparison["strategies"]
    if kind == "summary":
        head = [
            "strategy",
            "paper acc. mean",
            "paper acc. worst",
            "strict acc. mean",
            "trainable params",
            "updates",
            "seconds",
        ]
        rows = [
            [
                LABELS.get(name, name),
                _pct(entry["mean"]["paper_accuracy"]),
                _pct(entry["min"]["paper_accuracy"]),
                _pct(entry["mean"]["strict_accuracy"]),
                f"{entry['trainable_params']:,}",
                f"{entry['updates']:,}",
                f"{comparison['seconds'].get(name, float('nan')):.0f}",
            ]
            for name, entry in strategies.items()
        ]
    elif kind in CRITERIA:
        head = ["task"] + [LABELS.get(name, name) for name in strategies]
        rows = [
            [task] + [_pct(e["tasks"][task][kind]) for e in strategies.values()]
            for task in comparison["tasks"]
        ]
        rows.append(["mean"] + [_pct(e["mean"][kind]) for e in strategies.values()])
    else:
        raise ValueError(
            f"unknown table kind {kind!r}; valid: summary, {', '.join(CRITERIA)}"
        )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def dni_matrix_table(comparison, criterion="paper_accuracy"):
    """DNI's accuracy (%) per task learned (rows) and task tested."""
    extra = comparison["strategies"]["dni"]["extra"]
    tasks = extra["tasks"]
    lines = ["| after learning | " + " | ".join(tasks) + " |"]
    lines.append("|" + "---|" * (len(tasks) + 1))
    for task, row in zip(tasks, extra["accuracy_matrix"][criterion]):
        lines.append(f"| {task} | " + " | ".join(_pct(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def markdown_report(comparison):
    """Every table of a comparison as one Markdown text."""
    parts = [
        "## Strategies compared\n",
        markdown_table(comparison, "summary"),
        "\n## Paper accuracy (%) per task\n",
        markdown_table(comparison, "paper_accuracy"),
        "\n## Strict accuracy (%) per task\n",
        markdown_table(comparison, "strict_accuracy"),
    ]
    if "dni" in comparison["strategies"]:
        parts += [
            "\n## DNI: paper accuracy (%) after learning each task\n",
            dni_matrix_table(comparison),
        ]
    settings = comparison.get("settings")
    if settings:
        steps = settings.get("steps_per_task")
        budget = "quick-default" if steps is None else str(steps)
        parts.append(
            f"\nSeed {settings.get('seed')}, {comparison['test_trials']} test "
            f"trials per task, {budget} steps per task.\n"
        )
    return "".join(parts)


# --------------------------------------------------------------- figures


def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(comparison, criterion="paper_accuracy"):
    """Grouped bars: accuracy of every strategy on every task and the mean."""
    plt = _plt()
    strategies = comparison["strategies"]
    groups = comparison["tasks"] + ["mean"]
    width = 0.8 / max(len(strategies), 1)
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for i, (name, entry) in enumerate(strategies.items()):
        values = [entry["tasks"][t][criterion] for t in comparison["tasks"]]
        values.append(entry["mean"][criterion])
        x = np.arange(len(groups)) + (i - (len(strategies) - 1) / 2) * width
        ax.bar(
            x,
            values,
            width,
            color=COLORS.get(name, "0.4"),
            label=LABELS.get(name, name),
        )
    ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(criterion.replace("_", " "))
    ax.set_title(
        f"{criterion.replace('_', ' ')} on held-out trials: "
        "which strategy learns which task",
        fontsize=10,
    )
    # Above the axes, so that no bar hides behind it.
    ax.legend(
        ncol=len(strategies),
        fontsize=8,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.08),
        frameon=False,
    )
    fig.tight_layout()
    return fig


def plot_costs(comparison):
    """Trainable parameters and parameter updates per strategy, log scale."""
    plt = _plt()
    strategies = comparison["strategies"]
    names = list(strategies)
    colors = [COLORS.get(name, "0.4") for name in names]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, title in zip(
        axes, ("trainable_params", "updates"), ("trainable parameters", "updates")
    ):
        values = [strategies[name][key] for name in names]
        bars = ax.bar(range(len(names)), values, color=colors)
        ax.bar_label(bars, [f"{v:.3g}" for v in values], fontsize=8)
        ax.set_yscale("log")
        ax.margins(y=0.15)
        ax.set_xticks(
            range(len(names)),
            [LABELS.get(n, n) for n in names],
            rotation=30,
            ha="right",
        )
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_dni_matrix(comparison, criterion="paper_accuracy"):
    """DNI's accuracy on each task (columns) after learning each (rows)."""
    plt = _plt()
    extra = comparison["strategies"]["dni"]["extra"]
    tasks = extra["tasks"]
    matrix = np.array(
        [
            [np.nan if v is None else v for v in row]
            for row in extra["accuracy_matrix"][criterion]
        ]
    )
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    for (i, j), value in np.ndenumerate(matrix):
        if np.isfinite(value):
            color = "black" if value > 0.6 else "white"
            ax.text(
                j,
                i,
                f"{100 * value:.0f}",
                ha="center",
                va="center",
                color=color,
                fontsize=8,
            )
    ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right")
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_xlabel("task tested")
    ax.set_ylabel("after learning")
    ax.set_title(f"DNI, {criterion.replace('_', ' ')} (%)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def plot_curves(comparison, criterion="paper_accuracy"):
    """Held-out accuracy against the optimiser steps that trained each task.

    The joint network trains every task at every step, so its curve runs
    over all of its steps; the others' over their steps on that task.
    """
    plt = _plt()
    tasks = comparison["tasks"]
    cols = min(3, len(tasks))
    rows = int(np.ceil(len(tasks) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.3 * cols, 2.5 * rows), squeeze=False
    )
    for ax, task in zip(axes.flat, tasks):
        for name, entry in comparison["strategies"].items():
            curve = entry["curves"].get(task)
            if curve and curve["steps"]:
                ax.plot(
                    curve["steps"],
                    curve[criterion],
                    marker=".",
                    color=COLORS.get(name, "0.4"),
                    label=LABELS.get(name, name),
                )
        ax.set_xscale("log")
        ax.set_ylim(0, 1.05)
        ax.set_title(task, fontsize=9)
    for ax in axes.flat[len(tasks) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, frameon=False)
    fig.supxlabel("optimiser steps on the task")
    fig.supylabel(criterion.replace("_", " "))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------ running it


def _config_dict(config):
    """A strategy config as JSON-ready settings (objects left out)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = _config_dict(value)
        elif isinstance(value, (int, float, str, bool, type(None))):
            out[f.name] = value
        elif isinstance(value, (tuple, list)):
            out[f.name] = list(value)
    return out


def strategy_configs(strategies, n_tasks, steps=None, settings=None):
    """The config of each strategy: quick defaults, settings, then steps.

    ``settings`` maps a strategy to a dict for ``make_config``; ``steps``
    sets the steps per task of all (``with_steps_per_task``).
    """
    configs = {}
    for name in strategies:
        config = make_config(name, (settings or {}).get(name))
        if steps is not None:
            config = with_steps_per_task(name, config, steps, n_tasks)
        configs[name] = config
    return configs


def _train_one(name, tasks, seed, config, verbose):
    return train_strategy(name, tasks, strategy_rng(seed, name), config, verbose)


def train_strategies(configs, tasks, seed, jobs=1, verbose=True):
    """Train every strategy of ``configs``; the same results for any ``jobs``.

    Returns
    -------
    dict of str to StrategyResult, in the order of ``configs``.
    """
    order = sorted(configs, key=lambda n: -RELATIVE_COST.get(n, 1.0))
    args = {name: (name, tasks, seed, configs[name], verbose) for name in order}
    if jobs <= 1 or len(order) == 1:
        done = {name: _train_one(*args[name]) for name in order}
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = {name: pool.submit(_train_one, *args[name]) for name in order}
            done = {name: future.result() for name, future in futures.items()}
    return {name: done[name] for name in configs}


def run_comparison(
    seed=0,
    steps=None,
    strategies=STRATEGY_NAMES,
    tasks=TASK_NAMES,
    settings=None,
    test_trials=500,
    jobs=1,
    verbose=True,
):
    """Train the strategies and compare them on shared held-out batches.

    Parameters
    ----------
    seed : int
    steps : int, optional
        Steps per task for every strategy (the joint network gets ``steps``
        times the number of tasks); each config's quick default if omitted.
    strategies : sequence of str
    tasks : sequence of str
    settings : dict, optional
        Per strategy, a dict of config settings (``make_config``).
    test_trials : int
    jobs : int
        Worker processes; the numbers do not depend on it.

    Returns
    -------
    results : dict of str to StrategyResult
    comparison : dict
        From ``compare``, with ``settings`` filled in.
    """
    tasks = check_tasks(tasks)
    strategies = [check_strategy(name) for name in strategies]
    configs = strategy_configs(strategies, len(tasks), steps, settings)
    start = time.perf_counter()
    results = train_strategies(configs, tasks, seed, jobs, verbose)
    tests = make_test_batches(tasks, strategy_rng(seed, "test-batches"), test_trials)
    comparison = compare(results, tests)
    comparison["settings"] = {
        "seed": seed,
        "steps_per_task": steps,
        "configs": {name: _config_dict(c) for name, c in configs.items()},
    }
    comparison["seconds"]["total"] = time.perf_counter() - start
    return results, comparison


def write_outputs(comparison, out_dir):
    """Write the JSON, the Markdown report and the figures; return paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "comparison.json")]
    write_json(paths[0], comparison)
    text = markdown_report(comparison)
    paths.append(os.path.join(out_dir, "comparison.md"))
    atomic_write(paths[-1], lambda f: f.write(text.encode()))

    figures = {
        "accuracy_paper": plot_accuracy(comparison, "paper_accuracy"),
        "accuracy_strict": plot_accuracy(comparison, "strict_accuracy"),
        "costs": plot_costs(comparison),
        "curves": plot_curves(comparison),
    }
    if "dni" in comparison["strategies"]:
        figures["dni_matrix"] = plot_dni_matrix(comparison)
    for name, fig in figures.items():
        paths.append(os.path.join(out_dir, f"{name}.png"))
        atomic_write(paths[-1], lambda f, fig=fig: fig.savefig(f, dpi=110))
        _plt().close(fig)
    return paths


def _cmd_compare(args):
    import matplotlib

    matplotlib.use("Agg")
    settings = {}
    if "molap" in args.strategies:
        settings["molap"] = {"design": args.design, "source": args.source}
    _, comparison = run_comparison(
        seed=args.seed,
        steps=args.steps,
        strategies=args.strategies,
        tasks=args.tasks,
        settings=settings,
        test_trials=args.test_trials,
        jobs=args.jobs,
        verbose=not args.quiet,
    )
    paths = write_outputs(comparison, args.out)
    print(markdown_table(comparison, "summary"))
    print(f"wrote {', '.join(paths)} in {comparison['seconds']['total']:.0f} s")


def add_compare_command(subparsers):
    """Add ``molap-np compare`` (called by ``strategies.add_command``)."""
    from .primitives import DESIGNS

    sub = subparsers.add_parser(
        "compare",
        help="train every strategy on the tasks and compare them",
        description=(
            "Train MoLaP, the no-pre-training control, separate networks, "
            "DNI and the joint network on the tasks with the quick defaults "
            "(or --steps per task), score them on shared held-out batches, "
            "and write comparison.json, comparison.md and figures to --out."
        ),
    )
    sub.add_argument("--seed", type=int, default=0, help="seed of everything")
    sub.add_argument(
        "--steps", type=int, help="optimiser steps per task (default: quick)"
    )
    sub.add_argument("--out", default="molap_results/compare", help="folder")
    sub.add_argument(
        "--strategies",
        nargs="+",
        default=list(STRATEGY_NAMES),
        choices=STRATEGY_NAMES,
    )
    sub.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    sub.add_argument(
        "--design",
        default="response-cca",
        choices=DESIGNS,
        help="MoLaP's primitive design (default response-cca; the paper's is cca)",
    )
    sub.add_argument(
        "--source",
        default="fresh",
        choices=("fresh", "shipped"),
        help="pre-train MoLaP now, or use the shipped weights",
    )
    sub.add_argument("--test-trials", type=int, default=500)
    sub.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="worker processes (default 2); numbers do not depend on it",
    )
    sub.add_argument("--quiet", action="store_true", help="no progress lines")
    sub.set_defaults(func=_cmd_compare)
