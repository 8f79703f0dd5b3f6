"""Tests of the perturbations and the robustness sweep.

Networks are small random ones (N = 30 in three modules of 10, or a plain
N = 30): every property tested here holds for any weights.
"""

import json

import numpy as np
import pytest

from molap_np import perturbations as pt
from molap_np.rnn import forward, init_params, module_mask
from molap_np.strategies.base import StrategyResult, TaskNetwork
from molap_np.tasks import TASK_SIZES, make_batch

MODULES = (10, 10, 10)
N = 30


def make_network(task="DelayPro", seed=0, module_sizes=MODULES, N=N, g=0.9):
    n_in, n_out = TASK_SIZES[task]
    params = init_params(n_in, N, n_out, np.random.default_rng(seed), g=g)
    return TaskNetwork(task, params, tuple(module_sizes))


def batch(task="DelayPro", B=16, seed=1):
    return make_batch(task, B, np.random.default_rng(seed))


def copy_params(params):
    return {k: v.copy() for k, v in params.items()}


def joined(params):
    return np.concatenate([params["J"], params["b"][:, None]], axis=1)


WEIGHT_FUNCTIONS = [
    pt.silence_weights,
    pt.lesion_units,
    pt.weight_noise,
    pt.silence_within_module,
    pt.silence_between_fraction,
]


# ---------------------------------------------------------------------------
# Size 0, the original, seeds


@pytest.mark.parametrize("name", pt.PERTURBATION_NAMES)
def test_size_zero_leaves_outputs_unchanged(name):
    net, trials = make_network(), batch()
    perturbation = pt.get_perturbation(name)
    draw = perturbation.draw(net, trials.inputs.shape, np.random.default_rng(3))

    outputs = perturbation.run(net, trials.inputs, 0.0, draw)

    np.testing.assert_array_equal(outputs, net.run(trials.inputs))


@pytest.mark.parametrize("name", pt.PERTURBATION_NAMES)
def test_positive_size_changes_outputs(name):
    net, trials = make_network(), batch()
    perturbation = pt.get_perturbation(name)
    draw = perturbation.draw(net, trials.inputs.shape, np.random.default_rng(3))

    outputs = perturbation.run(net, trials.inputs, perturbation.sizes[-1], draw)

    assert np.abs(outputs - net.run(trials.inputs)).max() > 1e-3


@pytest.mark.parametrize("function", WEIGHT_FUNCTIONS)
def test_original_weights_never_modified(function):
    params = make_network().params
    before = copy_params(params)

    damaged = function(params, 0.5, np.random.default_rng(0), MODULES)

    for name, value in before.items():
        np.testing.assert_array_equal(params[name], value)
    assert not np.shares_memory(damaged["J"], params["J"])


def test_whole_block_silencing_leaves_original_unmodified():
    params = make_network().params
    before = copy_params(params)

    pt.silence_module(params, 1, MODULES)
    pt.silence_between_modules(params, MODULES)

    for name, value in before.items():
        np.testing.assert_array_equal(params[name], value)


@pytest.mark.parametrize("function", WEIGHT_FUNCTIONS)
def test_same_seed_same_damage_other_seed_other_damage(function):
    params = make_network().params

    a = function(params, 0.3, np.random.default_rng(5), MODULES)
    b = function(params, 0.3, np.random.default_rng(5), MODULES)
    c = function(params, 0.3, np.random.default_rng(6), MODULES)

    np.testing.assert_array_equal(joined(a), joined(b))
    np.testing.assert_array_equal(a["W_out"], b["W_out"])
    assert not np.array_equal(joined(a), joined(c))


# ---------------------------------------------------------------------------
# What is hit, and how much


@pytest.mark.parametrize("p", [0.0, 0.013, 0.1, 0.37, 0.5, 1.0])
def test_silenced_count_is_round_p_times_all_entries(p):
    params = make_network().params
    damaged = pt.silence_weights(params, p, np.random.default_rng(0))

    changed = joined(damaged) != joined(params)

    assert changed.sum() == round(p * N * (N + 1))
    assert np.all(joined(damaged)[changed] == 0)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_lesioned_count_is_round_p_times_units(p):
    params = make_network().params
    damaged = pt.lesion_units(params, p, np.random.default_rng(0))

    dead_J = np.all(damaged["J"] == 0, axis=0)
    dead_out = np.all(damaged["W_out"] == 0, axis=0)

    assert dead_J.sum() == round(p * N)
    np.testing.assert_array_equal(dead_J, dead_out)
    np.testing.assert_array_equal(damaged["J"][:, ~dead_J], params["J"][:, ~dead_J])
    np.testing.assert_array_equal(damaged["b"], params["b"])


