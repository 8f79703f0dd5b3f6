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
     "perturbations": {"summary": ..., "curves": ..., "silent": ...,
                       "learned": {"strategies": [...], "tasks": [...],
                                   "summary": ...},
                       "module_silencing": ...},
     "generalisation": {...},
     "timing": {"stages": {"strategies": {"wall": ..., "units": ...,
                                          "unit_seconds": ...}, ...},
                "resumed": false, "units": {unit name: seconds}}}

Wall-clock times appear under ``timing`` only, so two runs of the same
study give the same file apart from that key.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from . import __version__
from .comparison import (
    LABELS,
    dni_matrix_table,
    markdown_table,
    plot_accuracy,
    plot_costs,
    plot_curves,
    plot_dni_matrix,
)
from .files import atomic_write, write_json
from .perturbations import MIN_MARGIN

CRITERIA = ("paper_accuracy", "strict_accuracy")


def strategy_entry(record):
    """The JSON entry of one trained strategy (no wall-clock time)."""
    tasks = record["tasks"]
    mean = {c: float(np.mean([s[c] for s in tasks.values()])) for c in CRITERIA}
    worst = {c: float(np.min([s[c] for s in tasks.values()])) for c in CRITERIA}
    curves = {
        task: {k: v for k, v in curve.items() if k != "loss"}
        for task, curve in record.get("curves", {}).items()
    }
    return {
        "trainable_params": record["trainable_params"],
        "updates": record["updates"],
        "tasks": tasks,
        "mean": mean,
        "min": worst,
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
    """Per-strategy sweep units as one sweep with every strategy's curves.

    The summaries are computed again from the curves, so that a report
    written from stored units follows the current summary rules. Adds the
    summary over the tasks every strategy learned
    (``perturbations.learned_tasks``): the fair comparison when the
    strategies learned different tasks.
    """
    from .perturbations import learned_tasks, summarise

    curves, modules = {}, {}
    for unit in units:
        curves.update(unit["sweep"]["curves"])
        modules.update(unit["module_silencing"])
    # Every unit swept the same test batches, so their silent floors agree.
    silent = units[0]["sweep"]["silent"] if units else {}
    summary = summarise(curves, silent) if curves else {}
    learned = learned_tasks(curves) if curves else {"strategies": [], "tasks": []}
    compared = {s: curves[s] for s in learned["strategies"]}
    learned["summary"] = (
        summarise(compared, silent, learned["tasks"]) if learned["tasks"] else None
    )
    return {
        "curves": curves,
        "summary": summary,
        "silent": silent,
        "learned": learned,
        "module_silencing": modules,
    }


def assemble(preset, seed, settings, records, sweeps, generalisation, timing):
    """Everything the report shows, as the JSON-ready results dict."""
    strategies = {r["strategy"]: strategy_entry(r) for r in records}
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


def comparison_view(results):
    """The results in the shape of ``comparison.compare``'s dict.

    The pipeline's strategies are scored like ``molap-np compare``'s, so the
    report draws its accuracy and cost tables and figures with the same
    functions.
    """
    units = results["timing"].get("units", {})
    return {
        "tasks": results["settings"]["tasks"],
        "test_trials": results["settings"]["test_trials"],
        "strategies": results["strategies"],
        "seconds": {
            name: units.get(f"strategy-{name}", float("nan"))
            for name in results["strategies"]
        },
    }


def _pct(value):
    return "–" if value is None else f"{100 * value:.1f}"


def robustness_table(summary, criteria=CRITERIA):
    """Markdown: each perturbation's retained margin over silence (1 = none lost).

    ``summary`` is ``{strategy: {perturbation: {criterion: {"area": ...}}}}``
    (``perturbations.summarise``); each cell gives the area under each of
    ``criteria``, separated by a slash.
    """
    names = list(summary)
    perturbations = list(summary[names[0]])
    lines = [
        "| perturbation | " + " | ".join(LABELS.get(n, n) for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for p in perturbations:
        cells = []
        for n in names:
            areas = [summary[n][p][c]["area"] for c in criteria]
            cells.append(" / ".join("–" if a is None else f"{a:.2f}" for a in areas))
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def robustness_section(perturbations):
    """The report's robustness tables, over all tasks and over learned ones."""
    learned = perturbations["learned"]
    lines = [
        "Share of the intact margin over a silent network that survives, "
        "averaged over each perturbation's range of sizes (mean over tasks; "
        "1.00: no loss, 0.00: no better than a silent network; – where the "
        f"intact network is less than {MIN_MARGIN} above a silent one, a "
        "margin too small to divide by). Cells: paper accuracy "
        "/ strict accuracy. The std of each area over the draws is in "
        "`results.json`.",
        "",
        "All tasks:",
        "",
        robustness_table(perturbations["summary"]),
        "",
    ]
    if learned["summary"] is None:
        lines += ["No task was learned by every strategy (strict accuracy ≥ 0.8).", ""]
        return lines
    left_out = ", ".join(LABELS.get(s, s) for s in learned["left_out"])
    lines += [
        f"The tasks every strategy learned (intact strict accuracy ≥ "
        f"{learned['threshold']}: {', '.join(learned['tasks'])}"
        + (f"; left out, having learned no task: {left_out}" if left_out else "")
        + "). A strategy cannot lose a skill it never had, so this is the "
        "fairer comparison when strategies learned different tasks:",
        "",
        robustness_table(learned["summary"]),
        "",
    ]
    return lines


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
    view = comparison_view(results)
    perturbations = results["perturbations"]
    figures = {
        "accuracy": _save(plot_accuracy(view), out_dir, "accuracy.png"),
        "strict": _save(
            plot_accuracy(view, "strict_accuracy"), out_dir, "accuracy_strict.png"
        ),
        "curves": _save(plot_curves(view), out_dir, "curves.png"),
        "costs": _save(plot_costs(view), out_dir, "costs.png"),
        "dni": _save(
            plot_dni_matrix(view) if "dni" in view["strategies"] else None,
            out_dir,
            "dni_matrix.png",
        ),
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
    view = comparison_view(results)
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
        markdown_table(view, "paper_accuracy"),
        "",
        _figure(figures, "accuracy", "paper accuracy per task"),
        "Strict accuracy (%), decoded angle within 0.1 pi or value within 0.1:",
        "",
        markdown_table(view, "strict_accuracy"),
        "",
        _figure(figures, "strict", "strict accuracy per task"),
        "## Cost (seconds: wall time of the strategy's unit)",
        "",
        markdown_table(view, "summary"),
        "",
        "MoLaP's counts include its pre-training. Counts include each task's "
        "initial state h0, which the paper's figures leave out.",
        "",
        _figure(figures, "costs", "parameters and updates"),
        _figure(figures, "curves", "learning curves"),
        *(
            [
                "DNI: paper accuracy (%) of each task after learning each:",
                "",
                dni_matrix_table(view),
                "",
            ]
            if "dni" in view["strategies"]
            else []
        ),
        _figure(figures, "dni", "DNI accuracy matrix"),
        "## Robustness",
        "",
        *robustness_section(results["perturbations"]),
        _figure(figures, "robustness", "robustness curves"),
        _figure(figures, "modules", "accuracy lost when a module is silenced"),
        "## Generalisation",
        "",
        generalisation_table(results["generalisation"]),
        "",
        _figure(figures, "generalisation", "held-out task learning"),
        "## Timing",
        "",
        "Wall: seconds this stage took in the invocation that wrote the "
        "report (a resumed run counts only the units it ran itself). Unit "
        "seconds: the sum of each unit's own run time, whenever it ran; with "
        "two workers the wall time of a stage is about half of it.",
        "",
        "| stage | units | wall seconds | unit seconds |",
        "|---|---:|---:|---:|",
        *[
            f"| {k} | {v['units']} | {v['wall']} | {v['unit_seconds']} |"
            for k, v in results["timing"]["stages"].items()
        ],
        "",
    ]
    return "\n".join(lines)
