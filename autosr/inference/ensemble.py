"""Ensembles of one slice batch: the fold networks, each on the eight flips and 90° rotations of the input.

The members' mean is a test-time-augmented output (``--tta``); their per-pixel standard deviation
is an uncertainty map (``--save_uncertainty``): where the folds, or the network under a flip or a
rotation, disagree, the output is not determined by the input and the training.

A flip is exact only when it maps the refined grid onto itself: the refined grid is anchored at the
first row (``⌊h·s⌋`` rows, :func:`autosr.scales.sr_size`), so the slice is first padded (edge
values) to a whole multiple of the denominator ``q`` of ``s = p/q``, where ``h·s`` is whole, and
the output cropped back. A transposed slice swaps the two factors.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from autosr.scales import AxisScales, axis_scales, sr_size

#: (transpose, flip rows, flip columns): the 8 symmetries of the square (identity first).
SYMMETRIES: Tuple[Tuple[bool, bool, bool], ...] = tuple(itertools.product((False, True), repeat=3))

Member = Callable[[torch.Tensor, AxisScales], torch.Tensor]


def _apply(x: torch.Tensor, sym: Tuple[bool, bool, bool]) -> torch.Tensor:
    transpose, flip_r, flip_c = sym
    dims = [d for d, on in ((-2, flip_r), (-1, flip_c)) if on]
    if dims:
        x = torch.flip(x, dims)
    return x.transpose(-2, -1) if transpose else x


def _undo(y: torch.Tensor, sym: Tuple[bool, bool, bool]) -> torch.Tensor:
    transpose, flip_r, flip_c = sym
    if transpose:
        y = y.transpose(-2, -1)
    dims = [d for d, on in ((-2, flip_r), (-1, flip_c)) if on]
    return torch.flip(y, dims) if dims else y


def transformed(member: Member, x: torch.Tensor, scale: AxisScales, sym: Tuple[bool, bool, bool],
                multiple: int = 1) -> torch.Tensor:
    """``member`` run on ``x`` ``(B, C, h, w)`` seen through symmetry ``sym``, mapped back onto ``x``'s refined grid
    ``(B, C', ⌊h·s_h⌋, ⌊w·s_w⌋)``. ``multiple``: a size the member's input must be a whole multiple of."""
    f_h, f_w = axis_scales(scale)
    h, w = x.shape[-2:]
    m_h, m_w = math.lcm(f_h.denominator, multiple), math.lcm(f_w.denominator, multiple)
    xp = F.pad(x, (0, -w % m_w, 0, -h % m_h), mode="replicate") if (h % m_h or w % m_w) else x
    s = (f_w, f_h) if sym[0] else (f_h, f_w)
    y = _undo(member(_apply(xp, sym), s if s[0] != s[1] else s[0]), sym)
    return y[..., :sr_size(h, f_h), :sr_size(w, f_w)]


def mean_and_spread(members: Sequence[Member], x: torch.Tensor, scale: AxisScales,
                    symmetries: Sequence[Tuple[bool, bool, bool]], multiple: int = 1
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Over ``members`` × ``symmetries`` of ``x`` ``(B, C, h, w)`` refined by ``scale``: the mean, the per-pixel
    standard deviation, and the mean of the members on ``x`` as it is (the plain fold average). The
    identity symmetry runs a member on ``x`` unpadded (it pads for its own size multiple itself)."""
    total: Optional[torch.Tensor] = None
    squares: Optional[torch.Tensor] = None
    plain: Optional[torch.Tensor] = None
    for member in members:
        for sym in symmetries:
            y = (member(x, scale) if not any(sym) else transformed(member, x, scale, sym, multiple)).to(torch.float32)
            if not any(sym):
                plain = y.clone() if plain is None else plain.add_(y)
            total = y.clone() if total is None else total.add_(y)
            squares = y * y if squares is None else squares.addcmul_(y, y)
    assert total is not None and squares is not None and plain is not None
    n = len(members) * len(symmetries)
    mean = total / n
    return mean, (squares / n - mean * mean).clamp_min_(0.0).sqrt_(), plain / len(members)


__all__ = ["SYMMETRIES", "transformed", "mean_and_spread"]