def test_silencing_grows_nested_with_the_same_draw():
    params = make_network().params
    small = pt.silence_weights(params, 0.1, np.random.default_rng(2))
    large = pt.silence_weights(params, 0.3, np.random.default_rng(2))

    hit_small = joined(small) == 0
    hit_large = joined(large) == 0

    assert np.all(hit_large[hit_small])


@pytest.mark.parametrize("module", [0, 1, 2])
def test_silence_module_zeroes_exactly_its_block(module):
    params = make_network().params
    damaged = pt.silence_module(params, module, MODULES)
    block = module_mask(MODULES, module)

    assert np.all(damaged["J"][block] == 0)
    np.testing.assert_array_equal(damaged["J"][~block], params["J"][~block])
    for name in ("W_in", "b", "W_out", "b_out", "h0"):
        np.testing.assert_array_equal(damaged[name], params[name])


def test_silence_between_zeroes_all_off_diagonal_and_keeps_blocks():
    params = make_network().params
    damaged = pt.silence_between_modules(params, MODULES)
    within = sum(module_mask(MODULES, k) for k in range(3)).astype(bool)

    np.testing.assert_array_equal(damaged["J"][within], params["J"][within])
    assert np.all(damaged["J"][~within] == 0)
    np.testing.assert_array_equal(damaged["b"], params["b"])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.77])
def test_fraction_within_module_hits_only_that_block(p):
    params = make_network().params
    damaged = pt.silence_within_module(
        params, p, np.random.default_rng(0), MODULES, module=2
    )
    block = module_mask(MODULES, 2)
    changed = damaged["J"] != params["J"]

    assert changed[block].sum() == round(p * block.sum())
    assert not changed[~block].any()
    np.testing.assert_array_equal(damaged["b"], params["b"])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.77])
def test_fraction_between_modules_leaves_diagonal_blocks(p):
    params = make_network().params
    damaged = pt.silence_between_fraction(params, p, np.random.default_rng(0), MODULES)
    within = sum(module_mask(MODULES, k) for k in range(3)).astype(bool)
    changed = damaged["J"] != params["J"]

    assert changed[~within].sum() == round(p * (~within).sum())
    assert not changed[within].any()


def test_whole_fractions_equal_the_deterministic_silencing():
    params = make_network().params
    rng = np.random.default_rng(0)

    within = pt.silence_within_module(params, 1.0, rng, MODULES, module=1)
    between = pt.silence_between_fraction(params, 1.0, rng, MODULES)

    np.testing.assert_array_equal(
        within["J"], pt.silence_module(params, 1, MODULES)["J"]
    )
    np.testing.assert_array_equal(
        between["J"], pt.silence_between_modules(params, MODULES)["J"]
    )


def test_networks_without_modules_use_the_control_split():
    params = make_network(module_sizes=(N,)).params

    damaged = pt.silence_module(params, 2, None)

    assert pt.perturbation_modules((200,), 200) == (67, 67, 66)
    assert pt.perturbation_modules(MODULES, N) == MODULES
    np.testing.assert_array_equal(
        damaged["J"] == 0, module_mask(pt.perturbation_modules((N,), N), 2)
    )


def test_relative_noise_has_the_requested_std():
    # N = 100 gives 10,100 noise samples: the sample std is within about
    # 0.7 % of the true one (1 / sqrt(2 n)), so 3 % is more than 4 errors.
    params = make_network(N=100, module_sizes=(100,)).params
    size = 0.3

    damaged = pt.weight_noise(params, size, np.random.default_rng(0))
    added = joined(damaged) - joined(params)

    expected = size * joined(params).std()
    assert abs(added.std() / expected - 1) < 0.03
    assert abs(added.mean()) < 4 * expected / np.sqrt(added.size)


# ---------------------------------------------------------------------------
# Lesions, input noise and state noise against rnn.forward


