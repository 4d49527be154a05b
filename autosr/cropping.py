"""Foreground detection and crop boxes (pure functions, shared by preprocessing and prediction).

Background is detected per channel, never assumed to be exactly 0:

- **CT** (channel named CT, values in HU): air, i.e. voxels below ``CT_AIR_HU`` (−500 HU). Scanner
  padding (−1024, −2048, −3024) is below it too. A "CT" channel without any value below −500 is
  not in HU (or holds no air) and falls back to the MR rule.
- **MR and everything else**: the near-constant dark surround, judged from the voxels on the
  image border (the faces of the volume). If one value fills at least half of the border and
  nearly all of its dark part (z-scored BraTS: a negative constant; brain-extracted 8-bit: 0),
  background is exactly that value and every other voxel is foreground ("no non-zero value is
  removed", MIASSR §4.1). Otherwise the surround is noise: its ceiling (99th percentile of the
  dark border voxels) is the threshold, and connected specks smaller than ``MIN_COMPONENT``
  voxels above it are noise, not anatomy. A border with no dark part means the object fills the
  field of view: nothing is background (a quarter of the border must be dark to count as surround).

The foreground of a case is the union over channels, with holes filled slice by slice (2D, in
the planes orthogonal to the coarsest axis) so that enclosed dark anatomy — lungs, sinuses,
ventricles — counts as foreground for intensity statistics. Holes never change the bounding box.

Boxes are ``[[lo, hi), ...]`` per array axis (numpy order), half-open, in original voxel indices.
:func:`crop_and_normalise` is the one crop-and-normalise step of preprocessing, prediction and
evaluation: normalisation parameters fitted on the crop box's foreground.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage

Box = List[List[int]]

CT_AIR_HU = -500.0           # below this is air in a HU-calibrated CT (soft tissue ≥ −200, fat ≈ −100)
MIN_COMPONENT = 32           # voxels; a speck above the noise ceiling smaller than this is noise
CONSTANT_BORDER_FRACTION = 0.5
DARK_BORDER_FRACTION = 0.25    # a noisy surround fills at least this share of the border with dark voxels
ANISOTROPY_RATIO = 1.2       # an axis is "through-plane" when its spacing is ≥ 1.2 × every other


@dataclass
class Background:
    """Per-channel background estimate: ``foreground`` mask, ``value`` (original units) and how."""

    foreground: np.ndarray
    value: float
    method: str              # "air" | "constant" | "noise_floor" | "none"
    threshold: Optional[float]


def through_plane_axis(array_spacing: Sequence[float], ratio: float = ANISOTROPY_RATIO) -> Optional[int]:
    """Array axis whose spacing is at least ``ratio`` × every other one; ``None`` if there is none."""
    sp = np.asarray(array_spacing, dtype=np.float64)
    if sp.size < 2:
        return None
    k = int(np.argmax(sp))
    others = np.delete(sp, k)
    return k if sp[k] >= ratio * others.max() else None


def fill_axis(shape: Sequence[int], array_spacing: Optional[Sequence[float]]) -> Optional[int]:
    """Axis whose slices holes are filled in: a singleton axis, else the through-plane axis, else 0."""
    if len(shape) != 3:
        return None
    single = [k for k, n in enumerate(shape) if n == 1]
    if single:
        return single[0]
    axis = through_plane_axis(array_spacing) if array_spacing is not None else None
    return 0 if axis is None else axis


def _border_values(x: np.ndarray) -> np.ndarray:
    """All voxels on the faces of ``x`` (any dimensionality)."""
    parts = []
    for ax in range(x.ndim):
        if x.shape[ax] == 0:
            continue
        parts.append(np.take(x, 0, axis=ax).ravel())
        parts.append(np.take(x, x.shape[ax] - 1, axis=ax).ravel())
    return np.concatenate(parts)


def _sample(x: np.ndarray, max_size: int = 2_000_000) -> np.ndarray:
    """A regular subsample of ``x`` (for threshold estimates; exact statistics are not needed)."""
    flat = x.ravel()
    return flat[:: max(1, flat.size // max_size)]


def _drop_specks(mask: np.ndarray, min_size: int) -> np.ndarray:
    """Remove connected components smaller than ``min_size`` voxels (face connectivity)."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


