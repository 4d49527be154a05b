"""Crop and normalise a new scan with its plan (the inverse is :mod:`autosr.inference.writer`).

Prediction sees scans the planner never saw, so the crop box and the normalisation parameters
are fitted on the scan itself with the plan's rules (:mod:`autosr.cropping`,
:mod:`autosr.normalization`; CT keeps the plan's fixed window). The start of the crop box on each
axis is snapped down to a multiple of that axis's ``q`` (factor ``f = p/q``) so the refined paste
offset ``start·f`` is an integer and the refined crop is exactly a sub-window of the refined field
of view. A case is cut into slices normal to one axis (the plan's slicing axis, or another for the
passes of a through-plane scale, :mod:`autosr.inference.passes`).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from autosr.plans import Plans
from autosr.preprocessing import slicing
from autosr.scales import ScaleLike, VolumeScale

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
    #: the factor of each spatial axis (1 on the slicing axis)
    scale: VolumeScale
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
    #: outputs are clipped to [0, 1] and to ``value_range``; not when projected onto the input's consistency
    #: (``--enforce_consistency``), which clipping would undo
    clip: bool = True

    @property
    def in_plane_axes(self) -> Tuple[int, ...]:
        """Array axes (of the spatial shape) of the slices."""
        return in_plane_axes(len(self.spatial_shape), self.slicing_axis)

    @property
    def slice_scale(self) -> "Fraction | Tuple[Fraction, Fraction]":
        """The factors of the slices (rows, columns): one fraction when they are equal."""
        return self.scale.pair(self.slicing_axis)


    def resliced(self, slicing_axis: int) -> "PreparedCase":
        """The same cropped, normalised scan cut into slices normal to another axis (the second orientation of
        a through-plane pass), without fitting the crop box and normalisation again."""
        ndim = len(self.spatial_shape)
        if ndim != 3 or self.scale.factors[slicing_axis] != 1:
            raise ValueError(f"cannot reslice a {ndim}D case normal to axis {slicing_axis} with factors {self.scale}")
        volume = slicing.from_slices(self.slices.transpose(1, 0, 2, 3), self.slicing_axis, ndim)
        slices = slicing.to_slices(volume, slicing_axis).transpose(1, 0, 2, 3)
        outside = np.zeros_like(volume)
        for i, sl in self.outside.items():
            np.moveaxis(outside, 1 + self.slicing_axis, 1)[:, i] = sl
        out_slices = slicing.to_slices(outside, slicing_axis).transpose(1, 0, 2, 3)
        kept = {int(i): np.ascontiguousarray(out_slices[i])
                for i in np.flatnonzero(np.any(out_slices, axis=(1, 2, 3)))}
        return dataclasses.replace(self, slices=np.ascontiguousarray(slices), slicing_axis=slicing_axis, outside=kept)


def with_spread_channels(prep: PreparedCase) -> PreparedCase:
    """``prep`` with one more output channel per input channel: a standard deviation in [0, 1] units, restored
    to original units by the channel's scale alone (no offset, background 0). Its slices are unchanged."""
    spread = [{"lower": 0.0, "upper": float(p["upper"]) - float(p["lower"]), "background": 0.0} for p in prep.params]
    return dataclasses.replace(prep, params=list(prep.params) + spread)


def in_plane_axes(ndim: int, slicing_axis: Optional[int]) -> Tuple[int, ...]:
    """Refined array axes of an ``ndim``-D scan (2D: both), as preprocessing stores them."""
    return tuple(slicing.in_plane_axes(ndim, slicing_axis if ndim == 3 else None))

def crop_and_mask(case: np.ndarray, plans: Plans, scale: VolumeScale,
                  array_spacing: Optional[Sequence[float]] = None) -> Tuple[List[Tuple[int, int]], np.ndarray]:
    """The crop box (each axis's start snapped down to a multiple of its factor's ``q``) and the foreground
    mask. The margin is the plan's (its slicing axis's margin on the plan's slicing axis, whatever the
    slices), so every pass of a scan crops the same box."""
    from autosr.cropping import bounding_box, crop_box, foreground_mask

    spatial = case.shape[1:]
    margin = plans.crop_margin if len(spatial) == 3 else plans.crop_margin[-2:]  # as preprocessing
    mask = foreground_mask(case, plans.modalities, array_spacing)
    bbox = bounding_box(mask)
    if bbox is None:
        logger.warning("no foreground found: the whole field of view is super-resolved")
        box = [(0, n) for n in spatial]
    else:
        box = [(int(a), int(b)) for a, b in crop_box(spatial, bbox, margin)]
    qs = [f.denominator for f in scale.factors]
    return [((a // q) * q, b) for (a, b), q in zip(box, qs)], mask


def prepare_case(case: np.ndarray, plans: Plans, scale: "ScaleLike | VolumeScale", crop: bool = True,
                 array_spacing: Optional[Sequence[float]] = None, slicing_axis: Optional[int] = None
                 ) -> PreparedCase:
    """Crop (snapped to each axis's ``q``) and normalise ``case`` ``(C, *spatial)``; cut it into slices.

    ``scale``: a factor per axis, or one in-plane scale (the plan's in-plane axes). ``slicing_axis``:
    the slices' normal (default: the plan's). ``array_spacing`` (numpy order) lets the foreground's
    hole filling use the scan's slices.
    """
    from autosr.cropping import crop_and_normalise

    if case.ndim not in (3, 4):
        raise ValueError(f"expected a case (C, y, x) or (C, z, y, x), got shape {case.shape}")
    if case.ndim == 4:
        slicing_axis = plans.slicing_axis if slicing_axis is None else int(slicing_axis)
    else:
        slicing_axis = None
    if not isinstance(scale, VolumeScale):
        scale = VolumeScale.in_plane(scale, case.ndim - 1, slicing_axis)
    if scale.ndim != case.ndim - 1 or (slicing_axis is not None and scale.factors[slicing_axis] != 1):
        raise ValueError(f"factors {scale} (x y z) do not fit slices normal to axis {slicing_axis} of a "
                         f"{case.ndim - 1}D case")
    box, mask = crop_and_mask(case, plans, scale, array_spacing)
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
                        slicing_axis, case.dtype, scale, kept, value_range, _foreground_range(cropped, fg))


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


def refined_box(box: Sequence[Tuple[int, int]], scale: VolumeScale) -> List[Tuple[int, int]]:
    """The crop box on the refined grid: ``[a·f, ⌊b·f⌋)`` per axis (``a·f`` must be integral)."""
    out = []
    for (a, b), f in zip(box, scale.factors):
        if (a * f.numerator) % f.denominator:
            raise ValueError(f"crop start {a} is not a multiple of q = {f.denominator}")
        out.append((a * f.numerator // f.denominator, (b * f.numerator) // f.denominator))
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


__all__ = ["PreparedCase", "prepare_case", "refined_box", "to_output_dtype", "crop_and_mask",
           "in_plane_axes"]