def test_lesioned_units_have_no_effect_on_outputs():
    net, trials = make_network(), batch()
    damaged = pt.lesion_units(net.params, 0.3, np.random.default_rng(0))
    dead = np.all(damaged["J"] == 0, axis=0)
    inputs = net.network_inputs(trials.inputs)

    # Shake only the lesioned units' activity, hard: nobody reads it.
    kick = np.random.default_rng(1).normal(0, 5.0, (110, 16, N)) * dead
    _, quiet = forward(damaged, inputs)
    _, shaken = forward(damaged, inputs, state_noise=kick)

    np.testing.assert_allclose(shaken, quiet, rtol=0, atol=1e-12)
    _, intact_shaken = forward(net.params, inputs, state_noise=kick)
    assert np.abs(intact_shaken - quiet).max() > 1e-3


def test_input_noise_is_added_after_the_blank_steps():
    net, trials = make_network(), batch()
    perturbation = pt.get_perturbation("input_noise")
    z = perturbation.draw(net, trials.inputs.shape, np.random.default_rng(0))

    outputs = perturbation.run(net, trials.inputs, 0.2, z)

    assert np.all(z[:10] == 0)
    assert abs(z[10:].std() - 1) < 0.05
    np.testing.assert_array_equal(outputs, net.run(trials.inputs + 0.2 * z))


def test_state_noise_matches_rnn_forward():
    net, trials = make_network(), batch()
    perturbation = pt.get_perturbation("state_noise")
    z = perturbation.draw(net, trials.inputs.shape, np.random.default_rng(0))

    outputs = perturbation.run(net, trials.inputs, 0.1, z)

    _, expected = forward(net.params, trials.inputs, state_noise=0.1 * z)
    np.testing.assert_array_equal(outputs, expected)


def test_apply_keeps_weight_damage_and_redraws_noise():
    net, trials = make_network(), batch()
    rng = np.random.default_rng(0)

    damaged = pt.get_perturbation("silence_weights").apply(net, 0.3, rng)
    noisy = pt.get_perturbation("state_noise").apply(net, 0.1, rng)

    np.testing.assert_array_equal(damaged(trials.inputs), damaged(trials.inputs))
    assert not np.array_equal(noisy(trials.inputs), noisy(trials.inputs))


def test_bad_sizes_and_names_raise_clear_errors():
    params = make_network().params
    with pytest.raises(ValueError, match="fraction"):
        pt.silence_weights(params, 1.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="module 3 does not exist"):
        pt.silence_module(params, 3, MODULES)
    with pytest.raises(ValueError, match="valid: silence_weights"):
        pt.get_perturbation("silence_everything")


# ---------------------------------------------------------------------------
# The sweep


def two_task_result(name, shared):
    """A strategy on DelayPro and DelayAnti, with or without shared [J b]."""
    first = make_network("DelayPro", seed=0)
    second = make_network("DelayAnti", seed=1)
    if shared:
        second.params["J"] = first.params["J"]
        second.params["b"] = first.params["b"]
    networks = {"DelayPro": first, "DelayAnti": second}
    return StrategyResult(name, networks, 0, 0, 0.0)


def test_shared_groups_follow_the_recurrent_weights():
    assert pt.shared_groups(two_task_result("a", True).networks) == [
        ["DelayPro", "DelayAnti"]
    ]
    assert pt.shared_groups(two_task_result("b", False).networks) == [
        ["DelayPro"],
        ["DelayAnti"],
    ]


class RecordingSilencing(pt.Silencing):
    """Silencing that remembers the damaged J of every run."""

    def run(self, network, inputs, size, draw):
        damaged = self.damage(network, size, draw)
        self.record.append((network.task, size, damaged["J"]))
        return super().run(network, inputs, size, draw)


@pytest.mark.parametrize("shared", [True, False])
def test_sweep_damages_shared_networks_identically(monkeypatch, shared):
    spy = RecordingSilencing("silence_weights", "weights", (0.0, 0.3), "x")
    object.__setattr__(spy, "record", [])
    monkeypatch.setitem(pt.PERTURBATIONS, "silence_weights", spy)
    result = two_task_result("s", shared)
    batches = {"DelayPro": batch("DelayPro"), "DelayAnti": batch("DelayAnti")}

    pt.robustness_sweep(
        {"s": result},
        batches,
        ["silence_weights"],
        draws=2,
        rng=np.random.default_rng(0),
    )

    by_task = {}
    for task, _, J in spy.record:
        by_task.setdefault(task, []).append(J == 0)
    pro, anti = by_task["DelayPro"], by_task["DelayAnti"]
    assert len(pro) == 2 and not np.array_equal(pro[0], pro[1])
    for draw in range(2):
        assert np.array_equal(pro[draw], anti[draw]) == shared


