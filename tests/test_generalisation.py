"""Generalisation: folds hide their tasks, curves are read right, runs repeat."""

import json

import numpy as np
import pytest

from molap_np import generalisation as gen
from molap_np import tasks as tasks_module
from molap_np.primitives import DESIGNS, PretrainConfig
from molap_np.rnn import module_slices
from molap_np.strategies.separate import SeparateConfig, train_separate
from molap_np.task_learning import TaskLearningConfig
from molap_np.tasks import TASK_NAMES, make_batch

TINY_PRETRAIN = PretrainConfig(
    N=12,
    module_sizes=(4, 4, 4),
    steps=6,
    batch_size=4,
    corpus_trials=8,
    eval_trials=4,
    eval_every=3,
)
TINY_TASK = TaskLearningConfig(steps=6, batch_size=4, eval_every=2, eval_batch_size=8)
TINY = {"pretrain_config": TINY_PRETRAIN, "task_config": TINY_TASK, "test_trials": 16}
FOLD_KEYS = {
    "kind",
    "mode",
    "design",
    "seed",
    "held_out",
    "task",
    "pretraining",
    "corpus_shift",
    "result",
    "settings",
    "seconds",
}
RESULT_KEYS = {
    "paper_accuracy",
    "strict_accuracy",
    "test_trials",
    "budget",
    "steps_to_criterion",
    "curve",
    "seconds",
}


