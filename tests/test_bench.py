"""The benchmark runs and counts its flops; it times nothing that is asserted."""

import numpy as np
import pytest

from molap_np import bench, cli

TINY = (("tiny", 8, ("W_in", "h0")), ("tiny, all weights", 6, bench.rnn.PARAM_NAMES))


def test_flop_count_adds_up_the_products_of_one_step():
    T, B, N, n_in, n_out = 5, 4, 7, 3, 2
    one_product = {  # flops of each matrix product, forward then backward
        "J h": 2 * B * N * N * T,
        "W_in x": 2 * B * N * n_in * T,
        "W_out h": 2 * B * N * n_out * T,
        "J^T d": 2 * B * N * N * T,
        "dJ": 2 * N * N * B * T,
        "dW_in": 2 * N * n_in * B * T,
        "dW_out": 2 * n_out * N * B * T,
        "W_out^T e": 2 * B * n_out * N * T,
    }
    everything = sum(one_product.values())
    frozen_J = everything - one_product["dJ"]
    readout_only = frozen_J - one_product["dW_in"]
    assert bench.step_flops(T, B, N, n_in, n_out, ("J", "W_in")) == everything
    assert bench.step_flops(T, B, N, n_in, n_out, ("W_in", "h0")) == frozen_J
    assert bench.step_flops(T, B, N, n_in, n_out, ("W_out", "h0")) == readout_only


def test_benchmark_reports_ratios(capsys):
    result = bench.run_benchmark(repeats=2, use_torch=False, cases=TINY)
    out = capsys.readouterr().out
    assert out.count("step / floor") == 4
    for case in result["cases"]:
        assert case["numpy"].shape == (2,)
        assert np.isfinite(case["ratio_loop_floor"]) and case["ratio_loop_floor"] > 0
        assert case["torch_loop"] is None


def test_pytorch_step_computes_the_same_loss():
    torch = pytest.importorskip("torch")
    params, batch = bench._problem(6)
    loss = float(bench.numpy_step(params, batch, ("J",))()[0])
    for make in (bench.torch_loop_step, bench.torch_rnn_step):
        assert make(torch, params, batch, ("J",))() == pytest.approx(loss, rel=1e-12)


def test_bench_is_a_subcommand():
    args = cli.build_parser().parse_args(["bench", "--repeats", "3", "--no-torch"])
    assert args.repeats == 3 and args.no_torch