def small_sweep(seed, draws=2):
    results = {
        "molap": two_task_result("molap", True),
        "separate": two_task_result("separate", False),
    }
    batches = {"DelayPro": batch("DelayPro"), "DelayAnti": batch("DelayAnti")}
    return pt.robustness_sweep(
        results,
        batches,
        ["silence_weights", "silence_in_module_2", "state_noise"],
        sizes={"silence_weights": (0, 0.5, 1.0)},
        draws=draws,
        rng=np.random.default_rng(seed),
    )


def test_sweep_is_seeded_json_ready_and_complete():
    first, again, other = small_sweep(0), small_sweep(0), small_sweep(1)
    del first["seconds"], again["seconds"], other["seconds"]

    text = json.dumps(first, allow_nan=False)

    assert text == json.dumps(again, allow_nan=False)
    assert text != json.dumps(other, allow_nan=False)
    curve = first["curves"]["separate"]["silence_weights"]
    assert curve["sizes"] == [0.0, 0.5, 1.0]
    assert set(curve["tasks"]) == {"DelayPro", "DelayAnti"}
    # Size 0 and p = 1 do not depend on the draw: no spread there.
    assert curve["mean"]["paper_accuracy"]["std"][0] == 0.0
    assert curve["tasks"]["DelayPro"]["strict_accuracy"]["std"][2] == 0.0


def test_sweep_size_zero_is_the_intact_accuracy():
    sweep = small_sweep(0)
    network = two_task_result("molap", True).networks["DelayAnti"]

    intact = network.evaluate(batch("DelayAnti"))
    curve = sweep["curves"]["molap"]["state_noise"]["tasks"]["DelayAnti"]

    for criterion in pt.CRITERIA:
        assert curve[criterion]["mean"][0] == intact[criterion]


def test_sweep_rejects_bad_settings():
    results = {"molap": two_task_result("molap", True)}
    batches = {"DelayPro": batch("DelayPro")}
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="start at 0"):
        pt.robustness_sweep(
            results, batches, ["lesion_units"], {"lesion_units": [0.1, 0.2]}, rng=rng
        )
    with pytest.raises(ValueError, match="draws"):
        pt.robustness_sweep(results, batches, draws=0, rng=rng)
    with pytest.raises(TypeError, match="Generator"):
        pt.robustness_sweep(results, batches, rng=0)


# ---------------------------------------------------------------------------
# Summaries and the module matrix


def test_normalised_area_and_half_size_on_a_straight_line():
    sizes = [0.0, 0.25, 0.5, 1.0]
    accuracy = [0.8, 0.6, 0.4, 0.0]  # 0.8 (1 - s): area 1/2, halves at 0.5

    assert pt.normalised_area(sizes, accuracy) == pytest.approx(0.5)
    assert pt.half_size(sizes, accuracy) == pytest.approx(0.5)
    assert pt.half_size(sizes, [0.8, 0.7, 0.5, 0.45]) is None
    assert pt.normalised_area(sizes, [0.0, 0.0, 0.0, 0.0]) is None


def test_summaries_measure_the_margin_over_a_floor():
    sizes = [0.0, 0.5, 1.0]
    accuracy = [0.9, 0.6, 0.4]  # margin over 0.4: 1, 0.4, 0

    assert pt.retained(accuracy, 0.4) == pytest.approx([1.0, 0.4, 0.0])
    assert pt.normalised_area(sizes, accuracy, 0.4) == pytest.approx(0.45)
    assert pt.half_size(sizes, accuracy, 0.4) == pytest.approx(0.5 * (0.5 / 0.6))
    assert pt.retained([0.3, 0.3, 0.3], 0.4) is None


