"""MR acquisition of a smaller matrix: keep the central k-space, optionally apodised, magnitude image.

A scanner with matrix ``M = floor(N/s)`` over the same field of view samples only the ``M``
lowest spatial frequencies ``m ∈ [−floor(M/2), ceil(M/2) − 1]`` (cycles per field of view) of
the HR image's DFT ``X``. The LR image is that band-limited signal, weighted by the scanner's
apodisation window ``w``, at the LR voxel centres ``x_k = (k + 0.5)·s − 0.5`` (HR coordinates):

    I_lr[k] = |(1/N) Σ_m w(m) X[m] exp(2πi·m·x_k / N)|

evaluated separably (exact for any real ``s``, one matrix product per axis). Truncation rings
(Gibbs) at edges; windows trade ringing for blur. At ``s = 1`` with no window it is the identity.
A training patch is acquired as part of its whole slice (``region``): the patch alone, taken as a
periodic field of view, would ring at its cut edges, which no scan does.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Optional, Tuple

import torch

from autosr.degradation.grid import AxisScales, axis_scales, lr_centres, lr_shape
from autosr.plans import APODISATION_WINDOWS

WINDOWS = APODISATION_WINDOWS


def kept_frequencies(n_lr: int) -> torch.Tensor:
    """The central frequencies ``−floor(M/2) … ceil(M/2) − 1`` an ``M = n_lr`` matrix samples (float64)."""
    return torch.arange(-(n_lr // 2), n_lr - n_lr // 2, dtype=torch.float64)


@functools.lru_cache(maxsize=256)  # training and evaluation ask for the same few (size, scale) matrices
def _evaluation_matrix(n_hr: int, n_kept: int, scale: Fraction, n_lr: int) -> torch.Tensor:
    """``(n_lr, M)`` complex128: ``exp(2πi·m·x_k / N) / N`` for LR centres ``x_k = (k + ½)·s − ½``
    and the ``M = n_kept`` kept frequencies ``m`` of an ``N = n_hr`` field."""
    x = torch.from_numpy(lr_centres(n_lr, scale))
    return torch.exp(2j * math.pi * x[:, None] * kept_frequencies(n_kept)[None, :] / n_hr) / n_hr


def _shifted(matrix: torch.Tensor, n_hr: int, start: int) -> torch.Tensor:
    """:func:`_evaluation_matrix` for LR centres moved by ``start`` HR pixels: each frequency's phase turns."""
    if start == 0:
        return matrix
    m = kept_frequencies(matrix.shape[1])
    return matrix * torch.exp(2j * math.pi * start * m / n_hr)[None, :]


def apodisation(n_h: int, n_w: int, window: str = "none", fermi_radius: float = 0.9,
                fermi_width: float = 0.05) -> torch.Tensor:
    """Window ``(M_h, M_w)`` float64 over the kept frequencies, in units ``u = m / (M/2)`` per axis (|u| ≤ 1).

    ``hann``: ``0.5 + 0.5·cos(πu)`` per axis; ``hamming``: ``0.54 + 0.46·cos(πu)`` per axis (products);
    ``fermi``: radial ``1 / (1 + exp((|u| − radius) / width))`` with ``|u| = sqrt(u_h² + u_w²)``.
    """
    if window not in WINDOWS:
        raise ValueError(f"window {window!r} is not one of {', '.join(WINDOWS)}")
    u_h = kept_frequencies(n_h) / max(n_h / 2, 1.0)
    u_w = kept_frequencies(n_w) / max(n_w / 2, 1.0)
    if window == "none":
        return torch.ones(n_h, n_w, dtype=torch.float64)
    if window == "fermi":
        radius = torch.sqrt(u_h[:, None] ** 2 + u_w[None, :] ** 2)
        return torch.sigmoid((fermi_radius - radius) / fermi_width)
    a = 0.5 if window == "hann" else 0.54
    return torch.outer(a + (1 - a) * torch.cos(math.pi * u_h), a + (1 - a) * torch.cos(math.pi * u_w))


def _central_spectrum(hr: torch.Tensor, shape: Tuple[int, int]) -> torch.Tensor:
    """The HR DFT at the kept frequencies of an LR matrix ``shape``: ``(B, C, M_h, M_w)`` complex128."""
    spec = torch.fft.fft2(hr.to(torch.float64))
    n_h, n_w = hr.shape[-2:]
    rows = kept_frequencies(shape[0]).long() % n_h
    cols = kept_frequencies(shape[1]).long() % n_w
    return spec.index_select(-2, rows.to(hr.device)).index_select(-1, cols.to(hr.device))


def kspace_truncate(hr: torch.Tensor, scale: AxisScales, window: str = "none", fermi_radius: float = 0.9,
                    fermi_width: float = 0.05, magnitude: bool = True,
                    region: Optional[Tuple[int, int, int, int]] = None) -> torch.Tensor:
    """Central-k-space LR image of ``hr`` ``(B, C, H, W)``: ``(B, C, floor(H/s_h), floor(W/s_w))``.

    ``window``: ``none``, ``hann``, ``hamming`` or ``fermi`` (see :func:`apodisation`). Returns the
    magnitude (``hr.dtype``) or, with ``magnitude=False``, the complex image (so noise can be added
    to its real and imaginary parts before the magnitude, :func:`autosr.degradation.rician_noise`).
    ``region`` ``(y0, x0, h, w)``: only the ``floor(h/s_h) × floor(w/s_w)`` LR pixels of the HR
    window starting at ``(y0, x0)`` (inside ``hr``), the field of view staying the whole of ``hr``.
    """
    s_h, s_w = axis_scales(scale)
    m_h, m_w = lr_shape(hr.shape, (s_h, s_w))
    y0, x0, rh, rw = region if region is not None else (0, 0, hr.shape[-2], hr.shape[-1])
    if not (0 <= y0 and y0 + rh <= hr.shape[-2] and 0 <= x0 and x0 + rw <= hr.shape[-1]):
        raise ValueError(f"region {region} leaves the {tuple(hr.shape[-2:])} field of view")
    h, w = lr_shape((rh, rw), (s_h, s_w))
    spec = _central_spectrum(hr, (m_h, m_w)) * apodisation(m_h, m_w, window, fermi_radius, fermi_width).to(hr.device)
    e_h = _shifted(_evaluation_matrix(hr.shape[-2], m_h, s_h, h), hr.shape[-2], y0).to(hr.device)
    e_w = _shifted(_evaluation_matrix(hr.shape[-1], m_w, s_w, w), hr.shape[-1], x0).to(hr.device)
    lr = torch.einsum("hH,bcHW,wW->bchw", e_h, spec, e_w)
    return lr.abs().to(hr.dtype) if magnitude else lr.to(hr.dtype.to_complex())


__all__ = ["WINDOWS", "kept_frequencies", "apodisation", "kspace_truncate"]
