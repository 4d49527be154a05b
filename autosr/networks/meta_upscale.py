"""Meta-Upscale (MIASSR section 3.2, eqs. 8–11; Meta-SR), exact and memory-bounded.

Refined pixel ``(i, j)`` of the output is a ``k×k×F → C`` kernel applied to the zero-padded
``k×k`` feature neighbourhood centred at LR pixel ``(r_i, r_j)``; the kernel is predicted by a
two-layer MLP from ``(R_i, R_j, 1/s)``. ``r`` and ``R`` follow AutoSR's centre convention
(:func:`autosr.scales.phases`): ``u_i = (i + ½)/s`` in LR pixel-edge units, ``r_i = ⌊u_i⌋``,
``R_i = u_i − r_i``, all integer arithmetic on ``s = p/q``.

Reference implementations predict one kernel per *output* pixel and repeat the feature map
``⌈s⌉²`` times. Here nothing scales like ``H·W·k²·F``:

* ``"phase"`` path (short fractions): with ``s = p/q`` the offsets repeat with period ``p``, so
  there are at most ``p_i·p_j`` distinct kernels, each predicted once. Refined rows of
  row-phase ``a`` sit at LR rows ``base_a + q·m``: one strided convolution (stride ``(q, 1)``)
  whose output channels are the ``p_j`` column-phase kernels computes all of them at every LR
  column, then each refined column picks its phase's channels at its LR column ``r_j``.
  Cost ≈ ``s·p_j·k²·F·C`` MACs per LR pixel.
* ``"hidden"`` path (long periods, e.g. ``s = π``): the kernel is linear in the MLP's hidden
  vector, ``K(i,j) = W₂·h(i,j) + b₂``, so ``Σ K(i,j)·N(r_i,r_j) = Σ_h h_h(i,j)·P_h(r_i,r_j)``
  with ``P = conv(F_lr, W₂ reshaped as hidden·C k×k kernels)`` evaluated once per *LR* pixel.
  The output is then a hidden-size dot product per refined pixel, computed over bounded bands of
  rows (peak extra memory ≈ ``chunk_elements``). Exact up to float summation order.

A cost model (MACs plus a per-call overhead) chooses the path; ``forward(..., path=...)`` forces
one (the tests check all of them against a per-pixel implementation).

MLP output layout follows Meta-SR: index ``((f·k + ki)·k + kj)·C + c``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autosr.registry import NETWORKS
from autosr.scales import ScaleLike, as_fraction, phases, sr_size

#: Rough cost of one extra operator call (conv2d, index_select, …) in MAC-equivalents on CPU.
CALL_OVERHEAD_MACS = 2e6


@dataclass(frozen=True)
class _Axis:
    """Phase bookkeeping for one axis: ``n_out`` refined pixels at scale ``p/q``."""

    n_out: int
    p: int
    q: int
    lr_index: np.ndarray  # r_i, (n_out,)
    offset: np.ndarray  # R_i, (n_out,)

    @property
    def n_phases(self) -> int:  # distinct offsets actually present
        return min(self.p, self.n_out)

    def count(self, a: int) -> int:
        """Number of refined pixels of phase ``a`` (``i ≡ a mod p``)."""
        return (self.n_out - a + self.p - 1) // self.p


def _axis(n_out: int, p: int, q: int) -> _Axis:
    lr_index, _, offset = phases(n_out, as_fraction(f"{p}/{q}"))
    return _Axis(n_out, p, q, lr_index, offset)


@NETWORKS.register()
class MetaUpscale(nn.Module):
    """Arbitrary-scale upsampler ``(B, in_features, h, w), s → (B, out_channels, ⌊h·s⌋, ⌊w·s⌋)``.

    Args:
        in_features: feature maps ``F`` of the input.
        out_channels: output channels ``C``.
        hidden: hidden units of the weight-prediction MLP (paper: 256).
        kernel_size: odd neighbourhood size ``k`` (paper: 3).
        bias: biases in the MLP's two linear layers (``False`` for the MESR variant).
        chunk_elements: memory budget (tensor elements) of one chunk of the ``"hidden"`` path;
            ``None`` = the size of the input feature map (at least 2**18).
    """

    def __init__(self, in_features: int = 64, out_channels: int = 1, hidden: int = 256, kernel_size: int = 3,
                 bias: bool = True, chunk_elements: Optional[int] = None) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.in_features = in_features
        self.out_channels = out_channels
        self.hidden = hidden
        self.kernel_size = kernel_size
        self.chunk_elements = chunk_elements
        self.weight_net = nn.Sequential(
            nn.Linear(3, hidden, bias=bias),
            nn.ReLU(),
            nn.Linear(hidden, kernel_size * kernel_size * in_features * out_channels, bias=bias),
        )

    # ------------------------------------------------------------------ kernels
    def kernels(self, row_offsets: torch.Tensor, col_offsets: torch.Tensor, inv_scale: float) -> torch.Tensor:
        """Kernels for offset pairs ``(R_i, R_j)`` given as two ``(n,)`` tensors → ``(n, C, F, k, k)``."""
        pos = torch.stack([row_offsets, col_offsets, torch.full_like(row_offsets, inv_scale)], dim=1)
        k, fch, c = self.kernel_size, self.in_features, self.out_channels
        w = self.weight_net(pos).view(-1, fch, k, k, c)
        return w.permute(0, 4, 1, 2, 3)

    # ------------------------------------------------------------------ forward
    def forward(self, features: torch.Tensor, scale: ScaleLike, path: str = "auto") -> torch.Tensor:
        """Upscale ``features`` ``(B, F, h, w)`` by ``scale`` → ``(B, C, ⌊h·s⌋, ⌊w·s⌋)``.

        ``path``: ``"auto"`` (cost model), ``"phase"`` or ``"hidden"``; all give the same result.
        """
        if features.dim() != 4 or features.shape[1] != self.in_features:
            raise ValueError(f"expected features (B, {self.in_features}, h, w), got {tuple(features.shape)}")
        frac = as_fraction(scale)
        if frac <= 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        h, w = features.shape[-2:]
        out_h, out_w = sr_size(h, frac), sr_size(w, frac)
        if out_h < 1 or out_w < 1:
            raise ValueError(f"a {h}×{w} input gives an empty output at scale {float(frac)}")
        p, q = frac.numerator, frac.denominator
        rows, cols = _axis(out_h, p, q), _axis(out_w, p, q)
        if path == "auto":
            path = self.choose_path(features.shape[0], h, w, rows, cols)
        if path == "phase":
            return self._phase_forward(features, rows, cols, 1.0 / float(frac))
        if path == "hidden":
            return self._hidden_forward(features, rows, cols, 1.0 / float(frac))
        raise ValueError(f"unknown path {path!r}; use 'auto', 'phase' or 'hidden'")

    def estimated_cost(self, batch: int, h: int, w: int, scale: ScaleLike) -> dict:
        """MAC-equivalent cost of each path for a ``(batch, F, h, w)`` input (for diagnostics)."""
        frac = as_fraction(scale)
        p, q = frac.numerator, frac.denominator
        rows, cols = _axis(sr_size(h, frac), p, q), _axis(sr_size(w, frac), p, q)
        return {"phase": self._phase_cost(batch, w, rows, cols), "hidden": self._hidden_cost(batch, h, w, rows, cols)}

    def choose_path(self, batch: int, h: int, w: int, rows: _Axis, cols: _Axis) -> str:
        """Cheapest exact path under the MAC + call-overhead cost model."""
        phase, hidden = self._phase_cost(batch, w, rows, cols), self._hidden_cost(batch, h, w, rows, cols)
        return "phase" if phase <= hidden else "hidden"

    def _phase_cost(self, batch: int, w: int, rows: _Axis, cols: _Axis) -> float:
        kfc = self.kernel_size ** 2 * self.in_features * self.out_channels
        conv = batch * rows.n_out * w * cols.n_phases * kfc
        mlp = rows.n_phases * cols.n_phases * self.hidden * (kfc + 3)
        return float(conv + mlp + 3 * rows.n_phases * CALL_OVERHEAD_MACS)

    def _hidden_cost(self, batch: int, h: int, w: int, rows: _Axis, cols: _Axis) -> float:
        hc = (self.hidden + 1) * self.out_channels
        conv = batch * h * w * hc * self.kernel_size ** 2 * self.in_features
        per_out = rows.n_out * cols.n_out * (3 * self.hidden + 3 * batch * hc)
        n_chunks = max(1, rows.n_out * cols.n_out * batch * hc // self._budget(batch, h, w))
        return float(conv + per_out + 6 * n_chunks * CALL_OVERHEAD_MACS)

    def _budget(self, batch: int, h: int, w: int) -> int:
        if self.chunk_elements is not None:
            return max(1, int(self.chunk_elements))
        return max(batch * self.in_features * h * w, 1 << 18)

    # ------------------------------------------------------------------ phase path
    def _phase_forward(self, x: torch.Tensor, rows: _Axis, cols: _Axis, inv_s: float) -> torch.Tensor:
        b, _, h, w = x.shape
        k, c, pad = self.kernel_size, self.out_channels, self.kernel_size // 2
        pj = cols.n_phases
        dev, dt = x.device, x.dtype
        col_off = torch.as_tensor(cols.offset[:pj], dtype=dt, device=dev)
        # Position of refined column j inside one row-phase conv output viewed as (C, pj, M, w):
        # channel block b_j = j mod p, LR column r_j.
        col_phase = torch.as_tensor(np.arange(cols.n_out) % cols.p, device=dev)
        col_lr = torch.as_tensor(cols.lr_index, device=dev)
        xp = F.pad(x, (0, 0, pad, pad))  # rows only; columns are padded by conv2d itself
        out = x.new_empty(b, c, rows.n_out, cols.n_out)
        for a in range(rows.n_phases):
            m_count = rows.count(a)
            base = int(rows.lr_index[a])
            kern = self.kernels(torch.full_like(col_off, float(rows.offset[a])), col_off, inv_s)  # (pj, C, F, k, k)
            weight = kern.transpose(0, 1).reshape(c * pj, self.in_features, k, k)
            band = xp[:, :, base: base + rows.q * (m_count - 1) + k]
            y = F.conv2d(band, weight, stride=(rows.q, 1), padding=(0, pad))  # (B, C*pj, M, w)
            index = (col_phase * (m_count * w) + col_lr).unsqueeze(0) + (torch.arange(m_count, device=dev) * w).unsqueeze(1)
            picked = y.reshape(b, c, pj * m_count * w).index_select(2, index.reshape(-1))
            out[:, :, a::rows.p] = picked.view(b, c, m_count, cols.n_out)
        return out

    # ------------------------------------------------------------------ hidden path
    def _hidden_weights(self) -> torch.Tensor:
        """Second MLP layer as conv kernels ``((hidden [+1])·C, F, k, k)``; channel ``h·C + c``.

        The bias of that layer becomes one extra hidden unit whose activation is always 1.
        """
        k, fch, c = self.kernel_size, self.in_features, self.out_channels
        lin = self.weight_net[2]
        wt = lin.weight.view(fch, k, k, c, self.hidden).permute(4, 3, 0, 1, 2).reshape(self.hidden * c, fch, k, k)
        if lin.bias is not None:
            wt = torch.cat([wt, lin.bias.view(fch, k, k, c).permute(3, 0, 1, 2)], dim=0)
        return wt

    def _hidden_forward(self, x: torch.Tensor, rows: _Axis, cols: _Axis, inv_s: float) -> torch.Tensor:
        b, fch, h, w = x.shape
        k, c, pad = self.kernel_size, self.out_channels, self.kernel_size // 2
        dev, dt = x.device, x.dtype
        wt = self._hidden_weights()
        n_hid = wt.shape[0] // c
        has_one = self.weight_net[2].bias is not None
        budget = self._budget(b, h, w)
        band_rows = max(1, budget // (b * n_hid * c * w))
        chunk_rows = max(1, budget // (b * n_hid * c * cols.n_out))
        col_lr = torch.as_tensor(cols.lr_index, device=dev)
        col_off = torch.as_tensor(cols.offset, dtype=dt, device=dev)
        row_lr = rows.lr_index
        out = x.new_empty(b, c, rows.n_out, cols.n_out)
        first = self.weight_net[0]
        r0 = 0
        while r0 < h:
            r1 = min(h, r0 + band_rows)
            i0, i1 = np.searchsorted(row_lr, [r0, r1])  # refined rows whose LR row is in [r0, r1)
            if i1 > i0:
                lo, hi = max(0, r0 - pad), min(h, r1 + pad)
                band = F.pad(x[:, :, lo:hi], (0, 0, pad - (r0 - lo), pad - (hi - r1)))
                proj = F.conv2d(band, wt, padding=(0, pad)).view(b, n_hid, c, r1 - r0, w)
                for ia in range(int(i0), int(i1), chunk_rows):
                    ib = min(int(i1), ia + chunk_rows)
                    n = ib - ia
                    rr = torch.as_tensor(row_lr[ia:ib] - r0, device=dev)
                    g = proj.index_select(3, rr).index_select(4, col_lr)  # (B, n_hid, C, n, W)
                    r_off = torch.as_tensor(rows.offset[ia:ib], dtype=dt, device=dev)
                    pos = torch.stack(_grid(r_off, col_off, inv_s), dim=-1)  # (n, W, 3)
                    hid = torch.relu(first(pos))  # (n, W, hidden)
                    if has_one:
                        hid = torch.cat([hid, hid.new_ones(n, cols.n_out, 1)], dim=-1)
                    out[:, :, ia:ib] = torch.einsum("bhcij,ijh->bcij", g, hid)
            r0 = r1
        return out


def _grid(r_off: torch.Tensor, c_off: torch.Tensor, inv_s: float) -> tuple:
    """``(n, W)`` grids of row offset, column offset and ``1/s``."""
    n, m = r_off.numel(), c_off.numel()
    return (r_off.view(n, 1).expand(n, m), c_off.view(1, m).expand(n, m), r_off.new_full((n, m), inv_s))


__all__ = ["MetaUpscale", "CALL_OVERHEAD_MACS"]
