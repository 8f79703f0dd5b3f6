"""The modular RNN: shapes, modules, errors, and its gradients.

The gradients of ``forward`` come from a hand-written reverse pass (see the
module docstring of ``molap_np.rnn``); they are checked against finite
differences, against the independent oracle in ``bptt_oracle.py``, and
against autograd tracing the time loop op by op.
"""

from types import SimpleNamespace

import autograd.numpy as anp
import bptt_oracle
import numpy as np
import pytest
from autograd import grad, make_jvp, value_and_grad
from autograd.test_util import check_grads

from molap_np import rnn
from molap_np.training import mse_loss

PLAIN = None
MODULAR = (3, 2)


def tiny(module_sizes=MODULAR, N=5, n_in=3, n_out=2, T=6, B=3, seed=0):
    """A tiny float64 network and a random batch to differentiate."""
    rng = np.random.default_rng(seed)
    params = rnn.init_params(n_in, N, n_out, rng, module_sizes=module_sizes)
    batch = SimpleNamespace(
        inputs=rng.normal(size=(T, B, n_in)),
        targets=rng.normal(size=(T, B, n_out)),
    )
    return params, batch


def traced_forward(params, inputs):
    """Equations (1)-(2) as plain autograd ops, traced step by step."""
    h = anp.ones((inputs.shape[1], 1)) * params["h0"]
    states = []
    for x in inputs:
        h = anp.tanh(x @ params["W_in"].T + h @ params["J"].T + params["b"])
        states.append(h)
    states = anp.stack(states)
    return states, states @ params["W_out"].T + params["b_out"]


def step_by_hand(p, x, h):
    """Equation (1) for one step, x (B, n_in) and h (B, N)."""
    return np.tanh(x @ p["W_in"].T + h @ p["J"].T + p["b"])


