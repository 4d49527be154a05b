"""Normalisation to [0, 1] and back, per scheme, on images the tests build."""
from __future__ import annotations

import numpy as np
import pytest

from autosr.cropping import foreground_mask
from autosr.normalization import (NormalizationError, background_level, default_channel_plan, denormalize,
                                  denormalize_case, fit_case, fit_channel, normalize, normalize_case)
from tests.synthetic import phantom


def test_mr_window_is_per_case_background_to_percentile():
    x = phantom((8, 40, 40), seed=2).astype(np.float32) + 5.0      # background 5, not 0
    fg = foreground_mask(x[None], ["MR"])
    p = fit_channel(x, fg, default_channel_plan("MR"))
    assert p["scheme"] == "MR" and p["lower"] == pytest.approx(5.0) and p["background"] == pytest.approx(5.0)
    assert p["upper"] == pytest.approx(np.percentile(x[fg], 99.5))
    y = normalize(x, p)
    assert y.dtype == np.float32 and y.min() == 0.0 and y.max() == 1.0


def test_ct_window_is_fixed_by_the_plan():
    x = phantom((8, 40, 40), modality="CT").astype(np.int16)
    plan = dict(default_channel_plan("CT"), lower=-1000.0, upper=800.0)
    p = fit_channel(x, foreground_mask(x[None], ["CT"]), plan)
    assert (p["lower"], p["upper"]) == (-1000.0, 800.0) and p["background"] == pytest.approx(-1000.0)
    assert normalize(np.array([-1000, -100, 800, 3000]), p) == pytest.approx([0, 0.5, 1, 1])


@pytest.mark.parametrize("modality,dtype", [("MR", np.int16), ("MR", np.float32), ("CT", np.int16), ("MR", np.uint8)])
def test_inverse_returns_original_values_inside_the_window(modality, dtype):
    x = phantom((6, 32, 32), seed=4, modality=modality)
    x = (x // 4).astype(dtype) if dtype == np.uint8 else x.astype(dtype)
    fg = foreground_mask(x[None], [modality])
    plan = default_channel_plan(modality)
    if modality == "CT":
        plan.update(lower=-900.0, upper=650.0)
    p = fit_channel(x, fg, plan)
    back = denormalize(normalize(x, p), p)
    inside = (x >= p["lower"]) & (x <= p["upper"])
    assert 0.5 < inside[fg].mean() and (~inside).any()          # some values are clipped, most are not
    np.testing.assert_allclose(back[inside], x[inside].astype(np.float64), atol=1e-5 * (p["upper"] - p["lower"]))
    assert (back[x > p["upper"]] == pytest.approx(p["upper"]))


def test_case_level_helpers_and_errors():
    case = np.stack([phantom((4, 20, 20), seed=s).astype(np.float32) for s in (0, 1)])
    fg = foreground_mask(case, ["MR", "MR"])
    params = fit_case(case, fg, [default_channel_plan("MR")] * 2)
    back = denormalize_case(normalize_case(case, params), params)
    assert back.shape == case.shape
    with pytest.raises(NormalizationError):
        fit_case(case, fg, [default_channel_plan("MR")])
    with pytest.raises(NormalizationError):
        fit_channel(case[0], fg, {"scheme": "PET"})
    with pytest.raises(NormalizationError):
        normalize(case[0], {"lower": 1.0, "upper": 1.0})


def test_flat_channel_gets_a_usable_window():
    x = np.full((4, 10, 10), 3.0, np.float32)
    p = fit_channel(x, np.ones_like(x, bool), default_channel_plan("MR"))
    assert p["upper"] > p["lower"]
    assert background_level(x, np.ones_like(x, bool)) == 3.0
