"""The study's report: ``results.json``, ``report.md`` and figures.

``results.json`` holds every number the report shows, in this shape::

    {"seed": 0, "preset": "quick", "molap_np": "0.1.0",
     "strategies": {"molap": {"trainable_params": ..., "updates": ...,
                              "tasks": {"DelayPro": {"paper_accuracy": ...,
                                                     "strict_accuracy": ...},
                                        ...},
                              "mean": {"paper_accuracy": ...,
                                       "strict_accuracy": ...},
                              "curves": {task: {"steps": [...],
                                                "paper_accuracy": [...],
                                                "strict_accuracy": [...]}},
                              "extra": {...}},
                    "molap_cca": ..., "no_pretraining": ..., "separate": ...,
                    "dni": ..., "joint": ...},
     "perturbations": {"summary": ..., "curves": ..., "module_silencing": ...},
     "generalisation": {...},
     "timing": {"strategies": ..., ...}}

Wall-clock times appear under ``timing`` only, so two runs of the same
study give the same file apart from that key.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import __version__  # noqa: E402
from .files import atomic_write, write_json  # noqa: E402
from .plotting import STRATEGY_COLORS  # noqa: E402

CRITERIA = ("paper_accuracy", "strict_accuracy")
LABELS = {
    "molap": "MoLaP (best design)",
    "molap_cca": "MoLaP (paper's CCA)",
    "no_pretraining": "no pre-training",
    "separate": "separate networks",
    "dni": "DNI",
    "joint": "joint network",
}


def _color(strategy):
    if strategy == "molap_cca":
        return "#a6761d"
    return STRATEGY_COLORS.get(strategy, "0.4")


def strategy_entry(record):
    """The JSON entry of one trained strategy (no wall-clock time)."""
    tasks = record["tasks"]
    mean = {c: float(np.mean([s[c] for s in tasks.values()])) for c in CRITERIA}
    curves = {
        task: {k: v for k, v in curve.items() if k != "loss"}
        for task, curve in record.get("curves", {}).items()
    }
    return {
        "trainable_params": record["trainable_params"],
        "updates": record["updates"],
        "tasks": tasks,
        "mean": mean,
        "curves": curves,
        "extra": record.get("extra", {}),
    }


def _strip_seconds(obj):
    if isinstance(obj, dict):
        return {
            k: _strip_seconds(v)
            for k, v in obj.items()
            if k not in ("seconds", "train_seconds")
        }
    if isinstance(obj, list):
        return [_strip_seconds(v) for v in obj]
    return obj


def merge_sweeps(units):
    """Per-strategy sweep units as one sweep with every strategy's curves."""
    curves, summary, modules = {}, {}, {}
    for unit in units:
        curves.update(unit["sweep"]["curves"])
        summary.update(unit["sweep"]["summary"])
        modules.update(unit["module_silencing"])
    return {"curves": curves, "summary": summary, "module_silencing": modules}


def assemble(preset, seed, settings, records, sweeps, generalisation, timing):
    """Everything the report shows, as the JSON-ready results dict."""
    strategies = {r["strategy"]: strategy_entry(r) for r in records}
    timing = {
        **{k: round(v, 1) for k, v in timing.items()},
        "units": {u["unit"]: round(u["seconds"], 1) for u in [*records, *sweeps]},
    }
    return {
        "seed": seed,
        "preset": preset,
        "molap_np": __version__,
        "settings": settings,
        "strategies": strategies,
        "perturbations": _strip_seconds(merge_sweeps(sweeps)),
        "generalisation": _strip_seconds(generalisation),
        "timing": timing,
    }


# ------------------------------------------------------------------ tables


def _pct(value):
    return "–" if value is None else f"{100 * value:.1f}"