def relative_error(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


# --- gradients ---------------------------------------------------------------


@pytest.mark.parametrize("module_sizes", [MODULAR, PLAIN], ids=["modular", "plain"])
@pytest.mark.parametrize("name", rnn.PARAM_NAMES)
def test_gradient_matches_finite_differences(module_sizes, name):
    params, batch = tiny(module_sizes)

    def loss(weight):
        return mse_loss({**params, name: weight}, batch, l2=0.05)

    check_grads(loss, modes=["rev"], order=1)(params[name])


def test_gradient_check_catches_a_wrong_reverse_pass(monkeypatch):
    params, batch = tiny()
    right = rnn._backprop_through_time

    def off_by_a_little(*args):
        d, carry = right(*args)
        return d * 1.001, carry

    monkeypatch.setattr(rnn, "_backprop_through_time", off_by_a_little)
    with pytest.raises(AssertionError):
        check_grads(lambda J: mse_loss({**params, "J": J}, batch), modes=["rev"])(
            params["J"]
        )


@pytest.mark.parametrize("module_sizes", [MODULAR, PLAIN], ids=["modular", "plain"])
def test_gradients_match_hand_derived_oracle(module_sizes):
    params, batch = tiny(module_sizes, N=5 if module_sizes else 7, T=12, B=4)
    l2 = 0.01
    loss, grads = value_and_grad(mse_loss)(params, batch, l2)
    expected_loss, expected = bptt_oracle.loss_and_grads(
        params, batch.inputs, batch.targets, l2
    )
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for name in rnn.PARAM_NAMES:
        assert relative_error(grads[name], expected[name]) < 1e-10, name


def test_oracle_agrees_when_units_saturate():
    # Large weights push tanh to +-1, where 1 - h^2 is tiny and errors in
    # the reverse pass would hide less well than near zero.
    params, batch = tiny(PLAIN, N=6, T=15, B=2, seed=3)
    params = {**params, "J": 3 * params["J"], "W_in": 4 * params["W_in"]}
    grads = grad(mse_loss)(params, batch, 0.0)
    _, expected = bptt_oracle.loss_and_grads(params, batch.inputs, batch.targets, 0)
    for name in rnn.PARAM_NAMES:
        assert relative_error(grads[name], expected[name]) < 1e-10, name


def test_gradients_match_autograd_tracing_the_loop():
    params, batch = tiny((5, 3), N=8, T=20, B=5, seed=1)

    def traced_loss(p):
        outputs = traced_forward(p, batch.inputs)[1]
        return anp.mean((outputs - batch.targets) ** 2)

    grads = grad(lambda p: mse_loss(p, batch, l2=0.0))(params)
    expected = grad(traced_loss)(params)
    for name in rnn.PARAM_NAMES:
        assert relative_error(grads[name], expected[name]) < 1e-12, name


def test_gradient_through_states_and_inputs():
    params, batch = tiny()

    def through_states(J):
        states, _ = rnn.forward({**params, "J": J}, batch.inputs)
        return anp.sum(anp.sin(states))

    def through_inputs(inputs):
        return anp.sum(rnn.forward(params, inputs)[1] ** 2)

    check_grads(through_states, modes=["rev"], order=1)(params["J"])
    check_grads(through_inputs, modes=["rev"], order=1)(batch.inputs)


def test_gradient_with_state_noise():
    params, batch = tiny()
    noise = 0.3 * np.random.default_rng(5).normal(size=(6, 3, 5))

    def loss(J):
        outputs = rnn.forward({**params, "J": J}, batch.inputs, noise)[1]
        return anp.mean((outputs - batch.targets) ** 2)

    check_grads(loss, modes=["rev"], order=1)(params["J"])


def test_unsupported_derivatives_raise_clear_errors():
    params, batch = tiny()

    def loss(J):
        return mse_loss({**params, "J": J}, batch)

    with pytest.raises(NotImplementedError, match="first derivatives"):
        grad(lambda J: anp.sum(grad(loss)(J)))(params["J"])
    with pytest.raises(NotImplementedError):
        make_jvp(loss)(params["J"])(params["J"])
    noise = np.zeros((6, 3, 5))
    with pytest.raises(NotImplementedError, match="state_noise"):
        grad(lambda z: anp.sum(rnn.forward(params, batch.inputs, z)[0]))(noise)


# --- forward -------------------------------------------------------------------


def test_forward_follows_the_equations():
    params, batch = tiny(N=5, T=4, B=2)
    states, outputs = rnn.forward(params, batch.inputs)
    h = np.tile(params["h0"], (2, 1))
    for t in range(4):
        h = step_by_hand(params, batch.inputs[t], h)
        np.testing.assert_allclose(states[t], h, rtol=0, atol=1e-14)
    np.testing.assert_allclose(
        outputs, states @ params["W_out"].T + params["b_out"], rtol=0, atol=1e-14
    )
    assert states.shape == (4, 2, 5) and outputs.shape == (4, 2, 2)


def test_state_noise_is_added_after_each_step():
    params, batch = tiny(N=5, T=4, B=2)
    noise = np.random.default_rng(2).normal(size=(4, 2, 5))
    states = rnn.forward(params, batch.inputs, noise)[0]
    h = np.tile(params["h0"], (2, 1))
    for t in range(4):
        h = step_by_hand(params, batch.inputs[t], h)
        h = h + noise[t]
        np.testing.assert_allclose(states[t], h, rtol=0, atol=1e-14)


def test_forward_leaves_its_arguments_alone():
    params, batch = tiny()
    before = {k: v.copy() for k, v in params.items()}
    inputs = batch.inputs.copy()
    rnn.forward(params, batch.inputs)
    assert all(np.array_equal(params[k], before[k]) for k in params)
    assert np.array_equal(batch.inputs, inputs)


@pytest.mark.parametrize(
    "shape, message",
    [((6, 3), r"\(T, B, 3\)"), ((6, 3, 4), r"\(T, B, 3\)"), ((0, 3, 3), "T, B >= 1")],
)
def test_forward_rejects_wrong_input_shapes(shape, message):
    params, _ = tiny()
    with pytest.raises(ValueError, match=message):
        rnn.forward(params, np.zeros(shape))


def test_forward_rejects_nan_inputs_and_bad_noise():
    params, batch = tiny()
    inputs = batch.inputs.copy()
    inputs[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rnn.forward(params, inputs)
    with pytest.raises(ValueError, match="state_noise"):
        rnn.forward(params, batch.inputs, np.zeros((6, 3, 4)))


def test_check_params_names_the_problem():
    params, batch = tiny()
    with pytest.raises(ValueError, match="lack.*h0"):
        rnn.forward({k: v for k, v in params.items() if k != "h0"}, batch.inputs)
    with pytest.raises(ValueError, match=r"J has shape \(5, 4\)"):
        rnn.forward({**params, "J": params["J"][:, :4]}, batch.inputs)


# --- weights and modules --------------------------------------------------------


def test_init_params_shapes_scales_and_seed():
    params = rnn.init_params(3, 400, 2, np.random.default_rng(0), g=1.5)
    shapes = {k: v.shape for k, v in params.items()}
    assert shapes == {
        "W_in": (400, 3),
        "J": (400, 400),
        "b": (400,),
        "W_out": (2, 400),
        "b_out": (2,),
        "h0": (400,),
    }
    assert np.std(params["J"]) == pytest.approx(1.5 / np.sqrt(401), rel=0.01)
    assert np.std(params["W_in"]) == pytest.approx(1 / np.sqrt(3), rel=0.1)
    assert np.std(params["W_out"]) == pytest.approx(1 / np.sqrt(401), rel=0.05)
    again = rnn.init_params(3, 400, 2, np.random.default_rng(0), g=1.5)
    assert all(np.array_equal(params[k], again[k]) for k in params)


def test_init_params_rejects_bad_arguments():
    with pytest.raises(TypeError, match="Generator"):
        rnn.init_params(3, 5, 2, 0)
    with pytest.raises(ValueError, match="N must be a positive integer"):
        rnn.init_params(3, 0, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="do not sum to N = 5"):
        rnn.init_params(3, 5, 2, np.random.default_rng(0), module_sizes=(2, 2))


def test_module_masks_tile_J():
    sizes = (3, 2, 4)
    masks = [rnn.module_mask(sizes, k) for k in range(3)]
    between = rnn.between_modules_mask(sizes)
    total = sum(m.astype(int) for m in masks) + between.astype(int)
    assert np.array_equal(total, np.ones((9, 9), dtype=int))
    assert [int(m.sum()) for m in masks] == [9, 4, 16]
    assert masks[1][3:5, 3:5].all() and not masks[1][:3].any()
    assert rnn.module_slices(sizes) == [slice(0, 3), slice(3, 5), slice(5, 9)]


def test_module_sizes_are_checked():
    with pytest.raises(ValueError, match="positive integers"):
        rnn.module_slices((3, 0))
    with pytest.raises(ValueError, match="out of range"):
        rnn.module_mask((3, 2), 2)
