"""Reference bundles, the checker, and a PyTorch port checked against them."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from molap_np.cli import main
from molap_np.files import save_network
from molap_np.reference import (
    QUANTITIES,
    TOLERANCES,
    ReferenceFileError,
    check_against_reference,
    compute_reference,
    load_reference,
    relative_error,
    write_reference,
)
from molap_np.rnn import forward

SMALL = dict(N=12, batch_size=3, module_sizes=(4, 4, 4))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A small bundle on disk and its path."""
    path = tmp_path_factory.mktemp("reference") / "ref.npz"
    return write_reference(path, seed=3, task="MemoryPro", **SMALL), path


@pytest.fixture(scope="module")
def torch_port():
    """tests/torch_port.py as a module; skips where PyTorch is absent."""
    pytest.importorskip(
        "torch", reason="PyTorch is an optional test dependency, not installed"
    )
    spec = importlib.util.spec_from_file_location(
        "torch_port", Path(__file__).parent / "torch_port.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def true_arrays(reference):
    return {name: array.copy() for name, array in reference.quantities().items()}


def shifted_outputs(reference):
    """Outputs read from h[t] instead of h[t+1]: an off-by-one in time."""
    params = reference.params
    h0 = np.broadcast_to(params["h0"], (1,) + reference.states.shape[1:])
    states = np.concatenate([h0, reference.states[:-1]])  # h[0] .. h[T-1]
    return states @ params["W_out"].T + params["b_out"]


# ---------------------------------------------------------------------------
# The bundle


def test_bundle_round_trips_exactly(bundle):
    reference, path = bundle
    loaded = load_reference(path)

    assert loaded.metadata == reference.metadata
    for name, array in reference.arrays().items():
        assert loaded.arrays()[name].dtype == np.float64
        assert np.array_equal(loaded.arrays()[name], array), name


def test_bundle_is_the_same_for_the_same_seed(bundle):
    reference, _ = bundle
    again = compute_reference(seed=3, task="MemoryPro", **SMALL)
    other = compute_reference(seed=4, task="MemoryPro", **SMALL)

    assert np.array_equal(again.states, reference.states)
    assert np.array_equal(again.grads["grad_J"], reference.grads["grad_J"])
    assert not np.array_equal(other.inputs, reference.inputs)


def test_bundle_layout_matches_the_documented_shapes(bundle):
    reference, _ = bundle
    T, B, N = 110, 3, 12

    assert reference.inputs.shape == (T, B, 3)
    assert reference.states.shape == (T, B, N)
    assert reference.outputs.shape == (T, B, 3)
    assert reference.params["W_in"].shape == (N, 3)
    assert reference.grads["grad_W_out"].shape == (3, N)
    assert reference.metadata["module_sizes"] == [4, 4, 4]


def test_gradients_agree_with_finite_differences(bundle):
    # An oracle independent of autograd: central differences of the loss.
    reference, _ = bundle
    from molap_np.tasks import TaskBatch
    from molap_np.training import mse_loss

    batch = TaskBatch("MemoryPro", reference.inputs, reference.targets)
    l2 = reference.metadata["l2"]
    for name, index in (("J", (2, 7)), ("h0", (5,)), ("W_in", (0, 1))):
        params = {k: v.copy() for k, v in reference.params.items()}
        step = 1e-6
        params[name][index] += step
        up = mse_loss(params, batch, l2)
        params[name][index] -= 2 * step
        down = mse_loss(params, batch, l2)
        numeric = (up - down) / (2 * step)
        assert numeric == pytest.approx(
            reference.grads[f"grad_{name}"][index], rel=1e-6, abs=1e-10
        )


def test_states_and_loss_follow_the_equations(bundle):
    # Equation (1) for the first step and (3) written out by hand.
    reference, _ = bundle
    p = reference.params
    h1 = np.tanh(reference.inputs[0] @ p["W_in"].T + p["J"] @ p["h0"] + p["b"])
    mse = np.mean((reference.outputs - reference.targets) ** 2)
    penalty = np.sum(p["W_in"] ** 2) + np.sum(p["J"] ** 2)

    assert np.allclose(reference.states[0], h1, rtol=0, atol=1e-14)
    assert reference.loss == pytest.approx(mse + 2e-6 * penalty, rel=1e-14)


def test_given_weights_are_used(tmp_path):
    weights = compute_reference(seed=0, task="MemoryDm1", N=6).params
    reference = compute_reference(seed=9, task="MemoryDm1", params=weights)

    assert reference.metadata["weights"] == "given"
    assert np.array_equal(reference.params["J"], weights["J"])
    with pytest.raises(ValueError, match="MemoryPro needs"):
        compute_reference(seed=9, task="MemoryPro", params=weights)


# ---------------------------------------------------------------------------
# Loading refuses what is not a bundle


def _rewrite(path, target, **changes):
    """Copy a bundle with some arrays or metadata entries changed."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    metadata = json.loads(str(arrays["metadata"]))
    metadata.update(changes.pop("metadata", {}))
    arrays["metadata"] = np.array(json.dumps(metadata))
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(target, **arrays)
    return target


def test_load_refuses_a_network_file(bundle, tmp_path):
    reference, _ = bundle
    path = tmp_path / "net.npz"
    save_network(path, reference.params)

    with pytest.raises(ReferenceFileError, match="molap_np.network file"):
        load_reference(path)


def test_load_refuses_a_corrupt_file(bundle, tmp_path):
    _, path = bundle
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:5000])

    with pytest.raises(ReferenceFileError, match="not a readable"):
        load_reference(broken)


def test_load_refuses_another_format_version(bundle, tmp_path):
    _, path = bundle
    old = _rewrite(path, tmp_path / "old.npz", metadata={"format_version": 0})

    with pytest.raises(ReferenceFileError, match="format version 0"):
        load_reference(old)


def test_load_refuses_missing_or_wrong_arrays(bundle, tmp_path):
    _, path = bundle
    missing = _rewrite(path, tmp_path / "missing.npz", grad_b=None)
    wrong = _rewrite(path, tmp_path / "wrong.npz", J=np.zeros((12, 12), "f4"))

    with pytest.raises(ReferenceFileError, match="'grad_b' is missing"):
        load_reference(missing)
    with pytest.raises(ReferenceFileError, match="J is float32"):
        load_reference(wrong)


def test_load_refuses_pickled_objects(tmp_path):
    path = tmp_path / "pickle.npz"
    np.savez(path, metadata=np.array([{"format": "x"}], dtype=object))

    with pytest.raises(ReferenceFileError, match="refused to load"):
        load_reference(path)


# ---------------------------------------------------------------------------
# The checker


def test_relative_error_is_scaled_by_the_largest_reference_entry():
    assert relative_error([1.0, 2.5], [1.0, 2.0]) == pytest.approx(0.25)
    assert relative_error([0.0], [0.0]) == 0.0
    assert relative_error([np.nan], [1.0]) == np.inf


def test_checker_passes_the_true_values(bundle):
    reference, path = bundle
    result = check_against_reference(path, true_arrays(reference))

    assert result.passed
    assert [check.name for check in result.checks] == list(QUANTITIES)
    assert max(result.errors.values()) == 0.0
    assert "9 of 9 quantities pass: PASSED" in str(result)


def test_checker_flags_a_transposed_J(bundle):
    reference, _ = bundle
    wrong = {**reference.params, "J": reference.params["J"].T}
    arrays = true_arrays(reference)
    arrays["states"], arrays["outputs"] = forward(wrong, reference.inputs)
    arrays["grad_J"] = reference.grads["grad_J"].T
    result = check_against_reference(reference, arrays)

    assert not result.passed
    assert result["states"].status == "FAIL"
    assert result["outputs"].error > 0.1
    assert result["grad_J"].hint == "matches the reference transposed"
    assert result["loss"].passed


def test_checker_flags_outputs_one_step_late(bundle):
    reference, _ = bundle
    arrays = true_arrays(reference)
    arrays["outputs"] = shifted_outputs(reference)
    result = check_against_reference(reference, arrays)

    assert result["outputs"].status == "FAIL"
    assert result["outputs"].hint.startswith("lags one step")
    assert [c.name for c in result.checks if not c.passed] == ["outputs"]


def test_checker_flags_a_missing_bias(bundle):
    reference, _ = bundle
    arrays = true_arrays(reference)
    no_bias = {**reference.params, "b": np.zeros_like(reference.params["b"])}
    arrays["states"], arrays["outputs"] = forward(no_bias, reference.inputs)
    del arrays["grad_b"]
    result = check_against_reference(reference, arrays)

    assert result["states"].status == "FAIL"
    assert result["grad_b"].status == "MISSING"
    assert "grad_b      -" in result.report()


def test_checker_names_the_expected_shape(bundle):
    reference, _ = bundle
    arrays = true_arrays(reference)
    arrays["states"] = reference.states.transpose(1, 0, 2)  # (B, T, N)
    arrays["grad_W_in"] = reference.grads["grad_W_in"].T
    result = check_against_reference(reference, arrays)

    assert result["states"].status == "SHAPE"
    assert "batch-major" in result["states"].hint
    assert result["grad_W_in"].hint.startswith("expected (12, 3): looks transposed")
    assert "expected (110, 3, 12)" in result.report()


def test_checker_explains_common_loss_and_gradient_slips(bundle):
    reference, _ = bundle
    arrays = true_arrays(reference)
    arrays["loss"] = np.float64(reference.mse)
    arrays["grad_h0"] = -reference.grads["grad_h0"]
    arrays["grad_W_out"] = 330 * reference.grads["grad_W_out"]
    l2_part = 2 * reference.metadata["l2"] * reference.params["J"]
    arrays["grad_J"] = reference.grads["grad_J"] - l2_part
    result = check_against_reference(reference, arrays)

    assert result["loss"].hint == "equals the loss without its L2 term"
    assert result["grad_h0"].hint == "has the opposite sign"
    assert result["grad_W_out"].hint == "is the reference times 330"
    assert result["grad_J"].hint == "lacks the gradient of the L2 term"


def test_checker_options_and_errors(bundle):
    reference, _ = bundle
    forward_only = {"states": reference.states, "outputs": reference.outputs}
    result = check_against_reference(
        reference, {**forward_only, "grad_Win": 0}, quantities=["states", "outputs"]
    )

    assert result.passed and result.ignored == ["grad_Win"]
    assert "ignored keys" in result.report()
    with pytest.raises(ValueError, match="valid: float64, float32"):
        check_against_reference(reference, forward_only, dtype="float16")
    with pytest.raises(ValueError, match="unknown quantities"):
        check_against_reference(reference, forward_only, quantities=["state"])


def test_float32_rounding_of_the_truth_passes_only_at_float32(bundle):
    reference, _ = bundle
    arrays = {k: v.astype(np.float32) for k, v in true_arrays(reference).items()}

    assert check_against_reference(reference, arrays, dtype="float32").passed
    assert not check_against_reference(reference, arrays, dtype="float64").passed


# ---------------------------------------------------------------------------
# The command line


def test_cli_writes_and_checks_a_bundle(tmp_path, capsys):
    ref, other = tmp_path / "ref.npz", tmp_path / "other.npz"
    argv = ["reference", "--seed", "1", "--out", str(ref), "--N", "9"]
    assert main(argv + ["--batch-size", "2", "--task", "MultiMem"]) == 0
    reference = load_reference(ref)
    np.savez(other, **true_arrays(reference))

    assert main(["check-reference", str(ref), str(other)]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert reference.metadata["task"] == "MultiMem"


def test_cli_check_fails_with_exit_status_1(bundle, tmp_path, capsys):
    reference, path = bundle
    arrays = true_arrays(reference)
    arrays["outputs"] = shifted_outputs(reference).astype(np.float32)
    np.savez(tmp_path / "other.npz", **arrays)

    with pytest.raises(SystemExit) as stop:
        main(["check-reference", str(path), str(tmp_path / "other.npz")])
    assert stop.value.code == 1
    assert "float32 tolerances" in capsys.readouterr().out


def test_cli_uses_a_network_file(bundle, tmp_path):
    reference, _ = bundle
    save_network(tmp_path / "net.npz", reference.params, [6, 6], task="MemoryAnti")
    out = tmp_path / "ref.npz"
    main(["reference", "--network", str(tmp_path / "net.npz"), "--out", str(out)])
    loaded = load_reference(out)

    assert loaded.metadata["task"] == "MemoryAnti"
    assert loaded.metadata["module_sizes"] == [6, 6]
    assert np.array_equal(loaded.params["W_out"], reference.params["W_out"])


# ---------------------------------------------------------------------------
# An independent implementation: the PyTorch port


def test_torch_port_matches_in_float64(bundle, torch_port):
    _, path = bundle
    arrays = torch_port.run_port(path, torch_port.torch.float64)
    result = check_against_reference(path, arrays, dtype="float64")

    assert result.passed, result.report()
    assert TOLERANCES["float64"] == 1e-10


def test_torch_port_matches_in_float32(bundle, torch_port):
    _, path = bundle
    arrays = torch_port.run_port(path, torch_port.torch.float32)
    result = check_against_reference(path, arrays, dtype="float32")

    assert arrays["states"].dtype == np.float32
    assert result.passed, result.report()
    assert max(result.errors.values()) > 0  # it really rounded


def test_torch_port_at_full_size_and_the_default_seed(tmp_path, torch_port):
    path = tmp_path / "ref.npz"
    write_reference(path, seed=0)  # N = 150, B = 8, MemoryPro
    for dtype in ("float64", "float32"):
        arrays = torch_port.run_port(path, getattr(torch_port.torch, dtype))
        result = check_against_reference(path, arrays, dtype=dtype)
        assert result.passed, result.report()


def test_a_buggy_torch_port_fails_in_float32(bundle, torch_port):
    _, path = bundle
    torch = torch_port.torch
    inputs, targets, weights, l2 = torch_port.load_bundle(path, torch.float32)
    wrong = {**weights, "J": weights["J"].T}
    states, outputs = torch_port.run_network(wrong, inputs)
    arrays = {"states": states.detach(), "outputs": outputs.detach()}
    result = check_against_reference(
        path, arrays, "float32", quantities=["states", "outputs"]
    )

    assert result["states"].error > 100 * TOLERANCES["float32"]
    assert not result.passed
