"""The five strategies: they learn, DNI's projection does what it promises,
and their costs are counted right."""

import numpy as np
import pytest

from molap_np.strategies import (
    STRATEGY_NAMES,
    dni,
    make_config,
    train_strategy,
    with_steps_per_task,
)
from molap_np.strategies.base import TaskNetwork, masked_mse_loss, to_network_batch
from molap_np.tasks import TASK_SIZES, make_batch

TWO_TASKS = ["DelayPro", "MemoryDm1"]
PRE_N, PRE_M = 30, 10

# Tiny settings: every strategy trains in about a second.
TINY = {
    "molap": {
        "pretrain": {
            "N": PRE_N,
            "module_sizes": [PRE_M] * 3,
            "steps": 10,
            "corpus_trials": 16,
            "eval_trials": 16,
            "eval_every": 5,
        },
        "task_learning": {
            "steps": 40,
            "batch_size": 16,
            "eval_every": 20,
            "eval_batch_size": 32,
        },
    },
    "no_pretraining": {
        "N": PRE_N,
        "module_sizes": [PRE_M] * 3,
        "task_learning": {
            "steps": 40,
            "batch_size": 16,
            "eval_every": 20,
            "eval_batch_size": 32,
        },
    },
    "separate": {"N": 24, "steps": 40, "batch_size": 16, "eval_every": 20},
    "dni": {"N": 24, "steps": 40, "batch_size": 16, "eval_every": 20},
    "joint": {"N": 24, "steps": 80, "batch_size": 16, "eval_every": 40},
}
for _name in ("separate", "dni", "joint"):
    TINY[_name]["eval_batch_size"] = 32
TINY["dni"]["moment_batch_size"] = 32


def tiny(name, steps=None, **changes):
    config = make_config(name, {**TINY[name], **changes})
    if steps is not None:
        config = with_steps_per_task(name, config, steps, 1)
    return config


def held_out_loss(result, task, batch):
    network = result.networks[task]
    return float(masked_mse_loss(network.params, to_network_batch(network, batch)))


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_each_strategy_beats_its_untrained_self(name):
    task = "DelayPro"
    batch = make_batch(task, 64, np.random.default_rng(99))
    trained = train_strategy(
        name, [task], np.random.default_rng(0), tiny(name), verbose=False
    )
    untrained = train_strategy(
        name, [task], np.random.default_rng(0), tiny(name, steps=0), verbose=False
    )
    assert held_out_loss(trained, task, batch) < 0.7 * held_out_loss(
        untrained, task, batch
    )


def test_strategies_reject_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="valid"):
        train_strategy("ensemble", TWO_TASKS, rng)
    with pytest.raises(ValueError, match="unknown settings"):
        make_config("separate", {"hidden": 10})
    with pytest.raises(ValueError, match="unknown task"):
        train_strategy("separate", ["Delay"], rng, tiny("separate"))
    with pytest.raises(TypeError, match="Generator"):
        train_strategy("dni", TWO_TASKS, 0, tiny("dni"))


# ------------------------------------------------------------------ DNI


def random_moments(rng, n, rank):
    """A second-moment matrix of ``rank`` strong directions, shape (n, n)."""
    Z = rng.normal(size=(500, rank)) @ rng.normal(size=(rank, n))
    return Z.T @ Z / 500 + 1e-6 * np.eye(n)


def test_projector_is_the_inverse_it_claims():
    rng = np.random.default_rng(1)
    S = random_moments(rng, 12, 4)
    alpha = 1e-3
    expected = np.linalg.inv(S / alpha + np.eye(12))
    assert np.allclose(dni.projector(S, alpha), expected, atol=1e-9)


def test_projector_shrinks_a_dominant_direction_by_alpha_over_alpha_plus_lambda():
    # Real activity of a small network on a task it has learned.
    result = train_strategy(
        "dni", ["MemoryPro"], np.random.default_rng(2), tiny("dni"), verbose=False
    )
    network = result.networks["MemoryPro"]
    batch = make_batch("MemoryPro", 64, np.random.default_rng(3))
    S, _ = dni.input_moments(network.params, network.network_inputs(batch.inputs))
    alpha = 1e-3
    P_in = dni.projector(S, alpha)

    # The dominant direction by power iteration, its variance by the
    # Rayleigh quotient: neither uses the eigendecomposition of projector().
    u = np.ones(len(S))
    for _ in range(500):
        u = S @ u
        u /= np.linalg.norm(u)
    lam = u @ S @ u
    assert lam > 100 * alpha

    G = np.outer(np.random.default_rng(4).normal(size=24), u)  # along u only
    shrunk = np.linalg.norm(G @ P_in) / np.linalg.norm(G)
    assert shrunk == pytest.approx(alpha / (alpha + lam), rel=1e-3)