def channel_background(channel: np.ndarray, modality: str = "MR") -> Background:
    """Detect the background of one channel (any dtype, 2D or 3D); see the module docstring."""
    x = np.asarray(channel)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    finite = np.isfinite(x)
    if not finite.all():                      # NaN padding counts as background
        x = np.where(finite, x, np.nanmin(x) if finite.any() else 0.0)
    lo, hi = float(x.min()), float(x.max())
    sample = _sample(x)
    if modality == "CT" and lo < CT_AIR_HU:
        border = _border_values(x)
        air = border[border < CT_AIR_HU]              # the surround, not the lungs, sets the fill value
        air = air if air.size else sample[sample < CT_AIR_HU]
        return Background((x >= CT_AIR_HU) & finite, float(np.median(air)) if air.size else lo, "air", CT_AIR_HU)
    border = _border_values(x)
    values, counts = np.unique(border, return_counts=True)
    mode = float(values[np.argmax(counts)])
    p_lo, p_hi = np.percentile(sample, [0.5, 99.5])
    band = border[border <= p_lo + 0.1 * (p_hi - p_lo)]        # the dark part of the border
    tol = 1e-6 * max(hi - lo, 1e-12)
    if counts.max() >= CONSTANT_BORDER_FRACTION * border.size and band.size and \
            np.mean(np.abs(band - mode) <= tol) >= 0.99:
        fg = np.abs(x - mode) > tol
        return Background(fg & finite, mode, "constant", mode)
    if band.size >= DARK_BORDER_FRACTION * border.size:
        ceiling = float(np.percentile(band, 99))
        fg = _drop_specks(x > ceiling, MIN_COMPONENT if x.ndim == 3 else max(4, MIN_COMPONENT // 4))
        return Background(fg & finite, float(np.median(band)), "noise_floor", ceiling)
    return Background(finite.copy(), lo, "none", None)


def fill_holes(mask: np.ndarray, axis: Optional[int]) -> np.ndarray:
    """Fill holes in 2D slices orthogonal to ``axis`` (3D; ``None`` means 0) or in the image (2D).

    A hole is a background region of a slice that does not touch the slice's edge; labelling
    the background once (in-plane connectivity) is much faster than iterative filling.
    """
    if mask.ndim not in (2, 3):
        raise ValueError(f"fill_holes needs a 2D or 3D mask, got {mask.ndim}D")
    if mask.ndim == 2:
        structure, edge_axes = ndimage.generate_binary_structure(2, 1), (0, 1)
    else:
        axis = 0 if axis is None else int(axis)
        structure = np.zeros((3, 3, 3), bool)
        np.moveaxis(structure, axis, 0)[1] = ndimage.generate_binary_structure(2, 1)  # in-slice only
        edge_axes = tuple(a for a in range(3) if a != axis)
    labels, n = ndimage.label(~mask, structure=structure)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, bool)
    for ax in edge_axes:
        outside[np.take(labels, 0, axis=ax)] = True
        outside[np.take(labels, labels.shape[ax] - 1, axis=ax)] = True
    outside[0] = False
    return ~outside[labels]


def foreground_mask(case: np.ndarray, modalities: Sequence[str],
                    array_spacing: Optional[Sequence[float]] = None) -> np.ndarray:
    """Boolean foreground ``(*spatial)`` of a case ``(C, *spatial)``: union over channels, holes filled.

    ``modalities`` holds one ``"CT"``/``"MR"`` per channel; ``array_spacing`` (numpy order) picks
    the slices holes are filled in (:func:`fill_axis`: orthogonal to the coarsest axis; axis 0
    when isotropic).
    """
    if case.shape[0] != len(modalities):
        raise ValueError(f"case has {case.shape[0]} channels but {len(modalities)} modalities were given")
    mask = np.zeros(case.shape[1:], bool)
    for c, modality in enumerate(modalities):
        mask |= channel_background(case[c], modality).foreground
    return fill_holes(mask, fill_axis(mask.shape, array_spacing))


def bounding_box(mask: np.ndarray) -> Optional[Box]:
    """Smallest half-open box ``[[lo, hi), ...]`` holding every True voxel; ``None`` if there is none."""
    if not mask.any():
        return None
    box = []
    for ax in range(mask.ndim):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != ax)))
        box.append([int(hit[0]), int(hit[-1]) + 1])
    return box


