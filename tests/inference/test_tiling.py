"""Tiling: exact sub-windows, full coverage, and tiled = untiled on a real (tiny, random) generator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autosr.inference import tiling
from autosr.networks.meta_sr import MetaSRGenerator
from autosr.scales import as_fraction, sr_size


@pytest.mark.parametrize("n,tile,halo,q", [(100, 40, 5, 1), (100, 40, 5, 2), (97, 33, 4, 10), (50, 60, 5, 3)])
def test_windows_cover_with_overlap(n, tile, halo, q):
    wins = tiling.windows_1d(n, tile, halo, q, ramp=4)
    assert wins[0][0] == 0 and wins[-1][1] == n
    for (a0, b0), (a1, b1) in zip(wins, wins[1:]):
        assert a1 % q == 0 and a1 > a0 and b0 - a1 >= 2 * halo + 4
        assert b1 - a1 <= tile


def test_window_too_small_is_an_error():
    with pytest.raises(ValueError, match="too small"):
        tiling.windows_1d(100, 12, 5, 2, ramp=4)


@pytest.mark.parametrize("scale", [2.5, 3.7, 4])
def test_weights_sum_positive_everywhere(scale):
    n, f = 90, as_fraction(scale)
    total = np.zeros(sr_size(n, f))
    for a, b in tiling.windows_1d(n, 40, 6, f.denominator):
        w = tiling.weights_1d(a, b, n, f, 6)
        start = a * f.numerator // f.denominator
        total[start:start + len(w)] += w
    assert total.min() > 0.5


def test_plan_tiles_respects_budget():
    per_px = MetaSRGenerator(in_channels=1, width=64, depth=16).bytes_per_lr_pixel(4)  # the paper's network
    assert per_px == 4 * (5 * 64 + 6 * 16)
    plan = tiling.plan_tiles(1024, 1024, 4, per_px, 512 * 1024 ** 2, halo=38, q=1)
    assert plan.is_tiled(1024, 1024) and plan.sub_batch == 1
    assert plan.tile[0] * plan.tile[1] * per_px <= 512 * 1024 ** 2
    small = tiling.plan_tiles(64, 64, 4, per_px, 512 * 1024 ** 2, halo=38, q=1)
    assert not small.is_tiled(64, 64) and small.sub_batch == 4


@pytest.mark.parametrize("scale,skip", [(2.5, "none"), (3.7, "bicubic"), (2, "bicubic")])
def test_tiled_equals_untiled(scale, skip):
    torch.manual_seed(0)
    net = MetaSRGenerator(in_channels=2, width=8, depth=2, mlp_hidden=16, upsample_skip=skip).eval()
    halo = net.receptive_radius  # declared by the parts, not counted from the layers
    assert halo == (2 + 2 * 2) + (1 + 1) + (2 if skip == "bicubic" else 0)
    x = torch.rand(2, 2, 61, 75)
    f = as_fraction(scale)
    with torch.no_grad():
        full = net(x, f)
        tile = 2 * halo + tiling.DEFAULT_RAMP + f.denominator + 7
        tiled = tiling.run_tiled(lambda t: net(t, f), x, f, (tile, tile), halo)
    assert len(tiling.windows_1d(61, tile, halo, f.denominator)) > 1
    assert tiled.shape == full.shape
    torch.testing.assert_close(tiled, full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n,max_tile,halo,q", [(1024, 803, 38, 1), (1000, 300, 38, 2), (61, 36, 7, 10)])
def test_balanced_tiles_overlap_no_more_than_needed(n, max_tile, halo, q):
    tile = tiling.balanced_tile(n, max_tile, halo, q)
    wins, wins_max = tiling.windows_1d(n, tile, halo, q), tiling.windows_1d(n, max_tile, halo, q)
    assert tile <= max_tile and len(wins) == len(wins_max)
    assert sum(b - a for a, b in wins) <= sum(b - a for a, b in wins_max)
    assert sum(b - a for a, b in wins) <= n + (len(wins) - 1) * (2 * halo + tiling.DEFAULT_RAMP + 2 * q)
