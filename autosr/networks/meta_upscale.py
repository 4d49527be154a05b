"""Meta-Upscale (MIASSR section 3.2, eqs. 8–11; Meta-SR), exact, fast and memory-bounded.

Refined pixel ``(i, j)`` is a ``k×k×F → C`` kernel applied to the zero-padded ``k×k`` feature
neighbourhood centred at LR pixel ``(r_i, r_j)``; the kernel is predicted by a two-layer MLP
from ``(R_i, R_j, 1/s)``, or, with one scale per axis (``per_axis_scale``), from
``(R_i, R_j, 1/s_i, 1/s_j)``: MIASSR's equations with a scale per axis, so one module refines
rows and columns by different factors (``(1, 4)``: only the columns). ``r`` and ``R`` follow
AutoSR's centre convention (:func:`autosr.scales.phases`) per axis: ``u_i = (i + ½)/s_i`` in LR
pixel-edge units, ``r_i = ⌊u_i⌋``, ``R_i = u_i − r_i``, computed in integer arithmetic on
``s_i = p_i/q_i``.

Reference implementations predict one kernel per *output* pixel and repeat the feature map
``⌈s⌉²`` times. Here nothing is materialised per output pixel beyond the output itself:

* ``"phase"`` path (short fractions). Offsets repeat with period ``p``: at most ``p_i·p_j``
  distinct kernels, each predicted once. Refined rows of phase ``a`` read LR rows
  ``base_a + q·m``, and phases sharing a base read the *same* rows, so a group of phases with a
  common base is one strided convolution whose output channels are the group's kernels; a
  gather per row group interleaves the results. Per axis, the mode is "strided" (one group per
  base, stride ``q``: exact MACs, ``q`` groups, windows gathered), "wide" (one group, stride
  ``q``, a ``q+k−1`` window holding each phase's taps at its base: ``(q+k−1)/k`` waste, one
  call) or "dense" (one group, stride 1 over every LR position: ``q``-fold waste). Integer
  scales are one convolution with ``s²·C`` output channels (sub-pixel convolution).
* ``"hidden"`` path (long periods, e.g. ``s = π`` read as 3126535/995207). The kernel is linear
  in the MLP's hidden vector, ``K(i,j) = W₂·h(i,j) + b₂``, so the output is
  ``Σ_h h_h(i,j)·P_h(r_i, r_j)`` with ``P = conv(F_lr, W₂ as hidden·C kernels)`` evaluated once
  per *LR* pixel, then one hidden-size dot product per refined pixel, over bands of rows whose
  peak extra memory is bounded by ``chunk_elements``. Exact up to float summation order.

A cost model (:data:`COST_WEIGHTS`, fitted on CPU timings, with a memory cap) picks the path and modes;
``forward(..., path=..., modes=...)`` forces them (the tests check all against a per-pixel
implementation). MLP output layout follows Meta-SR: index ``((f·k + ki)·k + kj)·C + c``.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autosr.registry import UPSAMPLERS
from autosr.scales import AxisScales, as_fraction, axis_scales, phases, sr_size

#: Cost model of the path choice, in MAC-equivalents per unit of work (fitted on CPU timings):
#: conv and MLP multiply-accumulates, elements copied by row / column window gathers, conv
#: outputs and placed kernels written, hidden-path per-pixel work, conv calls, row groups/chunks.
COST_WEIGHTS = {"conv_macs": 1.0, "mlp_macs": 0.5, "row_gather": 27.0, "col_gather": 85.0, "copies": 70.0,
                "outputs": 85.0, "pixels": 30.0, "convs": 6e6, "groups": 2e6}
#: Phase-path modes of one axis (see ``_layout``).
MODES = ("strided", "wide", "dense")
PATHS = ("phase", "hidden")


@dataclass(frozen=True)
class _Layout:
    """How one output axis is produced by the phase convolutions.

    Group ``g`` covers phases ``[a0[g], a1[g])``; its convolution slides a ``window``-wide kernel
    over padded LR positions ``start[g] + stride[g]·t`` (``t < extent[g]``), phase ``a``'s
    ``k``-tap kernel sitting at ``shift[a]`` inside the window. Refined pixel ``i`` is member
    ``member[i]`` of group ``group[i]`` at conv output position ``pos[i]``.
    """

    n_out: int
    n_lr: int
    p: int
    q: int
    k: int
    window: int
    lr_index: np.ndarray
    offset: np.ndarray
    a0: np.ndarray
    a1: np.ndarray
    start: np.ndarray
    stride: np.ndarray
    extent: np.ndarray
    shift: np.ndarray
    group: np.ndarray
    member: np.ndarray
    pos: np.ndarray

    @property
    def n_phases(self) -> int:
        return min(self.p, self.n_out)

    @property
    def padded_length(self) -> int:
        """LR positions (padding included) the convolutions read."""
        return int((self.start + self.stride * (self.extent - 1)).max()) + self.window


def _layout(n_lr: int, n_out: int, p: int, q: int, k: int, mode: str) -> _Layout:
    """Phase layout of one axis. Refined pixel ``i`` has phase ``i mod p`` and reads LR position
    ``base[phase] + q·(i div p)`` (``base`` = the first period's ``r``). Modes:

    * ``strided``: one group per distinct base, stride ``q``, exact (``q`` groups).
    * ``wide``: one group, stride ``q``, window ``q + k − 1`` with each phase's taps shifted to
      its base: waste ``(q + k − 1)/k``, one call.
    * ``dense``: one group, stride 1 over every LR position: waste ``q``, one call.
    """
    lr_index, _, offset = phases(n_out, as_fraction(f"{p}/{q}"))
    i = np.arange(n_out, dtype=np.int64)
    phase = i % p
    n_ph = min(p, n_out)
    base = lr_index[:n_ph]  # non-decreasing in the phase, so equal bases form runs
    one, zeros = np.ones(1, dtype=np.int64), np.zeros(n_out, dtype=np.int64)
    per_phase = (n_out + p - 1) // p  # refined pixels of phase 0 (the most frequent)
    if mode == "dense":
        return _Layout(n_out, n_lr, p, q, k, k, lr_index, offset, 0 * one, n_ph * one, 0 * one, one, n_lr * one,
                       np.zeros(n_ph, dtype=np.int64), zeros, phase, lr_index)
    if mode == "wide":
        return _Layout(n_out, n_lr, p, q, k, q + k - 1, lr_index, offset, 0 * one, n_ph * one, 0 * one, q * one,
                       per_phase * one, base, zeros, phase, i // p)
    if mode != "strided":
        raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
    a0 = np.flatnonzero(np.r_[True, base[1:] != base[:-1]])
    a1 = np.r_[a0[1:], n_ph]
    counts = (n_out - a0 + p - 1) // p  # refined pixels of the group's first phase
    group_of_phase = np.repeat(np.arange(a0.size), a1 - a0)
    return _Layout(n_out, n_lr, p, q, k, k, lr_index, offset, a0, a1, base[a0], np.full(a0.size, q, dtype=np.int64),
                   counts, np.zeros(n_ph, dtype=np.int64), group_of_phase[phase],
                   phase - a0[group_of_phase[phase]], i // p)


def _take(t: torch.Tensor, dim: int, start: int, step: int, extent: int, window: int) -> Tuple[torch.Tensor, int]:
    """The ``window``-wide slices at ``start + step·t`` (t < extent) along ``dim``, and the conv stride.

    For ``step > window`` the slices are copied side by side (a ``window/step`` fraction of
    ``t``): a strided view would make every conv call copy the whole band first.
    """
    span = t.narrow(dim, start, step * (extent - 1) + window)
    if step <= window:
        return span, step
    shape = list(t.shape)
    shape[dim] = extent * window
    return span.unfold(dim, window, step).movedim(-1, dim + 1).reshape(shape), window


def _spans(axis: _Layout) -> Tuple[np.ndarray, np.ndarray]:
    """Per group: length of the slice ``_take`` returns, and whether it is a fresh contiguous
    tensor (gathered, or the whole padded axis) rather than a strided view."""
    gathered = axis.stride > axis.window
    span = np.where(gathered, axis.extent * axis.window, axis.stride * (axis.extent - 1) + axis.window)
    full = (axis.start == 0) & (span >= max(axis.padded_length, axis.n_lr + axis.k - 1))
    return span, gathered | full


def _place(kern: torch.Tensor, phase_dim: int, space_dim: int, shifts: np.ndarray, window: int) -> torch.Tensor:
    """Zero-pad each phase's ``k`` taps along ``space_dim`` to ``window``, starting at its shift."""
    k = kern.shape[space_dim]
    if window == k:
        return kern
    view = [1] * kern.dim()
    view[phase_dim], view[space_dim] = len(shifts), k
    idx = torch.as_tensor(shifts, device=kern.device)[:, None] + torch.arange(k, device=kern.device)
    shape = list(kern.shape)
    shape[space_dim] = window
    return kern.new_zeros(shape).scatter(space_dim, idx.view(view).expand(kern.shape), kern)


@UPSAMPLERS.register("MetaUpscale")
class MetaUpscale(nn.Module):
    """Arbitrary-scale upsampler ``(B, in_features, h, w), (s_h, s_w) → (B, out_channels, ⌊h·s_h⌋, ⌊w·s_w⌋)``.

    Declares what inference needs: :attr:`receptive_radius` (LR pixels) and
    :meth:`bytes_per_lr_pixel` (working memory at a scale).

    Args:
        in_features: feature maps ``F`` of the input.
        out_channels: output channels ``C``.
        hidden: hidden units of the weight-prediction MLP (paper: 256).
        kernel_size: odd neighbourhood size ``k`` (paper: 3).
        bias: biases in the MLP's two linear layers (``False`` for the MESR variant).
        chunk_elements: memory budget (tensor elements) for intermediate results;
            ``None`` = the size of the input feature map (at least 2**18).
        per_axis_scale: the MLP reads ``1/s`` of each axis (4 inputs), so rows and columns may
            have different scales; ``False`` is the paper's single ``1/s`` (3 inputs, equal scales).
    """

    def __init__(self, in_features: int = 64, out_channels: int = 1, hidden: int = 256, kernel_size: int = 3,
                 bias: bool = True, chunk_elements: Optional[int] = None, per_axis_scale: bool = False) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.in_features = in_features
        self.out_channels = out_channels
        self.hidden = hidden
        self.kernel_size = kernel_size
        self.chunk_elements = chunk_elements
        self.per_axis_scale = per_axis_scale
        self.n_inputs = 4 if per_axis_scale else 3
        self.weight_net = nn.Sequential(
            nn.Linear(self.n_inputs, hidden, bias=bias),
            nn.ReLU(),
            nn.Linear(hidden, kernel_size * kernel_size * in_features * out_channels, bias=bias),
        )
        self._index_cache: "OrderedDict[tuple, List[Tuple[torch.Tensor, torch.Tensor]]]" = OrderedDict()

    @property
    def receptive_radius(self) -> int:
        """LR pixels around the one a refined pixel falls in that its kernel reads (``k // 2``), plus that
        pixel's own offset (``R < 1``)."""
        return self.kernel_size // 2 + 1

    def bytes_per_lr_pixel(self, scale: AxisScales) -> int:
        """Peak working memory per LR pixel at ``scale``: a few refined-size float32 tensors of
        ``out_channels`` (``⌈s_h⌉·⌈s_w⌉`` refined pixels per LR pixel); the kernels are chunked."""
        s_h, s_w = axis_scales(scale)
        return 4 * 6 * self.out_channels * math.ceil(s_h) * math.ceil(s_w)

    def init_near_identity(self, factor: float = 1e-3) -> None:
        """Scale the last MLP layer down and zero its bias, so the upsampler's output starts near 0 (a
        generator with a bicubic skip then starts as bicubic)."""
        last = self.weight_net[-1]
        with torch.no_grad():
            last.weight.mul_(factor)
            if last.bias is not None:
                last.bias.zero_()

    def kernels(self, row_offsets: torch.Tensor, col_offsets: torch.Tensor, inv_scale: Tuple[float, float]
                ) -> torch.Tensor:
        """Kernels (eq. 9) for offset pairs given as two ``(n,)`` tensors, ``inv_scale`` = ``(1/s_h, 1/s_w)``
        → ``(n, C, F, k, k)``."""
        pos = torch.stack([row_offsets, col_offsets] + [torch.full_like(row_offsets, v)
                                                        for v in self._scale_inputs(inv_scale)], dim=1)
        k, fch, c = self.kernel_size, self.in_features, self.out_channels
        return self.weight_net(pos).view(-1, fch, k, k, c).permute(0, 4, 1, 2, 3)

    def _scale_inputs(self, inv_scale: Tuple[float, float]) -> Tuple[float, ...]:
        """The MLP's scale inputs: ``(1/s_h, 1/s_w)``, or the paper's single ``1/s``."""
        return tuple(inv_scale) if self.per_axis_scale else (inv_scale[0],)

    def _scales(self, scale: AxisScales) -> Tuple[Fraction, Fraction]:
        fracs = axis_scales(scale)
        if not self.per_axis_scale and fracs[0] != fracs[1]:
            raise ValueError(f"scales {tuple(float(f) for f in fracs)} differ per axis, but this Meta-Upscale reads "
                             f"one 1/s (per_axis_scale=False, the paper's); train one with per_axis_scale=True")
        return fracs

    # ------------------------------------------------------------------ dispatch
    def forward(self, features: torch.Tensor, scale: AxisScales, path: str = "auto",
                modes: Optional[Tuple[str, str]] = None) -> torch.Tensor:
        """Upscale ``features`` ``(B, F, h, w)`` by ``scale`` (one, or ``(s_h, s_w)``, each ≥ 1)
        → ``(B, C, ⌊h·s_h⌋, ⌊w·s_w⌋)``.

        ``path``: ``"auto"`` (cost model), ``"phase"`` or ``"hidden"``; ``modes``: the phase
        path's (row, column) modes, each one of :data:`MODES`. All give the same result.
        """
        if features.dim() != 4 or features.shape[1] != self.in_features:
            raise ValueError(f"expected features (B, {self.in_features}, h, w), got {tuple(features.shape)}")
        s_h, s_w = self._scales(scale)
        b, _, h, w = features.shape
        out_h, out_w = sr_size(h, s_h), sr_size(w, s_w)
        if out_h < 1 or out_w < 1:
            raise ValueError(f"a {h}×{w} input gives an empty output at scale ({float(s_h):g}, {float(s_w):g})")
        if path not in ("auto",) + PATHS:
            raise ValueError(f"unknown path {path!r}; use 'auto' or one of {PATHS}")
        k, inv = self.kernel_size, (1.0 / float(s_h), 1.0 / float(s_w))
        if path == "auto" and modes is None:
            plan = self.plan(b, h, w, (s_h, s_w))
            path, modes = plan["path"], plan["modes"]
        elif path == "auto":
            path = "phase"
        if path == "hidden":
            return self._hidden_forward(features, _layout(h, out_h, s_h.numerator, s_h.denominator, k, "dense"),
                                        _layout(w, out_w, s_w.numerator, s_w.denominator, k, "dense"), inv)
        if modes is None:
            modes = self.plan(b, h, w, (s_h, s_w))["modes"]
        return self._phase_forward(features, _layout(h, out_h, s_h.numerator, s_h.denominator, k, modes[0]),
                                   _layout(w, out_w, s_w.numerator, s_w.denominator, k, modes[1]), inv)

    def plan(self, batch: int, h: int, w: int, scale: AxisScales) -> Dict[str, object]:
        """Cheapest exact path for a ``(batch, F, h, w)`` input.

        Returns ``{"path", "modes", "costs", "terms"}``: ``terms[key]`` are the work counts of
        :data:`COST_WEIGHTS` and ``costs[key]`` their weighted sum (MAC-equivalents). Phase modes
        whose per-row-group intermediates (conv outputs, placed kernels) exceed the memory budget
        are left out; the hidden path always fits.
        """
        s_h, s_w = self._scales(scale)
        k = self.kernel_size
        out_h, out_w = sr_size(h, s_h), sr_size(w, s_w)
        fch, c, hid = self.in_features, self.out_channels, self.hidden
        budget = self._budget(batch, h, w)
        terms: Dict[object, Dict[str, float]] = {}
        mlp = float(min(s_h.numerator, out_h) * min(s_w.numerator, out_w) * hid * (k * k * fch * c + self.n_inputs))
        rows = {m: _layout(h, out_h, s_h.numerator, s_h.denominator, k, m) for m in MODES}
        cols = {m: _layout(w, out_w, s_w.numerator, s_w.denominator, k, m) for m in MODES}
        for (mr, r), (mc, cl) in itertools.product(rows.items(), cols.items()):
            na, nb = (r.a1 - r.a0).astype(np.float64), (cl.a1 - cl.a0).astype(np.float64)  # no int overflow
            conv_out = batch * c * na * r.extent * float((nb * cl.extent).sum())  # per row group
            placed = na * cl.n_phases * c * fch * float(r.window) * float(cl.window)
            if float((conv_out + placed).max()) > budget:
                continue
            r_span, r_fresh = _spans(r)
            c_span, c_fresh = _spans(cl)
            # conv2d copies a non-contiguous input first; a gathered or full-length slice is not copied.
            spans = np.outer(r_span.astype(np.float64), c_span)
            copied = batch * fch * float(spans[~np.outer(r_fresh, c_fresh)].sum())
            terms[(mr, mc)] = {
                "conv_macs": float(conv_out.sum()) * fch * r.window * cl.window,
                "mlp_macs": mlp,
                "row_gather": (batch * fch * float(r_span.sum()) * float(cl.padded_length)
                               if r.stride[0] > r.window else 0.0),
                "col_gather": (batch * fch * float(r_span.sum()) * float(c_span.sum())
                               if cl.stride[0] > cl.window else 0.0),
                "copies": copied,
                "outputs": float(conv_out.sum() + placed.sum()),
                "convs": float(r.a0.size * cl.a0.size),
                "groups": float(r.a0.size),
            }
        hc = (hid + 1) * c
        terms["hidden"] = {
            "conv_macs": float(batch * h * w * hc * k * k * fch),
            "pixels": float(out_h * out_w * (hid + batch * hc)),
            "groups": float(1 + 2 * batch * out_h * out_w * hc // budget),
        }
        costs = {key: sum(COST_WEIGHTS[n] * v for n, v in t.items()) for key, t in terms.items()}
        best = min(costs, key=costs.__getitem__)
        phase_modes = [m for m in costs if m not in PATHS]
        fallback = min(phase_modes, key=costs.__getitem__) if phase_modes else ("strided", "strided")
        return {"path": best if best in PATHS else "phase", "modes": fallback, "costs": costs, "terms": terms}

    def _budget(self, batch: int, h: int, w: int) -> int:
        if self.chunk_elements is not None:
            return max(1, int(self.chunk_elements))
        return max(batch * self.in_features * h * w, 1 << 18)

    # ------------------------------------------------------------------ phase path
    def _raw_kernels(self, rows: _Layout, cols: _Layout, a0: int, a1: int, inv_s: Tuple[float, float],
                     like: torch.Tensor) -> torch.Tensor:
        """Kernels of row phases ``[a0, a1)`` × all column phases: ``(C, na, nb, F, k, k)``."""
        k, c, fch, na, nb = self.kernel_size, self.out_channels, self.in_features, a1 - a0, cols.n_phases
        r_off = torch.as_tensor(rows.offset[a0:a1], dtype=like.dtype, device=like.device)
        c_off = torch.as_tensor(cols.offset[:nb], dtype=like.dtype, device=like.device)
        kern = self.kernels(r_off.repeat_interleave(nb), c_off.repeat(na), inv_s)  # (na·nb, C, F, k, k)
        return kern.reshape(na, nb, c, fch, k, k).permute(2, 0, 1, 3, 4, 5)

    def _phase_forward(self, x: torch.Tensor, rows: _Layout, cols: _Layout, inv_s: Tuple[float, float]
                       ) -> torch.Tensor:
        b, _, h, w = x.shape
        k, c, fch, pad = self.kernel_size, self.out_channels, self.in_features, self.kernel_size // 2
        wr, wc = rows.window, cols.window
        # Zero padding: k//2 for the border neighbourhoods, plus whatever the last wide window needs.
        end_r = max(pad, rows.padded_length - rows.n_lr - pad)
        end_c = max(pad, cols.padded_length - cols.n_lr - pad)
        xp = F.pad(x, (pad, end_c, pad, end_r))
        # Predict (and place) every kernel at once when that fits the memory budget: fewer, larger ops.
        n_kernels, budget = rows.n_phases * cols.n_phases * c * fch, self._budget(b, h, w)
        raw = self._raw_kernels(rows, cols, 0, rows.n_phases, inv_s, x) if n_kernels * k * k <= budget else None
        placed = None
        if raw is not None and n_kernels * wr * wc <= budget:
            placed = _place(_place(raw, 1, 4, rows.shift, wr), 2, 5, cols.shift, wc)
        out = x.new_empty(b, c, rows.n_out, cols.n_out)
        for gr, (out_rows, index) in enumerate(self._phase_index(rows, cols, x.device)):
            ra0, ra1 = int(rows.a0[gr]), int(rows.a1[gr])
            kern = placed[:, ra0:ra1] if placed is not None else None
            if kern is None:
                kern = raw[:, ra0:ra1] if raw is not None else self._raw_kernels(rows, cols, ra0, ra1, inv_s, x)
                kern = _place(_place(kern, 1, 4, rows.shift[ra0:ra1], wr), 2, 5, cols.shift, wc)
            band, rstep = _take(xp, 2, int(rows.start[gr]), int(rows.stride[gr]), int(rows.extent[gr]), wr)
            pieces: List[torch.Tensor] = []
            for gc in range(cols.a0.size):
                ca0, ca1 = int(cols.a0[gc]), int(cols.a1[gc])
                sub, cstep = _take(band, 3, int(cols.start[gc]), int(cols.stride[gc]), int(cols.extent[gc]), wc)
                weight = kern[:, :, ca0:ca1].reshape(-1, fch, wr, wc)  # channel (c, row phase, col phase)
                pieces.append(F.conv2d(sub, weight, stride=(rstep, cstep)).reshape(b, c, -1))
            flat = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=2)
            out.index_copy_(2, out_rows, flat.index_select(2, index).view(b, c, out_rows.numel(), cols.n_out))
        return out

    def _phase_index(self, rows: _Layout, cols: _Layout,
                     device: torch.device) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """Per row group: its refined rows, and the flat position of each of their pixels in the
        concatenated outputs of the group's convolutions (cached: training repeats shapes)."""
        key = (rows.n_lr, rows.n_out, cols.n_lr, cols.n_out, rows.p, rows.q, cols.p, cols.q, rows.window, cols.window,
               rows.a0.size, cols.a0.size, str(device))
        cached = self._index_cache.get(key)
        if cached is not None:
            self._index_cache.move_to_end(key)
            return cached
        nc = cols.a1 - cols.a0
        gc = cols.group
        result = []
        for gr in range(rows.a0.size):
            out_rows = np.flatnonzero(rows.group == gr)
            ext_r = int(rows.extent[gr])
            sizes = (rows.a1[gr] - rows.a0[gr]) * ext_r * nc * cols.extent
            col_base = np.r_[0, np.cumsum(sizes)[:-1]]
            index = (col_base[gc][None, :]
                     + ((rows.member[out_rows][:, None] * nc[gc][None, :] + cols.member[None, :]) * ext_r
                        + rows.pos[out_rows][:, None]) * cols.extent[gc][None, :] + cols.pos[None, :])
            result.append((torch.as_tensor(out_rows, device=device),
                           torch.as_tensor(index.reshape(-1), device=device)))
        self._index_cache[key] = result
        if len(self._index_cache) > 8:
            self._index_cache.popitem(last=False)
        return result

    # ------------------------------------------------------------------ hidden path
    def _hidden_params(self) -> Tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        """First layer (with an extra always-1 unit carrying the second layer's bias) and the
        second layer as conv kernels ``(n_hid·C, F, k, k)``, channel ``h·C + c``."""
        k, fch, c = self.kernel_size, self.in_features, self.out_channels
        first, last = self.weight_net[0], self.weight_net[2]
        w1, b1 = first.weight, first.bias
        w2 = last.weight.view(fch, k, k, c, self.hidden).permute(4, 3, 0, 1, 2).reshape(self.hidden * c, fch, k, k)
        if last.bias is not None:
            # relu(0·pos + 1) = 1: the bias becomes one more hidden unit, no separate pass.
            w1 = torch.cat([w1, w1.new_zeros(1, self.n_inputs)])
            b1 = torch.cat([b1 if b1 is not None else w1.new_zeros(self.hidden), w1.new_ones(1)])
            w2 = torch.cat([w2, last.bias.view(fch, k, k, c).permute(3, 0, 1, 2)])
        return w1, b1, w2

    def _hidden_forward(self, x: torch.Tensor, rows: _Layout, cols: _Layout, inv_s: Tuple[float, float]
                        ) -> torch.Tensor:
        b, fch, h, w = x.shape
        c, pad = self.out_channels, self.kernel_size // 2
        dev, dt = x.device, x.dtype
        w1, b1, w2 = self._hidden_params()
        n_hid, bc, n_cols = w1.shape[0], b * c, cols.n_out
        budget = self._budget(b, h, w)
        band_rows = max(1, budget // (n_hid * bc * w))
        chunk_rows = max(1, budget // (2 * n_hid * max(bc, 2) * n_cols))
        col_lr = torch.as_tensor(cols.lr_index, device=dev)
        # The first layer is affine in (R_i, R_j, 1/s_i[, 1/s_j]): split it into a row term and a
        # column term so that each refined pixel's hidden vector is one broadcast add + ReLU.
        col_term = torch.as_tensor(cols.offset, dtype=dt, device=dev)[:, None] * w1[:, 1]  # (W, n_hid)
        scale_term = sum(w1[:, 2 + i] * v for i, v in enumerate(self._scale_inputs(inv_s)))
        row_bias = scale_term + (b1 if b1 is not None else 0)
        pieces: List[torch.Tensor] = []
        for r0 in range(0, h, band_rows):
            r1 = min(h, r0 + band_rows)
            i0, i1 = (int(v) for v in np.searchsorted(rows.lr_index, [r0, r1]))  # rows with r_i in [r0, r1)
            if i1 == i0:
                continue
            lo, hi = max(0, r0 - pad), min(h, r1 + pad)
            band = F.pad(x[:, :, lo:hi], (pad, pad, pad - (r0 - lo), pad - (hi - r1)))
            # One row per LR pixel holding its n_hid·B·C projections: gathering is a row copy.
            proj = F.conv2d(band, w2).view(b, n_hid, c, r1 - r0, w).permute(3, 4, 1, 0, 2)
            table = proj.reshape((r1 - r0) * w, n_hid * bc)
            for ia in range(i0, i1, chunk_rows):
                ib = min(i1, ia + chunk_rows)
                n = ib - ia
                rr = torch.as_tensor(rows.lr_index[ia:ib] - r0, device=dev)
                g = F.embedding((rr[:, None] * w + col_lr[None, :]).reshape(-1), table).view(n * n_cols, n_hid, bc)
                r_off = torch.as_tensor(rows.offset[ia:ib], dtype=dt, device=dev)
                row_term = r_off[:, None] * w1[:, 0] + row_bias  # (n, n_hid)
                hid = (row_term[:, None, :] + col_term[None, :, :]).relu_().view(n * n_cols, n_hid)
                if bc == 1:
                    y = torch.linalg.vecdot(hid, g.view(n * n_cols, n_hid)).unsqueeze(1)
                else:
                    y = torch.bmm(hid.unsqueeze(1), g).squeeze(1)  # (n·W, B·C)
                pieces.append(y.view(n, n_cols, b, c))
        return torch.cat(pieces, dim=0).permute(2, 3, 0, 1).contiguous()


__all__ = ["MetaUpscale", "MODES", "PATHS", "COST_WEIGHTS"]