def crop_box(shape: Sequence[int], bbox: Box, margin: Sequence[int],
             min_size: Optional[Sequence[int]] = None) -> Box:
    """``bbox`` grown by ``margin`` voxels per axis, then to at least ``min_size``, clamped to the image.

    The result always contains ``bbox`` (no foreground voxel is ever removed). Growth to
    ``min_size`` is centred on the box and shifted inwards at the image edges; an image smaller
    than ``min_size`` along an axis is kept whole along it.
    """
    out = []
    for ax, n in enumerate(shape):
        lo, hi = int(bbox[ax][0]), int(bbox[ax][1])
        m = int(margin[ax]) if ax < len(margin) else 0
        lo, hi = max(0, lo - m), min(int(n), hi + m)
        want = min(int(n), int(min_size[ax])) if min_size is not None else 0
        if hi - lo < want:
            extra = want - (hi - lo)
            lo = max(0, lo - extra // 2)
            hi = min(int(n), lo + want)
            lo = hi - want
        out.append([lo, hi])
    return out


def box_slices(box: Box) -> tuple:
    """``box`` as a tuple of slices for indexing the spatial axes."""
    return tuple(slice(lo, hi) for lo, hi in box)


def crop(case: np.ndarray, box: Box) -> np.ndarray:
    """Crop the spatial axes of ``case`` ``(C, *spatial)`` (a view)."""
    return case[(slice(None),) + box_slices(box)]


def crop_and_normalise(case: np.ndarray, foreground: np.ndarray, box: Box,
                       channel_plans: Optional[Sequence[Mapping[str, Any]]] = None,
                       params: Optional[Sequence[Mapping[str, Any]]] = None
                       ) -> Tuple[np.ndarray, List[Dict[str, Any]], np.ndarray]:
    """Crop ``case`` ``(C, *spatial)`` to ``box`` and normalise it to [0, 1] per channel.

    The parameters are fitted on the crop (its part of ``foreground``, the case's mask) with the
    plans' ``channel_plans``, unless ``params`` gives them (a prediction scored with its
    reference's). Returns ``(normalised float32 (C, *box), params, cropped raw view)``.
    """
    from autosr.normalization import fit_case, normalize_case

    cropped = crop(case, box)
    if params is None:
        params = fit_case(cropped, foreground[box_slices(box)], channel_plans)
    return normalize_case(cropped, params), [dict(p) for p in params], cropped


def paste(cropped: np.ndarray, box: Box, shape: Sequence[int], fill: Sequence[float]) -> np.ndarray:
    """Inverse of :func:`crop`: put ``cropped`` ``(C, *box)`` into an array ``(C, *shape)`` filled per channel."""
    out = np.empty((cropped.shape[0],) + tuple(int(s) for s in shape), dtype=cropped.dtype)
    for c in range(cropped.shape[0]):
        out[c] = fill[c]
    out[(slice(None),) + box_slices(box)] = cropped
    return out


def contains(outer: Box, inner: Box) -> bool:
    """True when box ``inner`` lies inside box ``outer``."""
    return all(o[0] <= i[0] and i[1] <= o[1] for o, i in zip(outer, inner))


__all__ = ["Background", "channel_background", "foreground_mask", "fill_holes", "fill_axis", "through_plane_axis",
           "bounding_box", "crop_box", "crop", "crop_and_normalise", "paste", "box_slices", "contains", "CT_AIR_HU"]
