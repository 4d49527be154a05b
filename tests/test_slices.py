"""One slice rule for training, validation and evaluation: slices with content, evenly spaced."""
from __future__ import annotations

import numpy as np

from autosr.slices import evenly_spaced, has_content, select_slices


def test_nearly_empty_end_slices_are_left_out():
    vol = np.zeros((1, 6, 20, 20), np.float32)
    vol[0, 1:5, 5:15, 5:15] = 0.5         # 25 % content
    vol[0, 0, 0, 0] = vol[0, 5, 3, 3] = 0.01  # a faint pixel on each end slice
    assert select_slices(vol) == [1, 2, 3, 4]
    assert select_slices(vol, 2) == [1, 4]
    assert has_content(vol[:, 1]) and not has_content(vol[:, 0])
    assert has_content(vol[:, 0], min_content=0.0025)


def test_a_scan_without_content_falls_back_to_its_non_constant_slices():
    vol = np.zeros((1, 3, 8, 8), np.float32)
    vol[0, 1, 2, 2] = 1.0
    assert select_slices(vol) == [1]
    assert select_slices(np.zeros((1, 2, 4, 4))) == []


def test_evenly_spaced_keeps_ends():
    assert evenly_spaced(list(range(10)), 3) == [0, 4, 9]  # rounded linspace 0, 4.5, 9 (half to even)
    assert evenly_spaced([3, 4], 0) == [3, 4] and evenly_spaced([3, 4], 5) == [3, 4]
