"""Paired mode (``lowresTr``): crop a case's real low-resolution scan to the HR crop's physical region.

The LR scan must share the HR scan's direction and its sampling along the slicing axis (same
slices); in-plane it is coarser by ``scale = LR spacing / HR spacing`` per axis. The LR box is the
smallest box of LR voxels covering the HR box; the HR box is then grown (never shrunk) so that
its first edge meets the LR box's first edge when the grids allow it. ``hr_offset`` records any
remaining sub-voxel misalignment (HR pixels; 0 for LR scans made from the HR field of view).
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from autosr.errors import DatasetError
from autosr.imageio import Geometry, read_case

EDGE_TOL = 1e-3


def _edge_map(src: Geometry, dst: Geometry, np_axis: int, ndim: int, index: float) -> float:
    """Continuous ``dst`` index (numpy axis) of the point at ``src`` index ``index`` along ``np_axis``."""
    idx = np.zeros(ndim)
    idx[ndim - 1 - np_axis] = index
    return float(dst.physical_to_index(src.index_to_physical(idx))[ndim - 1 - np_axis])


def pair(case: str, hr_geom: Geometry, hr_shape: Sequence[int], hr_box: List[List[int]],
         lowres_files: Sequence[str], slicing_axis: Optional[int]) -> Tuple[List[List[int]], np.ndarray, Dict[str, Any]]:
    """Return ``(hr_box grown to align, lr_case cropped (C, *lr_box), info for the properties)``."""
    lr, lr_geom = read_case(lowres_files)
    nd = len(hr_shape)
    where = f"{lowres_files[0]} (case {case!r})"
    if lr.ndim - 1 != nd:
        raise DatasetError(f"{where}: the LR scan is {lr.ndim - 1}D but the HR scan is {nd}D")
    if not np.allclose(lr_geom.direction, hr_geom.direction, atol=1e-3):
        raise DatasetError(f"{where}: the LR scan's direction differs from the HR scan's; resample it onto the "
                           f"HR orientation first")
    lr_sp, hr_sp = lr_geom.array_spacing, hr_geom.array_spacing
    box, lr_box, scales, offsets = [list(b) for b in hr_box], [], [], []
    for k in range(nd):
        if nd == 3 and k == slicing_axis:
            first = _edge_map(hr_geom, lr_geom, k, nd, 0.0)
            if lr.shape[1 + k] != hr_shape[k] or abs(lr_sp[k] - hr_sp[k]) > 1e-3 * hr_sp[k] or abs(first) > 0.05:
                raise DatasetError(f"{where}: paired scans must share the slices along the slicing axis {k} "
                                   f"(HR {hr_shape[k]} slices of {hr_sp[k]:g} mm, LR {lr.shape[1 + k]} of "
                                   f"{lr_sp[k]:g} mm); AutoSR refines in-plane only")
            lr_box.append(list(hr_box[k]))
            continue
        scale = lr_sp[k] / hr_sp[k]
        if scale < 1 - 1e-3:
            raise DatasetError(f"{where}: the LR scan is finer than the HR scan along array axis {k} "
                               f"({lr_sp[k]:g} < {hr_sp[k]:g} mm); lowresTr must hold the coarser scans")
        a, b = hr_box[k]
        n_lr = lr.shape[1 + k]
        lo = math.floor(_edge_map(hr_geom, lr_geom, k, nd, a - 0.5) + 0.5 + EDGE_TOL)
        hi = math.ceil(_edge_map(hr_geom, lr_geom, k, nd, b - 0.5) + 0.5 - EDGE_TOL)
        lo, hi = max(0, min(lo, n_lr - 1)), min(n_lr, max(hi, lo + 1))
        back = _edge_map(lr_geom, hr_geom, k, nd, lo - 0.5) + 0.5       # HR edge of the LR box's first edge
        start = round(back) if abs(back - round(back)) < EDGE_TOL else math.floor(back)
        start = max(0, min(start, a))                                    # grow, never shrink
        box[k] = [start, b]
        lr_box.append([lo, hi])
        scales.append(scale)
        offsets.append(round(back - start, 4))
    region = (slice(None),) + tuple(slice(lo, hi) for lo, hi in lr_box)
    info = {"files": [str(f) for f in lowres_files], "original_shape": list(lr.shape[1:]),
            "geometry": lr_geom.to_dict(), "crop_box": lr_box,
            "scale": [round(s, 6) for s in scales],
            "scale_fraction": [str(Fraction(s).limit_denominator(1000)) for s in scales],
            "hr_offset": offsets}
    return box, lr[region], info
