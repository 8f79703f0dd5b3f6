"""Figures shared by the notebooks and the report.

Colours are fixed per strategy so that every figure of the project reads the
same way when projected.
"""

import matplotlib.pyplot as plt
import numpy as np

from .tasks import DIRECTION_TASKS, T, check_task

DT_MS = 10
STRATEGY_COLORS = {
    "molap": "#1b9e77",
    "molap_cca": "#a6761d",
    "no_pretraining": "#7570b3",
    "separate": "#d95f02",
    "dni": "#e7298a",
    "joint": "#66a61e",
}
# The strategies' names in tables, legends and titles.
STRATEGY_LABELS = {
    "molap": "MoLaP",
    "molap_cca": "MoLaP (paper's CCA)",
    "no_pretraining": "no pre-training",
    "separate": "separate networks",
    "dni": "DNI",
    "joint": "joint network",
}


def _channel_names(task, n, kind):
    if kind == "input":
        if task in DIRECTION_TASKS:
            return ["fixation", "cos θ", "sin θ"]
        if n == 2:
            return ["fixation", "stimulus"]
        return ["fixation", "cos pulses", "sin pulses"]
    if task in DIRECTION_TASKS:
        return ["fixation", "cos answer", "sin answer"]
    return ["fixation", "value"]


def _mark_epochs(ax, batch, trial):
    for name, style in (("stim_on", ":"), ("stim_off", ":"), ("go", "--")):
        if name in batch.epochs:
            step = batch.epochs[name][trial]
            if step < T:
                ax.axvline(step * DT_MS, color="0.5", ls=style, lw=1)


def plot_trial(batch, trial=0, outputs=None, axes=None):
    """Plot one trial: inputs above, targets (and outputs) below.

    Parameters
    ----------
    batch : TaskBatch
    trial : int
        Index of the trial in the batch.
    outputs : ndarray, shape (T, B, n_out), optional
        A network's outputs on ``batch``, drawn dashed over the targets.
    axes : pair of matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_task(batch.task)
    if isinstance(trial, bool) or not isinstance(trial, (int, np.integer)):
        raise TypeError(f"trial must be an int, got {type(trial).__name__}")
    if not 0 <= trial < batch.batch_size:
        raise IndexError(
            f"trial {trial} outside the batch of {batch.batch_size} "
            f"(valid: 0 .. {batch.batch_size - 1})"
        )
    if outputs is not None and np.shape(outputs) != batch.targets.shape:
        raise ValueError(
            f"outputs have shape {np.shape(outputs)}, but the {batch.task} "
            f"batch's targets have shape {batch.targets.shape} (T, B, n_out)"
        )
    if axes is None:
        fig, axes = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    fig = axes[0].figure
    time_ms = np.arange(T) * DT_MS
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    names = _channel_names(batch.task, batch.inputs.shape[2], "input")
    for c, name in enumerate(names):
        axes[0].plot(time_ms, batch.inputs[:, trial, c], color=colors[c], label=name)
    names = _channel_names(batch.task, batch.targets.shape[2], "target")
    for c, name in enumerate(names):
        axes[1].plot(time_ms, batch.targets[:, trial, c], color=colors[c], label=name)
        if outputs is not None:
            axes[1].plot(time_ms, outputs[:, trial, c], color=colors[c], ls="--")
    for ax, title in zip(axes, ("inputs", "targets (dashed: network)")):
        _mark_epochs(ax, batch, trial)
        ax.set_ylabel(title)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    axes[1].set_xlabel("time (ms)")
    axes[0].set_title(f"{batch.task}, trial {trial}: dotted stimulus, dashed go cue")
    fig.tight_layout()
    return fig
