"""Bounded-memory super-resolution of large slices: overlapping tiles, blended in the refined space.

A tile is an LR window ``[a, b)`` per axis whose start ``a`` is a multiple of that axis's ``q``
(``s = p/q``; rows and columns may have different factors), so its refined output is *exactly*
the sub-window ``[a·s, ⌊b·s⌋)`` of the untiled output
(centre convention, documentation/internals.md). Near an interior tile edge the network sees
zero padding instead of the neighbouring pixels, so each tile's output is trusted only farther
than ``halo`` LR pixels from such an edge (``halo`` ≥ the network's receptive radius); over the
next ``ramp`` LR pixels its weight rises with a raised cosine. Consecutive tiles overlap by
``2·halo + ramp`` LR pixels, so every refined pixel has at least one trusted tile and where
two tiles overlap both are exact: the blend (weighted mean) equals the untiled result up to
float rounding. A halo smaller than the receptive field still gives a smooth, seam-free blend.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from autosr.scales import AxisScales, ScaleLike, as_fraction, axis_scales, sr_size

#: Default LR pixels over which a tile's weight ramps from 0 to 1 after its halo.
DEFAULT_RAMP = 8


def windows_1d(n: int, tile: int, halo: int, q: int, ramp: int = DEFAULT_RAMP) -> List[Tuple[int, int]]:
    """LR windows ``[a, b)`` covering ``[0, n)``: starts multiples of ``q``, length ≤ ``tile``.

    Consecutive windows overlap by at least ``2·halo + ramp``. One window when ``tile >= n``.
    Raises ``ValueError`` when ``tile`` is too short for that overlap plus one step of ``q``.
    """
    if tile >= n:
        return [(0, n)]
    step = ((tile - 2 * halo - ramp) // q) * q
    if step < q:
        raise ValueError(f"tile of {tile} LR pixels is too small for halo {halo}, ramp {ramp} and q = {q}; "
                         f"need at least {2 * halo + ramp + q}")
    last = -(-(n - tile) // q) * q  # smallest multiple of q whose window reaches n
    starts = [0]
    while starts[-1] + tile < n:
        starts.append(min(starts[-1] + step, last))
    return [(a, min(a + tile, n)) for a in starts]


def weights_1d(a: int, b: int, n: int, scale: ScaleLike, halo: int, ramp: int = DEFAULT_RAMP) -> np.ndarray:
    """Blend weight of each refined pixel of window ``[a, b)`` of an ``n``-pixel axis (float64).

    Distances are measured in LR units from the refined pixel's centre, ``u = (j+½)/s − ½``, to
    the window's edge; image edges (``a == 0``, ``b == n``) are not cut, so they get weight 1.
    """
    f = as_fraction(scale)
    start = a * f.numerator // f.denominator
    j = np.arange(start, sr_size(b, f), dtype=np.float64)
    u = (j + 0.5) * f.denominator / f.numerator - 0.5
    w = np.ones_like(u)
    ramp = max(ramp, 1)

    def profile(d: np.ndarray) -> np.ndarray:
        t = np.clip((d - halo) / ramp, 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * t)

    if a > 0:
        w *= profile(u - (a - 0.5))
    if b < n:
        w *= profile((b - 0.5) - u)
    return w


@dataclass(frozen=True)
class TilePlan:
    """How one batch of slices is split: ``sub_batch`` slices at a time, LR tiles of ``tile``."""

    sub_batch: int
    tile: Tuple[int, int]
    halo: int
    ramp: int = DEFAULT_RAMP

    def is_tiled(self, h: int, w: int) -> bool:
        return self.tile[0] < h or self.tile[1] < w


def plan_tiles(h: int, w: int, batch: int, per_pixel: int, budget_bytes: int, halo: int,
               q: "int | Tuple[int, int]", ramp: int = DEFAULT_RAMP) -> TilePlan:
    """Largest batch/tile whose working memory ``sub_batch·tile_h·tile_w·per_pixel`` fits the budget.

    Whole slices first (fewer slices per step before any tiling); then square-ish tiles, never
    smaller than the overlap needs. The budget is a target: a tile of the minimum size is used
    even when it alone exceeds the budget. ``q``: the rows' and columns' denominators (or one for both).
    """
    q_h, q_w = (q, q) if isinstance(q, int) else (int(q[0]), int(q[1]))
    per_slice = h * w * per_pixel
    if per_slice * batch <= budget_bytes or per_slice <= budget_bytes:
        return TilePlan(max(1, min(batch, budget_bytes // max(per_slice, 1))), (h, w), halo, ramp)
    min_h, min_w = 2 * halo + ramp + q_h, 2 * halo + ramp + q_w
    side = int(math.sqrt(budget_bytes / per_pixel))
    th, tw = min(h, max(min_h, side)), min(w, max(min_w, side))
    if th == h:  # a short, wide slice: spend the budget on width
        tw = min(w, max(min_w, budget_bytes // (per_pixel * h)))
    elif tw == w:
        th = min(h, max(min_h, budget_bytes // (per_pixel * w)))
    return TilePlan(1, (balanced_tile(h, th, halo, q_h, ramp), balanced_tile(w, tw, halo, q_w, ramp)), halo, ramp)


def balanced_tile(n: int, max_tile: int, halo: int, q: int, ramp: int = DEFAULT_RAMP) -> int:
    """The smallest tile ≤ ``max_tile`` covering ``n`` with as few windows as ``max_tile`` needs.

    Equal-sized windows overlap by only the required ``2·halo + ramp`` (plus ``q`` for
    alignment), instead of a last window that overlaps its neighbour by most of a tile.
    """
    if max_tile >= n:
        return n
    overlap = 2 * halo + ramp
    step = max(q, ((max_tile - overlap) // q) * q)
    k = -(-(n - max_tile) // step) + 1  # windows windows_1d would use with max_tile
    for tile in range(-(-(n + (k - 1) * overlap) // k), max_tile + 1):
        if len(windows_1d(n, tile, halo, q, ramp)) <= k:
            return tile
    return max_tile


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: AxisScales,
              tile: Sequence[int], halo: int, ramp: int = DEFAULT_RAMP,
              out_device: Optional[torch.device] = None, multiple: int = 1) -> torch.Tensor:
    """Apply ``fn`` (``(B, C, h', w') → (B, C', ⌊h'·s_h⌋, ⌊w'·s_w⌋)``) to ``x`` ``(B, C, h, w)`` tile by tile.

    Returns ``(B, C', ⌊h·s_h⌋, ⌊w·s_w⌋)`` on ``out_device`` (default: ``x``'s device). Untiled
    (one call) when the tile covers the slice. Tiles start at multiples of each axis's ``q`` and of
    ``multiple`` (a network part's declared ``size_multiple``: its pooling phase stays the whole slice's).
    """
    f_h, f_w = axis_scales(scale)
    b, _, h, w = x.shape
    rows = windows_1d(h, int(tile[0]), halo, math.lcm(f_h.denominator, multiple), ramp)
    cols = windows_1d(w, int(tile[1]), halo, math.lcm(f_w.denominator, multiple), ramp)
    out_device = out_device or x.device
    if len(rows) == 1 and len(cols) == 1:
        return fn(x).to(out_device)
    out_h, out_w = sr_size(h, f_h), sr_size(w, f_w)
    acc: Optional[torch.Tensor] = None
    norm = torch.zeros(out_h, out_w, dtype=torch.float64, device=out_device)
    for a0, a1 in rows:
        wr = torch.as_tensor(weights_1d(a0, a1, h, f_h, halo, ramp), device=out_device)
        r0 = a0 * f_h.numerator // f_h.denominator
        for c0, c1 in cols:
            wc = torch.as_tensor(weights_1d(c0, c1, w, f_w, halo, ramp), device=out_device)
            c0_out = c0 * f_w.numerator // f_w.denominator
            y = fn(x[:, :, a0:a1, c0:c1].contiguous()).to(out_device)  # strided views slow conv2d down
            if acc is None:
                acc = torch.zeros(b, y.shape[1], out_h, out_w, dtype=y.dtype, device=out_device)
            wt = torch.outer(wr, wc)
            sl = (slice(r0, r0 + y.shape[-2]), slice(c0_out, c0_out + y.shape[-1]))
            acc[(..., *sl)] += y * wt.to(y.dtype)
            norm[sl] += wt
    assert acc is not None
    return acc / norm.clamp_min(1e-12).to(acc.dtype)


__all__ = ["windows_1d", "weights_1d", "TilePlan", "plan_tiles", "balanced_tile",
           "run_tiled", "DEFAULT_RAMP"]
