"""How a factor per axis becomes 2D network passes over a scan's slices.

The network refines the two axes of a slice, by one factor each. A scan's factors are given by
one or two stages; a stage has one or two orientations, whose outputs are averaged:

* two axes refined, one kept (``-s 2.5`` in-plane, or ``-s 2 1 3``): one pass over the slices
  normal to the kept axis;
* one axis ``k`` refined (a thick slice axis, ``-s 1 1 4``): the slices that contain ``k`` in both
  orthogonal orientations, each refined ``(f_k, 1)``, then averaged: each orientation borrows
  detail from a different in-plane axis, and their errors partly cancel;
* every axis refined (``-s 2 2 4``): the two axes other than the thick one ``k`` (the coarsest
  spacing) in one pass over the slices normal to ``k``, then ``k`` through-plane as above on that
  result: in-plane and through-plane factors compose.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple

from autosr.scales import VolumeScale


@dataclass(frozen=True)
class Pass:
    """Super-resolve the slices normal to ``slicing_axis`` (``None``: a 2D image) by ``scale``
    (1 on ``slicing_axis``)."""

    slicing_axis: Optional[int]
    scale: VolumeScale

    @property
    def slice_scale(self) -> "Fraction | Tuple[Fraction, Fraction]":
        return self.scale.pair(self.slicing_axis)

    @property
    def single_axis(self) -> bool:
        """Only one axis of the slices is refined (the through-plane use of the model)."""
        return len(self.scale.refined_axes) == 1 and self.slicing_axis is not None

    @property
    def plane(self) -> str:
        """``"slices normal to y"`` (array axes z, y, x), or ``"image"`` for a 2D image."""
        return "image" if self.slicing_axis is None else f"slices normal to {'zyx'[self.slicing_axis]}"

    def describe(self) -> str:
        """``"slices normal to y, ×1 1 4"`` (for progress bars and messages; factors in x y z order)."""
        return f"{self.plane}, ×{self.scale}"


#: Stages of passes; the passes of one stage are orientations whose outputs are averaged.
Stages = List[Tuple[Pass, ...]]


def plan_passes(scale: VolumeScale, slicing_axis: Optional[int],
                array_spacing: Optional[Sequence[float]] = None) -> Stages:
    """The passes giving ``scale`` (see the module doc). ``slicing_axis``: the plan's, preferred for an
    in-plane pass; ``array_spacing`` (numpy order) picks the thick axis when every axis is refined."""
    if scale.ndim == 2:
        return [(Pass(None, scale),)]
    refined = scale.refined_axes
    if len(refined) == 1:
        k = refined[0]
        return [tuple(Pass(n, scale) for n in range(3) if n != k)]
    if len(refined) == 2:
        return [(Pass(next(n for n in range(3) if n not in refined), scale),)]
    if array_spacing is not None and max(array_spacing) > min(array_spacing) * (1 + 1e-3):
        k = max(range(3), key=lambda a: (array_spacing[a], a == slicing_axis))
    else:
        k = slicing_axis if slicing_axis is not None else 0
    first = VolumeScale(tuple(Fraction(1) if a == k else f for a, f in enumerate(scale.factors)))
    second = VolumeScale(tuple(f if a == k else Fraction(1) for a, f in enumerate(scale.factors)))
    return [(Pass(k, first),), tuple(Pass(n, second) for n in range(3) if n != k)]


__all__ = ["Pass", "Stages", "plan_passes"]