def test_projection_with_huge_alpha_leaves_gradients_alone():
    rng = np.random.default_rng(5)
    N, n_in = 16, 3
    weights = {
        "W_in": rng.normal(size=(N, n_in)),
        "J": rng.normal(size=(N, N)),
        "b": rng.normal(size=N),
        "W_out": rng.normal(size=(3, N)),
        "b_out": rng.normal(size=3),
    }
    S = random_moments(rng, n_in + N + 1, 8)
    R = random_moments(rng, N + 1, 8)
    projection = dni.make_projection(weights, S, R, alpha=1e12)
    grads = {k: rng.normal(size=v.shape) for k, v in weights.items()}
    projected = dni.project_grads(grads, projection)
    for name in grads:
        assert np.allclose(projected[name], grads[name], rtol=1e-6, atol=1e-8)


def test_dni_with_huge_alpha_is_plain_sequential_training():
    tasks = ["DelayPro", "MemoryPro"]
    plain = train_strategy(
        "dni", tasks, np.random.default_rng(6), tiny("dni", project=False), False
    )
    huge = train_strategy(
        "dni", tasks, np.random.default_rng(6), tiny("dni", alpha=1e12), False
    )
    for name, value in plain.networks["DelayPro"].params.items():
        assert np.allclose(huge.networks["DelayPro"].params[name], value, atol=1e-7)


def change_along(tasks, **settings):
    """Mean change of W during task 2 along task 1's strong and weak inputs."""
    config = tiny("dni", steps=60, **settings)
    first = train_strategy("dni", tasks[:1], np.random.default_rng(7), config, False)
    both = train_strategy("dni", tasks, np.random.default_rng(7), config, False)
    before = first.networks[tasks[0]].params
    after = both.networks[tasks[0]].params

    network = TaskNetwork(tasks[0], before, (24,))
    batch = make_batch(tasks[0], 128, np.random.default_rng(8))
    S, _ = dni.input_moments(before, network.network_inputs(batch.inputs))
    lam, U = np.linalg.eigh(S)
    change = np.linalg.norm(
        (dni.recurrent_matrix(after) - dni.recurrent_matrix(before)) @ U, axis=0
    )
    strong, weak = lam > 100 * config.alpha, lam < config.alpha
    assert strong.sum() >= 3 and weak.sum() >= 1
    return change[strong].mean(), change[weak].mean()


def test_projection_keeps_task_2_off_task_1_directions():
    # MemoryDm1 leaves input channel 2 at exactly zero: a direction task 1
    # never used, which ContextMemDm1 needs.
    tasks = ["MemoryDm1", "ContextMemDm1"]
    strong, weak = change_along(tasks)
    assert strong < 0.05 * weak
    # Without the projection the strong directions move as much as any.
    strong_plain, weak_plain = change_along(tasks, project=False)
    assert strong_plain > 0.2 * weak_plain


# ---------------------------------------------------------------- counts


def sizes(n_in, N, n_out):
    """Scalars of W_in, J, b, W_out, b_out and h0."""
    return {
        "W_in": N * n_in,
        "J": N * N,
        "b": N,
        "W_out": n_out * N,
        "b_out": n_out,
        "h0": N,
    }


def task_weights(task, N):
    n_in, n_out = TASK_SIZES[task]
    counted = sizes(n_in, N, n_out)
    return counted["W_in"] + counted["W_out"] + counted["b_out"] + counted["h0"]


def expected_counts(name, tasks):
    """(trainable params, updates) from the shapes and the step counts."""
    s = TINY[name]
    if name in ("molap", "no_pretraining"):
        steps = s["task_learning"]["steps"]
        per_task = [task_weights(task, PRE_N) for task in tasks]
        params, updates = sum(per_task), steps * sum(per_task)
        if name == "molap":
            # Module k: its block of J, the input weights (one primitive
            # input), the readout and h0; each step changes all of them.
            module = PRE_M**2 + PRE_N + PRE_N + 1 + PRE_N
            params += 3 * PRE_M**2 + PRE_N + PRE_N + 1 + PRE_N
            updates += 3 * s["pretrain"]["steps"] * module
        return params, updates
    if name == "separate":
        per_task = [
            sum(sizes(*TASK_SIZES[t][:1], s["N"], TASK_SIZES[t][1]).values())
            for t in tasks
        ]
        return sum(per_task), s["steps"] * sum(per_task)
    if name == "dni":
        whole = sum(sizes(3, s["N"], 3).values())
        steps = s["steps"]
        return whole, steps * whole + (len(tasks) - 1) * steps * (whole - s["N"])
    whole = sum(sizes(3 + len(tasks), s["N"], 3).values())
    return whole, s["steps"] * whole


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_counts_match_an_independent_count(name):
    # Tasks whose every weight gets a gradient at every step (a 2-output
    # task would leave DNI's third readout row untouched, for example).
    tasks = ["DelayPro", "MemoryPro"] if name == "dni" else TWO_TASKS
    if name == "molap":
        config = tiny(name, design="cca")
    else:
        config = tiny(name)
    result = train_strategy(name, tasks, np.random.default_rng(9), config, False)
    assert (result.trainable_params, result.updates) == expected_counts(name, tasks)