def test_no_summary_over_a_margin_within_test_noise():
    # An intact network 0.01 above the floor that falls 1.0 below it would
    # "retain" -100 of its margin: the summary must be undefined instead.
    floor = 0.5
    barely = [floor + 0.01, floor - 1.0]
    assert pt.retained(barely, floor) is None
    assert pt.normalised_area([0.0, 1.0], barely, floor) is None
    assert pt.half_size([0.0, 1.0], barely, floor) is None
    clear = [floor + pt.MIN_MARGIN, floor]
    assert pt.retained(clear, floor) == pytest.approx([1.0, 0.0])


def test_half_size_interpolates_between_grid_points():
    assert pt.half_size([0.0, 1.0, 2.0], [1.0, 0.9, 0.3]) == pytest.approx(
        1.0 + 0.4 / 0.6
    )


def test_silent_floor_is_a_network_that_outputs_zero():
    batches = {"DelayPro": batch("DelayPro"), "MemoryDm1": batch("MemoryDm1")}
    silent_net = make_network("MemoryDm1")
    for name in ("W_out", "b_out"):
        silent_net.params[name] = np.zeros_like(silent_net.params[name])

    floor = pt.silent_accuracy(batches)

    assert floor["MemoryDm1"] == silent_net.evaluate(batches["MemoryDm1"])
    assert 0.3 < floor["DelayPro"]["paper_accuracy"] < 0.45


def test_module_silencing_matches_silence_module():
    results = {"molap": two_task_result("molap", True)}
    batches = {"DelayPro": batch("DelayPro")}
    net = results["molap"].networks["DelayPro"]

    table = pt.module_silencing(results, batches)["molap"]

    assert table["blocks"] == ["module 1", "module 2", "module 3", "between"]
    assert table["control"] is False
    damaged = pt.silence_module(net.params, 1, MODULES)
    expected = net.evaluate(batches["DelayPro"], damaged)
    for criterion in pt.CRITERIA:
        assert table["silenced"]["DelayPro"][criterion][1] == expected[criterion]


def test_figures_draw_every_panel():
    import matplotlib

    matplotlib.use("Agg")
    sweep = small_sweep(0)
    table = pt.module_silencing(
        {"molap": two_task_result("molap", True)}, {"DelayPro": batch("DelayPro")}
    )

    curves = pt.plot_robustness(sweep)
    matrix = pt.plot_module_silencing(table)

    panels = [ax for ax in curves.axes if ax.has_data()]
    assert len(panels) == 3
    labels = [line.get_label() for line in panels[0].lines]
    # The legend names strategies as every figure of the project does.
    assert [label for label in labels if not label.startswith("_")] == [
        "MoLaP",
        "separate networks",
    ]
    assert matrix.axes[0].images[0].get_array().shape == (1, 4)
    merged = {"curves": sweep["curves"], "summary": sweep["summary"]}
    assert len(pt.plot_robustness(merged, "strict_accuracy").axes) == 3


def test_summary_spread_comes_from_the_per_draw_curves():
    draws = [[0.9, 0.6, 0.3], [0.9, 0.7, 0.5]]  # two draws over sizes 0, 1, 2
    mean = np.mean(draws, axis=0).tolist()
    entry = {"mean": mean, "std": [0.0] * 3, "draws": draws}
    curves = {
        "s": {
            "lesion_units": {
                "sizes": [0.0, 1.0, 2.0],
                "tasks": {"DelayPro": {}},
                "mean": {c: entry for c in pt.CRITERIA},
            }
        }
    }
    silent = {"DelayPro": {c: 0.3 for c in pt.CRITERIA}}

    summary = pt.summarise(curves, silent)["s"]["lesion_units"]["strict_accuracy"]

    # Margins over 0.3: draw 1 keeps 1, 1/2, 0 (area 1/2), draw 2 keeps
    # 1, 2/3, 1/3 (area 2/3); the mean curve keeps 1, 7/12, 1/6.
    assert summary["area_std"] == pytest.approx(np.std([1 / 2, 2 / 3]))
    assert summary["area"] == pytest.approx((1 + 7 / 6 + 1 / 6) / 4)
    assert summary["half_size"] == pytest.approx(1 + (7 / 12 - 0.5) / (7 / 12 - 1 / 6))
    text = pt.summary_table({"summary": pt.summarise(curves, silent)})
    assert text.split() == ["s", "lesion_units", "0.58+-0.08", "(1.2)"]


