"""Fresh task weights: MOLAP.md's draws, and the input scale of the quick preset."""

import numpy as np
import pytest

from molap_np.task_learning import fresh_task_weights
from molap_np.tasks import TASK_SIZES


def test_default_draw_is_molap_md_section_2():
    n_in, n_out = TASK_SIZES["MemoryPro"]
    weights = fresh_task_weights(40, "MemoryPro", np.random.default_rng(5))
    rng = np.random.default_rng(5)
    # W_in is the first draw: N(0, 1 / n_in) entries.
    expected = rng.normal(0, 1 / np.sqrt(n_in), size=(40, n_in))
    np.testing.assert_array_equal(weights["W_in"], expected)
    assert weights["W_out"].shape == (n_out, 40) and weights["h0"].shape == (40,)


@pytest.mark.parametrize("scale", [0.3, 2.0])
def test_input_scale_scales_only_the_input_weights(scale):
    plain = fresh_task_weights(40, "MultiMem", np.random.default_rng(1))
    scaled = fresh_task_weights(
        40, "MultiMem", np.random.default_rng(1), input_scale=scale
    )
    np.testing.assert_allclose(scaled["W_in"], scale * plain["W_in"], rtol=1e-15)
    for name in ("W_out", "b_out", "h0"):
        np.testing.assert_array_equal(scaled[name], plain[name])


@pytest.mark.parametrize("scale", [0.0, -1.0, np.nan])
def test_bad_input_scale_is_named(scale):
    with pytest.raises(ValueError, match="input_scale"):
        fresh_task_weights(10, "DelayPro", np.random.default_rng(0), input_scale=scale)
