"""Trial plots and the two basic subcommands of ``molap-np``."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from molap_np.cli import main
from molap_np.plotting import plot_trial
from molap_np.tasks import TASK_NAMES, TASK_SIZES, make_batch

T = 110
# Epoch marks of the fixed timing, in ms: stimulus onset at 350; its end at
# 850 for the Memory tasks and 750 for the value tasks (a Delay stimulus
# never ends); the go cue at 850.
MARKS_MS = {
    "DelayPro": [350, 850],
    "DelayAnti": [350, 850],
    "MemoryPro": [350, 850, 850],
    "MemoryAnti": [350, 850, 850],
}


def expected_marks(task):
    return MARKS_MS.get(task, [350, 750, 850])


def traces(ax):
    """The time series drawn on an axis (vertical marks excluded)."""
    return [line for line in ax.lines if len(line.get_xdata()) == T]


def marks(ax):
    return sorted(
        line.get_xdata()[0] for line in ax.lines if len(line.get_xdata()) == 2
    )


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("task", TASK_NAMES)
def test_plot_trial_draws_every_channel(task):
    batch = make_batch(task, 4, np.random.default_rng(0))
    fig = plot_trial(batch, trial=2)
    top, bottom = fig.axes
    n_in, n_out = TASK_SIZES[task]
    assert len(traces(top)) == n_in
    assert len(traces(bottom)) == n_out
    assert marks(top) == marks(bottom) == expected_marks(task)
    assert np.array_equal(traces(top)[0].get_ydata(), batch.inputs[:, 2, 0])
    assert np.array_equal(traces(bottom)[1].get_ydata(), batch.targets[:, 2, 1])


@pytest.mark.parametrize("task", ("MemoryAnti", "MultiMem"))
def test_plot_trial_with_outputs(task):
    batch = make_batch(task, 4, np.random.default_rng(0))
    outputs = batch.targets * 0.5
    fig = plot_trial(batch, trial=1, outputs=outputs)
    bottom = fig.axes[1]
    n_out = TASK_SIZES[task][1]
    assert len(traces(bottom)) == 2 * n_out
    dashed = [line for line in traces(bottom) if line.get_linestyle() == "--"]
    assert len(dashed) == n_out
    assert np.array_equal(dashed[0].get_ydata(), outputs[:, 1, 0])


def test_plot_trial_on_given_axes():
    fig, axes = plt.subplots(2, 1)
    batch = make_batch("MemoryDm1", 2, np.random.default_rng(0))
    assert plot_trial(batch, axes=axes) is fig


@pytest.mark.parametrize("trial", (-1, 4, 100))
def test_plot_trial_bad_index(trial):
    batch = make_batch("DelayPro", 4, np.random.default_rng(0))
    with pytest.raises(IndexError, match=r"valid: 0 \.\. 3"):
        plot_trial(batch, trial=trial)


def test_plot_trial_bad_arguments():
    batch = make_batch("DelayPro", 4, np.random.default_rng(0))
    with pytest.raises(TypeError, match="trial must be an int"):
        plot_trial(batch, trial=1.0)
    with pytest.raises(ValueError, match="outputs have shape"):
        plot_trial(batch, outputs=np.zeros((T, 4, 2)))


def test_cli_lists_the_nine_tasks(capsys):
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == list(TASK_NAMES)
    assert {row[0]: (int(row[1]), int(row[2])) for row in rows} == TASK_SIZES


def test_cli_plot_trial_writes_a_png(tmp_path, capsys):
    out = tmp_path / "trial.png"
    assert main(["plot-trial", "DelayPro", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out


def test_cli_unknown_task(tmp_path, capsys):
    out = tmp_path / "trial.png"
    assert main(["plot-trial", "DelayProo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'DelayProo'" in err
    assert all(task in err for task in TASK_NAMES)
    assert not out.exists()
