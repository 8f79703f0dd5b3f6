"""Module pre-training: what it may change, what it learns, what it sees."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from molap_np import primitives, tasks
from molap_np.files import load_network
from molap_np.primitives import (
    DESIGNS,
    PretrainConfig,
    compare_designs,
    hold_last,
    hold_max,
    load_pretrained,
    make_primitives,
    pretrain,
    pretrained_path,
    save_pretrained,
    stimulus_on,
)
from molap_np.rnn import between_modules_mask, module_mask
from molap_np.task_learning import TaskLearningConfig
from molap_np.tasks import GO, STIM_ON, TASK_NAMES, make_batch


def _tiny(steps=3, **changes):
    settings = dict(
        N=12,
        module_sizes=(4, 4, 4),
        steps=steps,
        batch_size=4,
        corpus_trials=12,
        eval_trials=8,
        eval_every=steps,
    )
    settings.update(changes)
    return PretrainConfig(**settings)


def _pretrain(design, seed=0, config=None, **kwargs):
    config = config or _tiny()
    return pretrain(
        design, np.random.default_rng(seed), config, verbose=False, **kwargs
    )


@pytest.mark.parametrize("design", DESIGNS)
def test_only_own_blocks_change_and_b_never(design):
    result = _pretrain(design)
    before, after = result.initial_params, result.params
    between = between_modules_mask(result.module_sizes)
    np.testing.assert_array_equal(after["J"][between], before["J"][between])
    np.testing.assert_array_equal(after["b"], before["b"])
    for k in range(3):
        block = module_mask(result.module_sizes, k)
        assert np.all(after["J"][block] != before["J"][block])


def test_each_stage_changes_only_its_module(monkeypatch):
    stages = []
    real_train = primitives.train

    def recording_train(params, sample, trainable, *args, **kwargs):
        trained, log = real_train(params, sample, trainable, *args, **kwargs)
        stages.append((params["J"], trained["J"], trainable["J"]))
        return trained, log

    monkeypatch.setattr(primitives, "train", recording_train)
    result = _pretrain("cca")
    for k, (J_before, J_after, mask) in enumerate(stages):
        np.testing.assert_array_equal(mask, module_mask(result.module_sizes, k))
        changed = J_after != J_before
        assert changed.any() and not changed[~mask].any()


def test_short_training_improves_every_fit():
    config = dict(N=30, module_sizes=(10, 10, 10), batch_size=8)
    short = _pretrain("cca", config=_tiny(steps=1, **config))
    longer = _pretrain("cca", config=_tiny(steps=40, lr=1e-2, **config))
    assert all(b > a for a, b in zip(short.fits, longer.fits))
    assert min(longer.fits) > 0.5


def test_last_module_fit_is_unchanged_at_the_end():
    # Nothing trains after the last module: its final fit is its fit.
    result = _pretrain("cca", config=_tiny(steps=4))
    assert result.final_fits[-1] == result.fits[-1]
    assert result.final_fits[0] != result.fits[0]


def test_same_seed_same_result_other_seed_differs():
    first, again, other = _pretrain("task"), _pretrain("task"), _pretrain("task", 1)
    for name in first.params:
        np.testing.assert_array_equal(first.params[name], again.params[name])
    assert first.fits == again.fits
    assert not np.array_equal(first.params["J"], other.params["J"])


@pytest.mark.parametrize("design", DESIGNS)
def test_held_out_task_never_reaches_pretraining(design, monkeypatch):
    held_out = "ContextMemDm1"
    kept = tuple(t for t in TASK_NAMES if t != held_out)
    clean = _pretrain(design, tasks=kept)
    clean_all = _pretrain(design)

    real_build = tasks._build

    def perturbed_build(task, *args):
        batch = real_build(task, *args)
        if task == held_out:
            batch.inputs += 0.5
            batch.targets *= -1.0
        return batch

    monkeypatch.setattr(tasks, "_build", perturbed_build)
    perturbed = _pretrain(design, tasks=kept)
    for name in clean.params:
        np.testing.assert_array_equal(perturbed.params[name], clean.params[name])
    # The perturbation is visible whenever the task is used.
    assert not np.array_equal(_pretrain(design).params["J"], clean_all.params["J"])


def test_hold_last_keeps_each_pulse_until_the_next():
    batch = make_batch("MemoryDm1", 5, np.random.default_rng(0), noise=False)
    held = hold_last(batch.inputs[:, :, 1], stimulus_on(batch))
    theta1, theta2 = batch.params["theta1"], batch.params["theta2"]
    np.testing.assert_array_equal(held[:STIM_ON], 0.0)
    np.testing.assert_allclose(
        held[STIM_ON:65], np.broadcast_to(np.cos(theta1), (30, 5))
    )
    np.testing.assert_allclose(held[65:], np.broadcast_to(np.cos(theta2), (45, 5)))


@pytest.mark.parametrize("task", ["MemoryDm1", "MultiMem"])
def test_hold_max_ends_on_the_task_answer(task):
    batch = make_batch(task, 6, np.random.default_rng(1), noise=False)
    pulses = batch.inputs[:, :, 1:].sum(axis=2)  # MultiMem: cos + sin pulses
    running = hold_max(pulses, stimulus_on(batch))
    answer = batch.targets[GO, :, 1]
    np.testing.assert_allclose(running[65:], np.broadcast_to(answer, (45, 6)))
    np.testing.assert_array_equal(running[:STIM_ON], 0.0)


def test_design_signals_have_their_documented_shape():
    rng = np.random.default_rng(0)
    config = _tiny()
    task_design = make_primitives("task", rng, config)
    fixation = task_design.sample(0, 6, rng)
    assert np.all(np.isin(fixation.targets, (0.0, 1.0)))
    assert np.abs(fixation.inputs - fixation.targets).max() < 0.15

    memory = make_primitives("response-cca", rng, config).sample(1, 6, rng)
    assert memory.inputs.shape == (110, 6, 2)
    np.testing.assert_array_equal(memory.inputs[:STIM_ON, :, 1], 0.0)
    np.testing.assert_array_equal(memory.inputs[GO:, :, 1], 0.0)
    np.testing.assert_array_equal(memory.targets[:GO], 0.0)
    assert np.abs(memory.targets[GO:]).max() > 0.1

    paper = make_primitives("cca", rng, config).sample(2, 6, rng)
    assert paper.inputs.shape == paper.targets.shape == (110, 6, 1)
    assert -0.2 < paper.targets.min() and paper.targets.max() < 1.2


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="valid designs"):
        _pretrain("pca")
    with pytest.raises(ValueError, match="sum to N"):
        _pretrain("cca", config=_tiny(module_sizes=(4, 4, 5)))
    with pytest.raises(ValueError, match="3 primitives"):
        _pretrain("task", config=_tiny(r=2, module_sizes=(6, 6)))
    with pytest.raises(ValueError, match="unknown task"):
        _pretrain("cca", tasks=("DelayPro", "Delay"))


def test_saved_file_records_provenance(tmp_path):
    result = _pretrain("response-cca")
    path = tmp_path / "net.npz"
    save_pretrained(result, path, seed=0)
    params, metadata = load_network(path)
    for name in params:
        np.testing.assert_array_equal(params[name], result.params[name])
    assert metadata["design"] == "response-cca" and metadata["seed"] == 0
    assert metadata["fits"] == result.fits
    assert metadata["config"]["module_sizes"] == [4, 4, 4]
    assert len(metadata["canonical_correlations"]) == 3


def test_missing_shipped_weights_say_how_to_make_them():
    missing = [d for d in DESIGNS if not pretrained_path(d).exists()]
    for design in missing:
        with pytest.raises(FileNotFoundError, match="molap-np pretrain"):
            load_pretrained(design)


SHIPPED = [d for d in DESIGNS if pretrained_path(d).exists()]
ROOT = str(Path(__file__).resolve().parent.parent)


@pytest.mark.slow
@pytest.mark.parametrize("design", SHIPPED)
def test_pretrain_command_rebuilds_shipped_file(design, tmp_path):
    # The shipped files were made with one BLAS thread; another thread count
    # sums in another order and changes the last bits.
    out = tmp_path / "rebuilt.npz"
    command = [sys.executable, "-m", "molap_np.cli", "pretrain", "--design"]
    command += [design, "--seed", "0", "--out", str(out), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env["MKL_NUM_THREADS"] = "1"
    paths = [ROOT] + env.get("PYTHONPATH", "").split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    subprocess.run(command, env=env, check=True, cwd=tmp_path)
    shipped_params, shipped_meta = load_pretrained(design)
    params, metadata = load_network(out)
    for name in shipped_params:
        np.testing.assert_array_equal(params[name], shipped_params[name])
    assert metadata == shipped_meta


def test_compare_designs_is_json_ready():
    results = compare_designs(
        designs=("cca",),
        seeds=(0, 1),
        task_config=TaskLearningConfig(steps=2, eval_every=1, eval_batch_size=4),
        pretrain_config=_tiny(steps=2),
        tasks=("MemoryPro", "MemoryDm1"),
        verbose=False,
        test_trials=6,
    )
    json.dumps(results, allow_nan=False)
    assert list(results["conditions"]) == ["cca", "no-pretraining"]
    control = results["conditions"]["no-pretraining"]
    per_task = [control["tasks"][t]["paper"] for t in ("MemoryPro", "MemoryDm1")]
    np.testing.assert_allclose(control["mean"]["paper"], np.mean(per_task, axis=0))
    values = control["tasks"]["MemoryPro"]["strict"]
    assert control["tasks"]["MemoryPro"]["strict_std"] == pytest.approx(
        np.std(values, ddof=1)
    )