def accuracy_table(results, criterion="paper_accuracy"):
    """Markdown: one row per task, one column per strategy, in percent."""
    strategies = results["strategies"]
    names = list(strategies)
    tasks = results["settings"]["tasks"]
    lines = [
        "| task | " + " | ".join(LABELS.get(n, n) for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for task in tasks:
        cells = [_pct(strategies[n]["tasks"][task][criterion]) for n in names]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    cells = [_pct(strategies[n]["mean"][criterion]) for n in names]
    lines.append("| **mean** | " + " | ".join(f"**{c}**" for c in cells) + " |")
    return "\n".join(lines)


def cost_table(results):
    """Markdown: trainable parameters and parameter updates per strategy."""
    lines = [
        "| strategy | trainable parameters | parameter updates |",
        "|---|---:|---:|",
    ]
    for name, entry in results["strategies"].items():
        lines.append(
            f"| {LABELS.get(name, name)} | {entry['trainable_params']:,} | "
            f"{entry['updates']:,} |"
        )
    return "\n".join(lines)


def robustness_table(results, criterion="paper_accuracy"):
    """Markdown: each perturbation's retained margin over silence (1 = none lost)."""
    summary = results["perturbations"]["summary"]
    names = list(summary)
    perturbations = list(summary[names[0]])
    lines = [
        "| perturbation | " + " | ".join(LABELS.get(n, n) for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for p in perturbations:
        cells = []
        for n in names:
            area = summary[n][p][criterion]["area"]
            cells.append("–" if area is None else f"{area:.2f}")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------- figures


def plot_accuracy(results, criterion="paper_accuracy"):
    """Grouped bars: accuracy per task, one bar per strategy."""
    strategies = results["strategies"]
    tasks = results["settings"]["tasks"]
    names = list(strategies)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(11, 4))
    x = np.arange(len(tasks))
    for i, name in enumerate(names):
        values = [strategies[name]["tasks"][t][criterion] for t in tasks]
        ax.bar(
            x + i * width,
            values,
            width,
            color=_color(name),
            label=LABELS.get(name, name),
        )
    ax.set_xticks(x + 0.4 - width / 2, tasks, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.axhline(0.9, color="0.6", ls=":", lw=1)
    ax.set_ylabel(criterion.replace("_", " "))
    ax.set_title(f"Held-out {criterion.replace('_', ' ')} per task and strategy")
    ax.legend(fontsize=8, ncol=3, loc="lower left")
    fig.tight_layout()
    return fig


def plot_costs(results):
    """Trainable parameters and updates per strategy, log scale."""
    strategies = results["strategies"]
    names = list(strategies)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, key, title in zip(
        axes,
        ("trainable_params", "updates"),
        ("trainable parameters", "parameter updates"),
    ):
        values = [strategies[n][key] for n in names]
        ax.bar(range(len(names)), values, color=[_color(n) for n in names])
        ax.set_yscale("log")
        ax.set_xticks(
            range(len(names)),
            [LABELS.get(n, n) for n in names],
            rotation=30,
            ha="right",
            fontsize=8,
        )
        ax.set_title(f"{title} (log scale)")
    fig.tight_layout()
    return fig


def plot_dni_matrix(results):
    """DNI: accuracy of each task (column) after learning each task (row)."""
    extra = results["strategies"].get("dni", {}).get("extra", {})
    matrix = extra.get("accuracy_matrix", {}).get("paper_accuracy")
    if matrix is None:
        return None
    tasks = extra.get("tasks", results["settings"]["tasks"])
    matrix = np.array([[np.nan if v is None else v for v in row] for row in matrix])
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(tasks)), tasks, rotation=60, fontsize=7)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
    ax.set_xlabel("task tested")
    ax.set_ylabel("after learning task")
    ax.set_title("DNI: paper accuracy as tasks are added")
    fig.colorbar(image, ax=ax, label="paper accuracy")
    fig.tight_layout()
    return fig


def _save(fig, out_dir, name):
    if fig is None:
        return None
    folder = os.path.join(out_dir, "figures")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return f"figures/{name}"


# ------------------------------------------------------------------ report


def write_report(
    out_dir, preset, seed, settings, records, sweeps, generalisation, timing
):
    """Write ``results.json``, the figures and ``report.md``; return results."""
    from .generalisation import markdown_table as generalisation_table
    from .generalisation import plot_generalisation
    from .perturbations import plot_module_silencing, plot_robustness

    results = assemble(preset, seed, settings, records, sweeps, generalisation, timing)
    write_json(os.path.join(out_dir, "results.json"), results)
    perturbations = results["perturbations"]
    figures = {
        "accuracy": _save(plot_accuracy(results), out_dir, "accuracy.png"),
        "strict": _save(
            plot_accuracy(results, "strict_accuracy"), out_dir, "accuracy_strict.png"
        ),
        "costs": _save(plot_costs(results), out_dir, "costs.png"),
        "dni": _save(plot_dni_matrix(results), out_dir, "dni_matrix.png"),
        "robustness": _save(plot_robustness(perturbations), out_dir, "robustness.png"),
        "modules": _save(
            plot_module_silencing(perturbations["module_silencing"]),
            out_dir,
            "module_silencing.png",
        ),
        "generalisation": _save(
            plot_generalisation(results["generalisation"]),
            out_dir,
            "generalisation.png",
        ),
    }
    text = render_markdown(results, figures, generalisation_table)
    atomic_write(os.path.join(out_dir, "report.md"), lambda f: f.write(text.encode()))
    return results


def _figure(figures, key, caption):
    path = figures.get(key)
    return f"![{caption}]({path})\n" if path else ""


def render_markdown(results, figures, generalisation_table):
    """The report as Markdown text."""
    means = {
        name: entry["mean"]["paper_accuracy"]
        for name, entry in results["strategies"].items()
    }
    lines = [
        "# MoLaP study report",
        "",
        f"Preset `{results['preset']}`, seed {results['seed']}, molap_np "
        f"{results['molap_np']}. Every number below is in `results.json`; "
        "the same command with the same seed gives the same numbers.",
        "",
        "## Accuracy on held-out trials",
        "",
        "Mean paper accuracy: "
        + ", ".join(f"{LABELS.get(n, n)} {_pct(v)} %" for n, v in means.items())
        + ".",
        "",
        "Paper accuracy (%), last 30 steps within a relative band:",
        "",
        accuracy_table(results),
        "",
        _figure(figures, "accuracy", "paper accuracy per task"),
        "Strict accuracy (%), decoded angle within 0.1 pi or value within 0.1:",
        "",
        accuracy_table(results, "strict_accuracy"),
        "",
        _figure(figures, "strict", "strict accuracy per task"),
        "## Cost",
        "",
        cost_table(results),
        "",
        "MoLaP's counts include its pre-training. Counts include each task's "
        "initial state h0, which the paper's figures leave out.",
        "",
        _figure(figures, "costs", "parameters and updates"),
        _figure(figures, "dni", "DNI accuracy matrix"),
        "## Robustness",
        "",
        "Share of the intact margin over a silent network that survives, "
        "averaged over each perturbation's range of sizes (paper accuracy, "
        "mean over tasks; 1.00: no loss, 0.00: no better than a silent "
        "network; – where the intact network is not above the silent one):",
        "",
        robustness_table(results),
        "",
        _figure(figures, "robustness", "robustness curves"),
        _figure(figures, "modules", "accuracy lost when a module is silenced"),
        "## Generalisation",
        "",
        generalisation_table(results["generalisation"]),
        "",
        _figure(figures, "generalisation", "held-out task learning"),
        "## Timing",
        "",
        "| stage | seconds |",
        "|---|---:|",
        *[
            f"| {k} | {v} |"
            for k, v in results["timing"].items()
            if not isinstance(v, dict)
        ],
        "",
    ]
    return "\n".join(lines)
