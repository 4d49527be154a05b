"""What the user asked for (``-s`` or ``--target_spacing``), parsed once, and the factors it gives each scan.

Three forms, each turned into one :class:`~autosr.scales.VolumeScale` per scan by :meth:`ScaleRequest.resolve`:

* ``-s S``: every in-plane axis ×S (the plan's slicing axis kept), as the papers do;
* ``-s SX SY SZ`` (``-s SX SY`` for 2D images): one factor per image axis in x y z order (ITK,
  NIfTI i j k), 1 keeping an axis: ``-s 1 1 4`` restores a thick slice axis;
* ``--target_spacing MM``: the in-plane spacing to reach; ``--target_spacing X Y Z``: the spacing of
  each axis (the scan's own spacing, or coarser, keeps an axis).

Whether the model can give those factors (its trained maxima) is the predictor's check.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from autosr.errors import AutoSRError
from autosr.imageio import Geometry
from autosr.scales import MAX_SCALE, ScaleLike, VolumeScale, as_fraction, check_scale

#: Relative tolerance between the two in-plane spacings for one --target_spacing value, and on the
#: spacing reached; a target within it of an axis's spacing keeps that axis (factor 1).
SPACING_RTOL = 1e-3
TARGET_RTOL = 1e-4

_AXES = "xyz"


class ScaleError(AutoSRError):
    """The scale is not a number, not above 1, the wrong number of factors, or above what the model was trained for."""


class TargetSpacingError(ScaleError):
    """--target_spacing cannot be reached (coarser than the scan, unequal in-plane spacings, wrong count)."""


def short_fraction(ratio: float) -> Fraction:
    """The fraction with the smallest denominator (≤ 1000) within ``TARGET_RTOL`` of ``ratio``: small ``q``
    keeps crop snapping and tiling fine-grained."""
    for q in range(1, 1001):
        p = round(ratio * q)
        if p > 0 and abs(q / p - 1 / ratio) <= TARGET_RTOL / ratio:
            return Fraction(p, q)
    return Fraction(ratio).limit_denominator(1000)


@dataclass(frozen=True)
class ScaleRequest:
    """One of ``in_plane`` (``-s S``), ``xyz`` (``-s SX SY [SZ]``) or ``target_spacing`` (mm, 1 to 3 values)."""

    in_plane: Optional[Fraction] = None
    xyz: Optional[Tuple[Fraction, ...]] = None
    target_spacing: Optional[Tuple[float, ...]] = None

    @classmethod
    def parse(cls, scale: Union[None, ScaleLike, VolumeScale, Sequence[ScaleLike]] = None,
              target_spacing: Union[None, float, Sequence[float]] = None) -> "ScaleRequest":
        """Check the form of a request (:class:`ScaleError` with one line saying what is wrong)."""
        if (scale is None) == (target_spacing is None):
            raise ScaleError("give exactly one of a scale (-s) and a target spacing (--target_spacing)")
        if isinstance(scale, ScaleRequest):
            return scale
        if isinstance(scale, VolumeScale):
            return cls(xyz=scale.xyz)
        if scale is not None:
            values = list(scale) if isinstance(scale, (list, tuple)) else [scale]
            if len(values) == 1:
                try:
                    return cls(in_plane=check_scale(values[0]))
                except ValueError as exc:
                    raise ScaleError(f"-s: {exc}") from None
            if len(values) not in (2, 3):
                raise ScaleError(f"-s takes one scale (in-plane), or one factor per axis in x y z order (2 for a "
                                 f"2D image, 3 for a volume), not {len(values)}")
            fracs = []
            for axis, v in zip(_AXES, values):
                try:
                    f = as_fraction(v)
                except ValueError as exc:
                    raise ScaleError(f"-s: the {axis} factor {v!r} is {exc}; give a real number such as 1, 2 or 2.5") \
                        from None
                if f < 1:
                    raise ScaleError(f"-s: the {axis} factor {v} is below 1; AutoSR refines (1 keeps an axis)")
                fracs.append(f)
            if max(fracs) == 1:
                raise ScaleError(f"-s {' '.join(map(str, values))}: every factor is 1; at least one must be above 1")
            return cls(xyz=tuple(fracs))
        values = list(target_spacing) if isinstance(target_spacing, (list, tuple)) else [target_spacing]
        if len(values) not in (1, 2, 3):
            raise TargetSpacingError(f"--target_spacing takes one spacing (in-plane) or one per axis in x y z "
                                     f"order, not {len(values)}")
        for v in values:
            if not isinstance(v, (int, float)) or not 0 < float(v) < float("inf"):
                raise TargetSpacingError(f"--target_spacing {v}: must be a positive number of mm")
        return cls(target_spacing=tuple(float(v) for v in values))

    def resolve(self, geometry: Optional[Geometry], ndim: int, slicing_axis: Optional[int],
                source: str = "scan") -> VolumeScale:
        """The factor of each axis of an ``ndim``-D scan (``slicing_axis``: the plan's, for the in-plane forms)."""
        if self.in_plane is not None:
            return VolumeScale.in_plane(self.in_plane, ndim, slicing_axis)
        if self.xyz is not None:
            if len(self.xyz) != ndim:
                raise ScaleError(f"{source}: -s gives {len(self.xyz)} factors (x y z order) but the scan is {ndim}D; "
                                 f"give {ndim} (or one in-plane scale)")
            return VolumeScale.from_xyz(self.xyz)
        assert self.target_spacing is not None
        if geometry is None:
            raise TargetSpacingError(f"{source}: --target_spacing needs the scan's spacing (give -s instead)")
        if len(self.target_spacing) == 1:
            in_plane = [k for k in range(ndim) if ndim == 2 or k != slicing_axis]
            return VolumeScale.in_plane(self._in_plane_factor(geometry, in_plane, source), ndim, slicing_axis)
        if len(self.target_spacing) != ndim:
            raise TargetSpacingError(f"{source}: --target_spacing gives {len(self.target_spacing)} values but the "
                                     f"scan is {ndim}D; give {ndim} (x y z mm) or one (in-plane)")
        factors = []
        for axis, have, want in zip(_AXES, geometry.spacing, self.target_spacing):
            ratio = have / want
            if ratio > MAX_SCALE:
                raise TargetSpacingError(f"{source}: --target_spacing {want:g} mm on {axis} would need a factor of "
                                         f"{ratio:g}; give a spacing nearer the scan's {have:g} mm")
            factors.append(Fraction(1) if ratio <= 1 + SPACING_RTOL else short_fraction(ratio))
        if max(factors) == 1:
            raise TargetSpacingError(f"{source}: --target_spacing {' '.join(f'{v:g}' for v in self.target_spacing)} "
                                     f"mm is not finer than the scan's {' x '.join(f'{v:g}' for v in geometry.spacing)}"
                                     f" mm on any axis; AutoSR only refines")
        return VolumeScale.from_xyz(factors)

    def _in_plane_factor(self, geometry: Geometry, axes: Sequence[int], source: str) -> Fraction:
        target = self.target_spacing[0]
        sp = [geometry.array_spacing[a] for a in axes]
        if max(sp) - min(sp) > SPACING_RTOL * max(sp):
            need = " and ".join(f"{v / target:.4g}" for v in sp)
            raise TargetSpacingError(f"{source}: in-plane spacings differ ({' x '.join(f'{v:g}' for v in sp)} mm), so "
                                     f"one scale cannot reach {target:g} mm on both axes (it would need s = {need}); "
                                     f"give one spacing per axis (--target_spacing X Y Z) or -s")
        ratio = float(np.mean(sp)) / target
        if ratio > MAX_SCALE:
            raise TargetSpacingError(f"{source}: --target_spacing {target:g} mm would need s = {ratio:g}, above any "
                                     f"scale AutoSR can give; give a spacing nearer the scan's {np.mean(sp):g} mm")
        if ratio <= 1:
            raise TargetSpacingError(f"{source}: --target_spacing {target:g} mm is not finer than the scan's in-plane "
                                     f"spacing {np.mean(sp):g} mm; AutoSR only refines (s > 1)")
        return short_fraction(ratio)

    def record(self) -> Dict[str, Any]:
        """The request as the sidecar records it (``-s S`` as before: ``{"scale": "5/2"}``)."""
        if self.in_plane is not None:
            return {"scale": str(self.in_plane)}
        if self.xyz is not None:
            return {"scale": " ".join(str(f) for f in self.xyz)}
        ts = self.target_spacing
        return {"target_spacing": ts[0] if len(ts) == 1 else list(ts)}


__all__ = ["ScaleRequest", "ScaleError", "TargetSpacingError", "short_fraction", "SPACING_RTOL", "TARGET_RTOL"]