def without_seconds(value):
    """A result with every wall-time entry removed, for comparisons."""
    if isinstance(value, dict):
        return {k: without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [without_seconds(v) for v in value]
    return value


@pytest.fixture
def poison(monkeypatch):
    """Make one task's generator return garbage; count its calls."""
    calls = []
    build = tasks_module._build

    def poison_task(victim):
        def poisoned(task, theta1, theta2, epochs, noise_rng):
            batch = build(task, theta1, theta2, epochs, noise_rng)
            if task == victim:
                calls.append(task)
                junk = np.random.default_rng(len(calls))
                batch.inputs = junk.normal(0, 5, batch.inputs.shape)
                batch.targets = junk.normal(0, 5, batch.targets.shape)
            return batch

        monkeypatch.setattr(tasks_module, "_build", poisoned)
        return calls

    return poison_task


# ----------------------------------------------------------------------------
# The held-out task never reaches the statistics or the pre-training


def pretrained_J_b(held_out, mode="leave_one_out", design="cca"):
    result = gen.fold_pretraining(
        held_out, np.random.default_rng(5), design, TINY_PRETRAIN, mode
    )
    return result.params["J"], result.params["b"]


@pytest.mark.parametrize("design", DESIGNS)
def test_garbage_in_the_held_out_task_leaves_the_modules_bit_identical(design, poison):
    clean = pretrained_J_b("ContextMemDm1", design=design)
    calls = poison("ContextMemDm1")
    poisoned = pretrained_J_b("ContextMemDm1", design=design)
    assert calls == []
    assert np.array_equal(clean[0], poisoned[0])
    assert np.array_equal(clean[1], poisoned[1])


@pytest.mark.parametrize("design", DESIGNS)
def test_garbage_in_a_kept_task_changes_the_modules(design, poison):
    # The positive control: the check above would notice a leak.
    clean = pretrained_J_b("ContextMemDm1", design=design)
    calls = poison("ContextMemDm2")
    poisoned = pretrained_J_b("ContextMemDm1", design=design)
    assert calls
    assert not np.array_equal(clean[0], poisoned[0])


def test_leave_two_out_hides_the_second_task_too(poison):
    clean = pretrained_J_b("MultiMem", mode="leave_two_out")
    calls = poison("DelayPro")  # MultiMem's successor, cyclically
    poisoned = pretrained_J_b("MultiMem", mode="leave_two_out")
    assert calls == []
    assert np.array_equal(clean[0], poisoned[0])


def test_a_whole_fold_pretrains_the_same_with_a_garbage_held_out_task(poison):
    clean = gen.run_fold("MemoryPro", seed=2, **TINY)
    poison("MemoryPro")
    poisoned = gen.run_fold("MemoryPro", seed=2, **TINY)
    assert without_seconds(poisoned["pretraining"]) == without_seconds(
        clean["pretraining"]
    )
    shift, clean_shift = poisoned["corpus_shift"], clean["corpus_shift"]
    assert shift["leave_out_correlations"] == clean_shift["leave_out_correlations"]
    # The full fit does see the task, so garbage there must show.
    assert shift["full_correlations"] != clean_shift["full_correlations"]
    assert poisoned["result"]["curve"] != clean["result"]["curve"]


# ----------------------------------------------------------------------------
# Folds and their results


def test_tiny_leave_one_out_fold_returns_the_documented_keys():
    fold = gen.run_fold("MemoryDm1", seed=0, **TINY)
    assert set(fold) == FOLD_KEYS
    assert set(fold["result"]) == RESULT_KEYS
    assert fold["held_out"] == ["MemoryDm1"]
    assert "MemoryDm1" not in fold["pretraining"]["tasks"]
    assert len(fold["pretraining"]["tasks"]) == 8
    assert fold["result"]["test_trials"] == 16
    assert fold["result"]["budget"] == TINY_TASK.steps
    assert fold["result"]["curve"]["steps"] == [2, 4, 6]
    assert 0.0 <= fold["result"]["paper_accuracy"] <= 1.0
    assert fold["corpus_shift"]["x_columns"] == [23, 25]
    assert fold["corpus_shift"]["y_columns"] == [20, 22]
    json.dumps(fold, allow_nan=False)


def test_leave_two_out_holds_out_the_next_task_cyclically():
    assert gen.held_out_tasks("MultiMem", "leave_two_out") == ("MultiMem", "DelayPro")
    assert gen.held_out_tasks("DelayPro", "leave_two_out") == (
        "DelayPro",
        "DelayAnti",
    )
    kept = gen.pretraining_tasks("MultiMem", "leave_two_out")
    assert kept == TASK_NAMES[1:8]


def test_bad_fold_arguments_are_named():
    with pytest.raises(ValueError, match="valid modes"):
        gen.held_out_tasks("DelayPro", "leave_three_out")
    with pytest.raises(ValueError, match="not in the corpus"):
        gen.held_out_tasks("MultiMem", corpus=("DelayPro", "DelayAnti"))
    with pytest.raises(ValueError, match="exactly one of rng"):
        gen.run_fold("DelayPro", np.random.default_rng(0), seed=0, **TINY)
    with pytest.raises(ValueError, match="unknown reference"):
        gen.run_reference("DelayPro", "joint", seed=0, **TINY)


def test_same_seed_same_fold_and_another_seed_another():
    first = gen.run_fold("DelayAnti", seed=7, mode="leave_two_out", **TINY)
    again = gen.run_fold("DelayAnti", seed=7, mode="leave_two_out", **TINY)
    other = gen.run_fold("DelayAnti", seed=8, mode="leave_two_out", **TINY)
    assert without_seconds(first) == without_seconds(again)
    assert first["result"]["curve"] != other["result"]["curve"]


def test_a_given_test_batch_is_the_one_scored():
    stream = gen.seeded_rng(6, "test", "DelayPro")
    batch = make_batch("DelayPro", TINY["test_trials"], stream)
    given = gen.run_fold("DelayPro", seed=6, test_batch=batch, **TINY)
    drawn = gen.run_fold("DelayPro", seed=6, **TINY)
    assert without_seconds(given) == without_seconds(drawn)
    other = make_batch("DelayPro", 24, np.random.default_rng(0))
    scored = gen.run_fold("DelayPro", seed=6, test_batch=other, **TINY)
    assert scored["result"]["test_trials"] == 24
    wrong = make_batch("MultiMem", 4, stream)
    with pytest.raises(ValueError, match="TaskBatch of DelayPro"):
        gen.run_fold("DelayPro", seed=6, test_batch=wrong, pretrain_config=None)


def test_same_generator_state_same_fold():
    runs = [
        gen.run_fold("DelayAnti", np.random.default_rng(11), **TINY) for _ in range(2)
    ]
    assert without_seconds(runs[0]) == without_seconds(runs[1])


# ----------------------------------------------------------------------------
# Steps to criterion


def test_steps_to_criterion_on_a_hand_made_curve():
    steps = [100, 200, 300, 400]
    assert gen.steps_to_criterion(steps, [0.4, 0.85, 0.93, 0.97]) == 300
    assert gen.steps_to_criterion(steps, [0.4, 0.9, 0.8, 0.97]) == 200
    assert gen.steps_to_criterion(steps, [0.4, 0.5, 0.6, 0.89]) is None
    assert gen.steps_to_criterion(steps, [0.4, 0.5, 0.6, 0.7], 0.6) == 300
    assert gen.steps_to_criterion([], []) is None


def test_steps_to_criterion_rejects_bad_curves():
    with pytest.raises(ValueError, match="equal length"):
        gen.steps_to_criterion([1, 2], [0.5])
    with pytest.raises(ValueError, match="increasing"):
        gen.steps_to_criterion([2, 1], [0.5, 0.95])


# ----------------------------------------------------------------------------
# Corpus statistics


def test_match_components_recovers_a_permutation_with_signs_and_scales():
    full = np.random.default_rng(0).normal(size=(500, 3))
    part = full[:, [2, 0, 1]] * np.array([-1.0, 2.0, 0.5])
    order, matched, r2 = gen.match_components(full, part)
    assert order == [1, 2, 0]
    np.testing.assert_allclose(matched, 1.0, atol=1e-12)
    np.testing.assert_allclose(r2, 1.0, atol=1e-12)


def test_match_components_r2_of_an_independent_signal_is_small():
    rng = np.random.default_rng(1)
    full, part = rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3))
    _, matched, r2 = gen.match_components(full, part)
    assert max(matched) < 0.1 and max(r2) < 0.01


