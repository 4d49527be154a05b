"""Background detection, foreground masks and crop boxes on images the tests build."""
from __future__ import annotations

import numpy as np
import pytest

from autosr.cropping import (bounding_box, channel_background, contains, crop, crop_box, fill_holes,
                             foreground_mask, paste, through_plane_axis)
from tests.synthetic import phantom


def _blob(shape=(8, 40, 40), background=0.0, value=100.0):
    x = np.full(shape, background, np.float32)
    x[2:6, 10:30, 12:28] = value
    return x


@pytest.mark.parametrize("background", [0.0, -3.55, 7.0])
def test_constant_background_any_value(background):
    x = _blob(background=background, value=background + 2.5)
    x[3, 15, 15] = background + 1e-3                       # faint tissue still counts
    b = channel_background(x, "MR")
    assert b.method == "constant" and b.value == pytest.approx(background)
    assert bounding_box(b.foreground) == [[2, 6], [10, 30], [12, 28]]


def test_uint8_and_int16_inputs():
    for dtype in (np.uint8, np.int16):
        b = channel_background(_blob().astype(dtype), "MR")
        assert b.method == "constant" and b.foreground.sum() == 4 * 20 * 16


def test_noisy_mr_surround_is_background():
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(0, 8, (8, 64, 64))).astype(np.float32)        # Rayleigh-like noise floor
    x[2:6, 16:48, 20:44] += 400
    b = channel_background(x, "MR")
    assert b.method == "noise_floor" and b.threshold < 100
    box = bounding_box(b.foreground)       # specks far away are dropped; noise touching the edge may add a voxel or two
    assert contains(box, [[2, 6], [16, 48], [20, 44]]) and contains([[0, 8], [14, 50], [18, 46]], box)


def test_ct_air_and_padding():
    x = np.full((6, 50, 50), -1024, np.int16)
    x[:, :3] = -3024                                                     # scanner padding
    x[1:5, 10:40, 10:40] = 40
    x[2, 20:25, 20:25] = -850                                           # enclosed air (lung-like)
    b = channel_background(x, "CT")
    assert b.method == "air" and b.value == -1024
    fg = foreground_mask(x[None], ["CT"], (3.0, 1.0, 1.0))
    assert fg[2, 22, 22]                                                 # hole filled in-plane
    assert bounding_box(fg) == [[1, 5], [10, 40], [10, 40]]


def test_object_filling_the_field_of_view_has_no_background():
    x = np.random.default_rng(1).uniform(200, 400, (4, 30, 30)).astype(np.float32)
    b = channel_background(x, "MR")
    assert b.foreground.all()


def test_foreground_is_union_over_channels():
    a, b = _blob(), np.zeros((8, 40, 40), np.float32)
    b[0, 0, 0:5] = 9
    fg = foreground_mask(np.stack([a, b]), ["MR", "MR"])
    assert bounding_box(fg) == [[0, 6], [0, 30], [0, 28]]


def test_fill_holes_only_in_plane():
    m = np.zeros((3, 9, 9), bool)
    m[:, 2:7, 2:7] = True
    m[:, 4, 4] = False
    assert fill_holes(m, 0)[:, 4, 4].all()
    assert not fill_holes(m, 1)[1, 4, 4]          # in y-slices the gap reaches the slice edge: no hole
    assert fill_holes(m[0], None)[4, 4]


def test_through_plane_axis():
    assert through_plane_axis((5.5, 0.75, 0.75)) == 0
    assert through_plane_axis((1.0, 1.0, 3.0)) == 2
    assert through_plane_axis((1.0, 1.0, 1.1)) is None


def test_crop_box_never_removes_foreground_and_respects_image():
    rng = np.random.default_rng(3)
    for _ in range(50):
        shape = rng.integers(5, 40, 3)
        lo = [int(rng.integers(0, n)) for n in shape]
        bbox = [[l, int(rng.integers(l + 1, n + 1))] for l, n in zip(lo, shape)]
        box = crop_box(shape, bbox, rng.integers(0, 6, 3), rng.integers(0, 50, 3))
        assert contains(box, bbox)
        assert all(0 <= a < b <= n for (a, b), n in zip(box, shape))


def test_crop_box_grows_to_min_size():
    assert crop_box((10, 100, 100), [[2, 4], [90, 98], [0, 10]], (0, 4, 4), (0, 48, 48)) == [[2, 4], [52, 100], [0, 48]]
    assert crop_box((10, 30, 30), [[2, 4], [5, 8], [5, 8]], (0, 4, 4), (0, 48, 48)) == [[2, 4], [0, 30], [0, 30]]


def test_crop_and_paste_roundtrip():
    case = phantom((6, 30, 40))[None].astype(np.float32)
    box = [[1, 5], [3, 27], [4, 36]]
    back = paste(crop(case, box), box, case.shape[1:], [-1.0])
    assert np.array_equal(back[(slice(None),) + tuple(slice(a, b) for a, b in box)], crop(case, box))
    assert (back[:, 0] == -1).all()
