"""Per-axis scales and the LR voxel centres every acquisition model samples at.

A scale is one value for both in-plane axes or a pair ``(s_h, s_w)``; each is an exact fraction
(:func:`autosr.scales.as_fraction`). LR pixel ``k`` along an axis of scale ``s`` has its centre at
HR coordinate ``(k + 0.5)·s − 0.5`` (HR pixel ``i`` at ``i``), and the LR matrix has
``floor(N/s)`` pixels: the convention of :mod:`autosr.scales`.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from autosr.scales import AxisScales, axis_scales, lr_size

#: A parameter given once for both axes or as ``(h, w)``.
PerAxis = Union[float, Sequence[float]]


def per_axis(value: Optional[PerAxis]) -> Tuple[Optional[float], Optional[float]]:
    """``(h, w)`` from one value or a pair."""
    return (value[0], value[1]) if isinstance(value, (tuple, list)) else (value, value)


def lr_shape(hr_shape: Sequence[int], scale: AxisScales) -> Tuple[int, int]:
    """LR matrix ``(floor(H/s_h), floor(W/s_w))`` of an HR image whose last two sizes are ``hr_shape``."""
    (s_h, s_w), (h, w) = axis_scales(scale), tuple(hr_shape[-2:])
    out = lr_size(h, s_h), lr_size(w, s_w)
    if min(out) < 1:
        shown = f"{float(s_h):g}" if s_h == s_w else f"({float(s_h):g}, {float(s_w):g})"
        raise ValueError(f"a {(h, w)} image is too small for scale {shown}")
    return out


def lr_centres(n_lr: int, scale: Fraction) -> np.ndarray:
    """HR coordinates ``(k + 0.5)·s − 0.5`` of the centres of ``n_lr`` LR pixels (float64)."""
    return (np.arange(n_lr, dtype=np.float64) + 0.5) * float(scale) - 0.5


__all__ = ["AxisScales", "PerAxis", "per_axis", "axis_scales", "lr_shape", "lr_centres"]
