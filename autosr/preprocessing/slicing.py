"""Case volumes ⇄ slice stacks: the one layout rule of the preprocessed arrays.

A 3D case ``(C, z, y, x)`` is stored as ``(C, S, H, W)`` with the slicing axis moved first
(``np.moveaxis``) and the other two spatial axes in increasing order; a 2D case ``(C, y, x)``
is one slice ``(C, 1, y, x)`` (its ``slicing_axis`` is ``None``).
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np


def transpose_of(ndim: int, slicing_axis: Optional[int]) -> List[int]:
    """Spatial axes in stored order: the slicing axis first, then the rest ascending."""
    if ndim == 2 or slicing_axis is None:
        return list(range(ndim))
    return [slicing_axis] + [k for k in range(ndim) if k != slicing_axis]


def in_plane_axes(ndim: int, slicing_axis: Optional[int]) -> List[int]:
    """Spatial axes that SR refines (2D: both)."""
    return transpose_of(ndim, slicing_axis)[-2:]


def to_slices(case: np.ndarray, slicing_axis: Optional[int]) -> np.ndarray:
    """``(C, *spatial)`` → ``(C, S, H, W)`` (a view where possible)."""
    if case.ndim == 3:
        return case[:, None]
    if case.ndim != 4 or slicing_axis is None:
        raise ValueError(f"expected (C, y, x) or (C, z, y, x) with a slicing axis, got shape {case.shape}")
    return np.moveaxis(case, 1 + int(slicing_axis), 1)


def from_slices(stack: np.ndarray, slicing_axis: Optional[int], ndim: int) -> np.ndarray:
    """Inverse of :func:`to_slices`: ``(C, S, H, W)`` → ``(C, *spatial)``."""
    if ndim == 2:
        return stack[:, 0]
    return np.moveaxis(stack, 1, 1 + int(slicing_axis))