def test_nothing_held_out_gives_the_full_fit_back():
    shift = gen.corpus_shift(
        (), np.random.default_rng(0), np.random.default_rng(1), TINY_PRETRAIN
    )
    np.testing.assert_allclose(
        shift["leave_out_correlations"], shift["full_correlations"], rtol=1e-12
    )
    assert shift["u"]["order"] == [0, 1, 2]
    np.testing.assert_allclose(shift["u"]["matched"], 1.0, atol=1e-9)
    np.testing.assert_allclose(shift["v"]["r2"], 1.0, atol=1e-9)


def test_leave_out_fit_is_the_one_pretraining_used():
    fold = gen.run_fold("MemoryAnti", seed=4, **TINY)
    # Equal up to rounding: a column subset runs through BLAS differently.
    np.testing.assert_allclose(
        fold["corpus_shift"]["leave_out_correlations"],
        fold["pretraining"]["canonical_correlations"],
        rtol=1e-12,
    )


def test_known_columns_follow_the_corpus_layout():
    x_owner, y_owner = gen.corpus_columns()
    assert len(x_owner) == 25 and len(y_owner) == 22
    assert x_owner[:3] == ["DelayPro"] * 3
    assert x_owner[12:14] == ["MemoryDm1"] * 2
    assert y_owner[-2:] == ["MultiMem"] * 2


# ----------------------------------------------------------------------------
# Reference conditions


def test_control_is_the_random_start_of_the_pretraining():
    molap, sizes, _ = gen.reference_base("molap", 3, "cca", TINY_PRETRAIN)
    control, _, info = gen.reference_base("no_pretraining", 3, "cca", TINY_PRETRAIN)
    outside = np.ones(molap["J"].shape, dtype=bool)
    for block in module_slices(sizes):
        outside[block, block] = False
        assert not np.array_equal(molap["J"][block, block], control["J"][block, block])
    assert np.array_equal(molap["J"][outside], control["J"][outside])
    assert np.array_equal(molap["b"], control["b"])
    assert info["fits"] == []


