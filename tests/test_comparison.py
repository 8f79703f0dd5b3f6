"""The comparison: its JSON and tables have the documented shape, and the
same seed gives the same numbers whatever the number of processes."""

import json

import numpy as np
import pytest
from test_strategies import TINY

from molap_np import comparison
from molap_np.cli import build_parser
from molap_np.strategies import STRATEGY_NAMES

TASKS = ["DelayPro", "MemoryDm1"]


@pytest.fixture(scope="module")
def compared():
    _, result = comparison.run_comparison(
        seed=0, tasks=TASKS, settings=TINY, test_trials=32, verbose=False
    )
    return result


def test_comparison_has_the_documented_shape(compared):
    assert compared["tasks"] == TASKS
    assert compared["test_trials"] == 32
    assert list(compared["strategies"]) == list(STRATEGY_NAMES)
    assert set(compared["seconds"]) == set(STRATEGY_NAMES) | {"total"}
    for entry in compared["strategies"].values():
        assert set(entry) == {
            "tasks",
            "mean",
            "min",
            "trainable_params",
            "updates",
            "curves",
            "extra",
        }
        for task in TASKS:
            scores = entry["tasks"][task]
            assert set(scores) == set(comparison.CRITERIA)
            assert all(0.0 <= v <= 1.0 for v in scores.values())
            curve = entry["curves"][task]
            assert len(curve["steps"]) == len(curve["paper_accuracy"])
            assert len(curve["loss_steps"]) == len(curve["loss"]) <= 100
        mean = np.mean([entry["tasks"][t]["paper_accuracy"] for t in TASKS])
        assert entry["mean"]["paper_accuracy"] == pytest.approx(mean)
    matrix = compared["strategies"]["dni"]["extra"]["accuracy_matrix"]
    # Every task after every stage, learned yet or not.
    assert np.shape(matrix["paper_accuracy"]) == (len(TASKS), len(TASKS))
    assert np.shape(matrix["strict_accuracy"]) == (len(TASKS), len(TASKS))
    json.dumps(compared, allow_nan=False)


def test_tables_have_a_row_per_strategy_and_task(compared):
    summary = comparison.markdown_table(compared, "summary").splitlines()
    assert len(summary) == 2 + len(STRATEGY_NAMES)
    per_task = comparison.markdown_table(compared, "paper_accuracy").splitlines()
    assert len(per_task) == 2 + len(TASKS) + 1
    assert per_task[-1].startswith("| mean |")
    assert "DNI" in comparison.markdown_report(compared)
    with pytest.raises(ValueError, match="summary"):
        comparison.markdown_table(compared, "loss")


def test_same_seed_same_numbers_in_parallel(compared):
    _, again = comparison.run_comparison(
        seed=0, tasks=TASKS, settings=TINY, test_trials=32, jobs=2, verbose=False
    )
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in compared.items() if k != "seconds"
    }


def test_outputs_are_written(compared, tmp_path):
    paths = comparison.write_outputs(compared, tmp_path)
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert "comparison.json" in names and "dni_matrix.png" in names
    with open(tmp_path / "comparison.json") as f:
        assert json.load(f)["tasks"] == TASKS


def test_test_batches_are_seeded():
    a = comparison.make_test_batches(TASKS, np.random.default_rng(3), n=8)
    b = comparison.make_test_batches(TASKS, np.random.default_rng(3), n=8)
    assert list(a) == TASKS
    assert np.array_equal(a["MemoryDm1"].inputs, b["MemoryDm1"].inputs)


def test_compare_command_is_registered():
    args = build_parser().parse_args(["compare", "--seed", "3", "--steps", "50"])
    assert (args.seed, args.steps, args.jobs) == (3, 50, 2)
