"""Crop and normalise a new scan with its plan (the inverse is :mod:`autosr.inference.writer`).

Prediction sees scans the planner never saw, so the crop box and the normalisation parameters
are fitted on the scan itself with the plan's rules (:mod:`autosr.cropping`,
:mod:`autosr.normalization`; CT keeps the plan's fixed window). The in-plane start of the crop
box is snapped down to a multiple of ``q`` (``s = p/q``) so the refined paste offset ``start·s``
is an integer and the refined crop is exactly a sub-window of the refined field of view.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from autosr.imageio import Geometry
from autosr.plans import Plans
from autosr.preprocessing import slicing
from autosr.scales import ScaleLike, as_fraction, sr_size

logger = logging.getLogger(__name__)


@dataclass
class PreparedCase:
    """A scan cropped, normalised and cut into slices, plus what is needed to undo it.

    ``slices`` is ``(S, C, h, w)`` float32 in [0, 1] (slicing axis first, the other spatial axes
    in their original order). ``box`` is the crop box in original array coordinates (half-open,
    one pair per spatial axis). 2D scans are one slice (``slicing_axis is None``).
    """

    slices: np.ndarray
    box: List[Tuple[int, int]]
    params: List[Dict[str, Any]]
    spatial_shape: Tuple[int, ...]
    slicing_axis: Optional[int]
    dtype: np.dtype
    #: slice index → ``(C, h, w)`` float32: the part of the scan outside the normalisation window
    #: (original units; only slices where it is not 0). The network never sees it, so it is
    #: upsampled bicubically and added back, and e.g. T2 CSF above the 99.5th percentile or CT
    #: bone above the window keeps its intensity.
    outside: Dict[int, np.ndarray] = field(default_factory=dict)
    #: per channel ``(min, max)`` of the input scan: outputs are clipped to it (no bicubic
    #: overshoot below an MR's zero or a CT's air padding)
    value_range: List[Tuple[float, float]] = field(default_factory=list)
    #: per channel 0.5th and 99.5th percentiles of the foreground, comparable with the training
    #: fingerprint's (``dataset_fingerprint.json`` ``intensity``)
    foreground_range: List[Tuple[float, float]] = field(default_factory=list)

    @property
    def in_plane_axes(self) -> Tuple[int, ...]:
        """Array axes (of the spatial shape) refined by the scale."""
        return in_plane_axes(len(self.spatial_shape), self.slicing_axis)


def in_plane_axes(ndim: int, slicing_axis: Optional[int]) -> Tuple[int, ...]:
    """Refined array axes of an ``ndim``-D scan (2D: both), as preprocessing stores them."""
    return tuple(slicing.in_plane_axes(ndim, slicing_axis if ndim == 3 else None))

def crop_and_mask(case: np.ndarray, plans: Plans, slicing_axis: Optional[int], q: int,
                  array_spacing: Optional[Sequence[float]] = None) -> Tuple[List[Tuple[int, int]], np.ndarray]:
    """The crop box (in-plane start snapped down to a multiple of ``q``) and the foreground mask."""
    from autosr.cropping import bounding_box, crop_box, foreground_mask

    spatial = case.shape[1:]
    margin = plans.crop_margin if slicing_axis is not None else plans.crop_margin[-2:]  # as preprocessing
    mask = foreground_mask(case, plans.modalities, array_spacing)
    bbox = bounding_box(mask)
    if bbox is None:
        logger.warning("no foreground found: the whole field of view is super-resolved")
        box = [(0, n) for n in spatial]
    else:
        box = [(int(a), int(b)) for a, b in crop_box(spatial, bbox, margin)]
    axes = in_plane_axes(len(spatial), slicing_axis)
    return [((a // q) * q, b) if k in axes else (a, b) for k, (a, b) in enumerate(box)], mask


def prepare_case(case: np.ndarray, plans: Plans, scale: ScaleLike, crop: bool = True,
                 array_spacing: Optional[Sequence[float]] = None) -> PreparedCase:
    """Crop (snapped to ``q``) and normalise ``case`` ``(C, *spatial)``; cut it into slices.

    ``array_spacing`` (numpy order) lets the foreground's hole filling use the scan's slices.
    """
    from autosr.cropping import crop_and_normalise

    if case.ndim not in (3, 4):
        raise ValueError(f"expected a case (C, y, x) or (C, z, y, x), got shape {case.shape}")
    q = as_fraction(scale).denominator
    slicing_axis = plans.slicing_axis if case.ndim == 4 else None
    box, mask = crop_and_mask(case, plans, slicing_axis, q, array_spacing)
    if not crop:
        box = [(0, n) for n in case.shape[1:]]
    normalised, params, cropped = crop_and_normalise(case, mask, box, plans.normalization)
    fg = mask[tuple(slice(a, b) for a, b in box)]
    outside = []
    for c, p in enumerate(params):
        x = np.asarray(cropped[c], dtype=np.float32)
        outside.append(x - np.clip(x, p["lower"], p["upper"]))
    slices = slicing.to_slices(normalised, slicing_axis).transpose(1, 0, 2, 3)  # (S, C, h, w)
    out_slices = slicing.to_slices(np.stack(outside), slicing_axis).transpose(1, 0, 2, 3)
    kept = {int(i): np.ascontiguousarray(out_slices[i]) for i in np.flatnonzero(np.any(out_slices, axis=(1, 2, 3)))}
    value_range = [(float(np.min(case[c])), float(np.max(case[c]))) for c in range(case.shape[0])]
    return PreparedCase(np.ascontiguousarray(slices, dtype=np.float32), box, params, tuple(case.shape[1:]),
                        slicing_axis, case.dtype, kept, value_range, _foreground_range(cropped, fg))


#: Foreground voxels sampled (evenly) for the percentiles of :attr:`PreparedCase.foreground_range`.
_RANGE_SAMPLES = 1_000_000


def _foreground_range(channels: np.ndarray, fg: np.ndarray) -> List[Tuple[float, float]]:
    out = []
    for c in range(channels.shape[0]):
        values = channels[c][fg] if fg.any() else channels[c].ravel()
        values = values[:: max(1, values.size // _RANGE_SAMPLES)].astype(np.float64)
        lo, hi = np.percentile(values, (0.5, 99.5))
        out.append((float(lo), float(hi)))
    return out


def refined_box(box: Sequence[Tuple[int, int]], axes: Sequence[int], scale: ScaleLike) -> List[Tuple[int, int]]:
    """The crop box on the refined grid: ``[a·s, ⌊b·s⌋)`` on refined axes (``a·s`` must be integral)."""
    f = as_fraction(scale)
    out = []
    for k, (a, b) in enumerate(box):
        if k in axes:
            if (a * f.numerator) % f.denominator:
                raise ValueError(f"crop start {a} is not a multiple of q = {f.denominator}")
            out.append((a * f.numerator // f.denominator, sr_size(b, f)))
        else:
            out.append((a, b))
    return out


def to_output_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round and clip to an integer ``dtype``'s range (``--keep_dtype``), or cast to a float dtype."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    if dtype == np.bool_:
        return x > 0.5
    return x.astype(dtype, copy=False)


def refine_geometry(geometry: Geometry, scale: ScaleLike, axes: Sequence[int]) -> Geometry:
    """Output geometry: spacing/s on ``axes``, same direction, field of view kept (``Geometry.refined``)."""
    return geometry.refined(scale, axes)


__all__ = ["PreparedCase", "prepare_case", "refined_box", "refine_geometry", "to_output_dtype", "crop_and_mask",
           "in_plane_axes"]