def pass_through_network(N=N):
    """DelayPro solved without J: each output copies its input channel.

    h = tanh(0.1 x) is nearly linear, and W_out undoes the 0.1. With J and b
    exactly 0, silencing or adding relative noise to [J b] changes nothing.
    """
    params = {
        "W_in": np.zeros((N, 3)),
        "J": np.zeros((N, N)),
        "b": np.zeros(N),
        "W_out": np.zeros((3, N)),
        "b_out": np.zeros(3),
        "h0": np.zeros(N),
    }
    params["W_in"][:3] = 0.1 * np.eye(3)
    params["W_out"][:, :3] = np.eye(3) / np.tanh(0.1)
    return TaskNetwork("DelayPro", params, MODULES)


def test_network_that_ignores_J_keeps_all_its_margin():
    result = two_task_result("separate", False)
    result.networks["DelayPro"] = pass_through_network()
    batches = {"DelayPro": batch("DelayPro"), "DelayAnti": batch("DelayAnti")}
    sweep = pt.robustness_sweep(
        {"separate": result},
        batches,
        ["silence_weights", "weight_noise"],
        draws=2,
        rng=np.random.default_rng(0),
    )

    subset = pt.summarise(sweep["curves"], sweep["silent"], ["DelayPro"])

    for name in ("silence_weights", "weight_noise"):
        for criterion in pt.CRITERIA:
            entry = subset["separate"][name][criterion]
            # The paper band is relative: a target of -1 (0 after mapping)
            # leaves no room, so even a perfect copy misses some channels.
            assert entry["intact"] > 0.75
            assert entry["area"] == 1.0 and entry["half_size"] is None
            assert entry["area_std"] is None
    whole = sweep["summary"]["separate"]["weight_noise"]["paper_accuracy"]
    anti = result.networks["DelayAnti"].evaluate(batches["DelayAnti"])
    own = subset["separate"]["weight_noise"]["paper_accuracy"]
    assert whole["intact"] == pytest.approx(
        (own["intact"] + anti["paper_accuracy"]) / 2
    )
    with pytest.raises(ValueError, match="not swept"):
        pt.summarise(sweep["curves"], sweep["silent"], ["MultiMem"])


def test_timing_command_runs_the_default_sweep_on_stand_ins(capsys):
    from molap_np.cli import main

    assert main(["perturb-timing", "--draws", "1", "--batch-size", "2"]) == 0

    out = capsys.readouterr().out
    # 45 intact runs, then per task network: 4 sizes x 5 perturbations and
    # (2 random + 1 exact) x 4 block perturbations, one draw each.
    assert "5 strategies x 9 tasks, 9 perturbations" in out
    assert f"{45 + 45 * (4 * 5 + 3 * 4)} forward passes" in out
    assert "sweep / bare" in out


def _intact_curves(intact):
    """Sweep-shaped curves whose size-0 strict accuracies are ``intact``."""
    curves = {}
    for strategy, by_task in intact.items():
        tasks = {
            task: {"strict_accuracy": {"mean": [a, a / 2]}}
            for task, a in by_task.items()
        }
        curves[strategy] = {"lesion_units": {"sizes": [0, 0.1], "tasks": tasks}}
    return curves


def test_learned_tasks_keeps_tasks_every_learning_strategy_learned():
    curves = _intact_curves(
        {
            "a": {"T1": 0.9, "T2": 0.95, "T3": 0.5},
            "b": {"T1": 0.8, "T2": 0.2, "T3": 0.99},
            "never": {"T1": 0.1, "T2": 0.3, "T3": 0.79},
        }
    )
    chosen = pt.learned_tasks(curves, threshold=0.8)
    # T1 is the only task at or above 0.8 for both a and b; "never" learned
    # nothing and would otherwise empty the set.
    assert chosen["strategies"] == ["a", "b"]
    assert chosen["left_out"] == ["never"]
    assert chosen["tasks"] == ["T1"]
    # At 0.96 only b learned a task (T3); at 1 nobody did.
    stricter = pt.learned_tasks(curves, threshold=0.96)
    assert (stricter["strategies"], stricter["tasks"]) == (["b"], ["T3"])
    assert pt.learned_tasks(curves, threshold=1.0)["tasks"] == []