def test_references_share_the_held_out_tasks_test_batch_and_streams():
    refs = {
        c: gen.run_reference("MemoryDm2", c, seed=1, **TINY)
        for c in ("molap", "no_pretraining")
    }
    fold = gen.run_fold("MemoryDm2", seed=1, **TINY)
    assert refs["molap"]["pretraining"]["tasks"] == list(TASK_NAMES)
    assert fold["pretraining"]["recurrent_sha256"] not in {
        r["pretraining"]["recurrent_sha256"] for r in refs.values()
    }
    for ref in refs.values():
        assert ref["result"]["test_trials"] == fold["result"]["test_trials"]


def test_separate_reference_gets_the_same_steps():
    ref = gen.run_reference("MemoryPro", "separate", seed=0, **TINY)
    assert ref["result"]["budget"] == TINY_TASK.steps
    assert ref["settings"]["separate_config"]["N"] == 200


def test_reference_from_a_trained_strategy():
    config = SeparateConfig(N=10, steps=4, batch_size=4, eval_every=2)
    trained = train_separate(
        ["DelayPro"], np.random.default_rng(0), config, verbose=False
    )
    batch = make_batch("DelayPro", 16, np.random.default_rng(1))
    (ref,) = gen.reference_from_strategy("separate", trained, {"DelayPro": batch})
    scores = trained.networks["DelayPro"].evaluate(batch)
    assert ref["result"]["paper_accuracy"] == scores["paper_accuracy"]
    assert ref["result"]["curve"]["steps"] == [2, 4]
    assert ref["result"]["budget"] == 4


# ----------------------------------------------------------------------------
# Study, summary, table and figures


@pytest.fixture(scope="module")
def study():
    return gen.generalisation_study(
        ["MultiMem"], 0, verbose=False, **TINY
    )  # every mode and reference for one task


def test_study_summary_has_every_condition(study):
    summary = study["summary"]
    assert summary["tasks"] == ["MultiMem"]
    assert summary["conditions"] == list(gen.CONDITIONS)
    assert summary["budgets"] == {c: [TINY_TASK.steps] for c in gen.CONDITIONS}
    assert summary["mean"]["separate"]["tasks"] == 1
    json.dumps(study, allow_nan=False)


def test_study_fold_equals_the_fold_run_alone(study):
    fold = gen.run_fold("MultiMem", seed=0, **TINY)
    assert without_seconds(study["folds"][0]) == without_seconds(fold)


def test_summary_refuses_two_results_for_one_cell(study):
    with pytest.raises(ValueError, match="two results"):
        gen.summarise(study["folds"] + study["folds"])


def test_markdown_table_and_figures(study):
    summary = study["summary"]
    table = gen.markdown_table(summary)
    assert table.count("| MultiMem |") == 1 and "**mean**" in table
    paper = summary["results"]["MultiMem"]["separate"]["paper_accuracy"]
    assert f"{paper:.2f}" in table
    assert "| MultiMem |" in gen.corpus_shift_table(summary)
    assert len(gen.plot_generalisation(summary).axes) == 3
    assert len(gen.plot_curves(summary).axes) == 1


def test_paired_difference_on_a_hand_made_summary():
    def entry(paper):
        return {"paper_accuracy": paper}

    summary = {
        "tasks": ["DelayPro", "MemoryPro", "MultiMem"],
        "results": {
            "DelayPro": {"molap": entry(0.9), "leave_one_out": entry(0.8)},
            "MemoryPro": {"molap": entry(0.5), "leave_one_out": entry(0.7)},
            "MultiMem": {"molap": entry(0.6)},
        },
    }
    paired = gen.paired_difference(summary, "leave_one_out")
    assert paired["tasks"] == ["DelayPro", "MemoryPro"]
    np.testing.assert_allclose(paired["differences"], [-0.1, 0.2])
    assert paired["mean"] == pytest.approx(0.05)
    assert paired["std"] == pytest.approx(np.sqrt(0.045))
    with pytest.raises(ValueError, match="no task has both"):
        gen.paired_difference(summary, "separate")
