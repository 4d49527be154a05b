"""Scale factors as exact fractions, and the one pixel-alignment convention of AutoSR.

Convention (centre alignment, the same as ``align_corners=False`` in PyTorch): a slice of
``n`` low-resolution (LR) pixels and its refined version of ``sr_size(n, s)`` pixels cover the
same field of view, starting at the same edge. LR pixel ``k`` has its centre at LR coordinate
``k``; high-resolution (HR) pixel ``i`` has its centre at LR coordinate ``(i + 0.5) / s - 0.5``.
The geometry written by the predictor (``origin' = origin + D·(spacing' - spacing)/2``), the
LR synthesis in :mod:`autosr.degradation` and the Meta-Upscale position mapping all use it.

Every function here works on ``fractions.Fraction`` so that phases are integer arithmetic:
float flooring assigns wrong Meta-Upscale kernels at scales such as 2.3, 2.7 and 3.7.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Tuple, Union

import numpy as np

ScaleLike = Union[float, int, str, Fraction]

#: Largest denominator used to read a float scale as a fraction. ``2.3`` becomes ``23/10``;
#: a float that is not a short fraction (``math.pi``) is kept to within 1e-12 and simply has a
#: long period, which the Meta-Upscale handles exactly with a bounded-memory path.
MAX_DENOMINATOR = 1_000_000


def as_fraction(scale: ScaleLike) -> Fraction:
    """Return ``scale`` as an exact fraction ``p/q`` in lowest terms.

    Strings are parsed exactly (``"2.3"`` -> 23/10); floats are read as the nearest fraction
    with a denominator <= ``MAX_DENOMINATOR``.
    """
    if isinstance(scale, Fraction):
        return scale
    if isinstance(scale, str):
        return Fraction(scale.strip())
    if isinstance(scale, (int, np.integer)):
        return Fraction(int(scale))
    value = float(scale)
    if not np.isfinite(value):
        raise ValueError(f"scale must be a finite number, got {scale!r}")
    return Fraction(value).limit_denominator(MAX_DENOMINATOR)


def check_scale(scale: ScaleLike, s_max: float | None = None) -> Fraction:
    """Validate a super-resolution scale (> 1, and <= ``s_max`` when given); return it as a fraction."""
    try:
        frac = as_fraction(scale)
    except (ValueError, ZeroDivisionError, TypeError) as exc:
        raise ValueError(f"scale {scale!r} is not a number: give a real number such as 2 or 2.5") from exc
    if frac <= 1:
        raise ValueError(f"scale {scale!r} must be greater than 1 (AutoSR refines the grid, s in (1, s_max])")
    if s_max is not None and frac > as_fraction(s_max):
        raise ValueError(f"scale {scale!r} is above the largest scale {s_max} this model was planned for")
    return frac


def sr_size(n: int, scale: ScaleLike) -> int:
    """Number of refined pixels for ``n`` LR pixels: ``floor(n * s)``, exactly."""
    f = as_fraction(scale)
    return (int(n) * f.numerator) // f.denominator


def lr_size(n: int, scale: ScaleLike) -> int:
    """Number of LR pixels synthesised from ``n`` HR pixels: ``floor(n / s)``, exactly (eq. 20)."""
    f = as_fraction(scale)
    return (int(n) * f.denominator) // f.numerator


def patch_sizes(hr_patch: int, scale: ScaleLike) -> Tuple[int, int]:
    """MIASSR eq. 20: LR patch ``floor(P/s)`` and the matching HR patch ``floor(s * floor(P/s))``."""
    h_lr = lr_size(hr_patch, scale)
    return h_lr, sr_size(h_lr, scale)


def phases(n_out: int, scale: ScaleLike) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LR pixel, phase index and offset of each of ``n_out`` refined pixels along one axis.

    With ``s = p/q``, refined pixel ``i`` has its centre at LR coordinate ``(i+0.5)/s - 0.5``;
    it lies in LR pixel ``r_i = floor((2i+1) q / (2p))`` at offset
    ``R_i = ((2i+1) q mod 2p) / (2p)`` in ``[0, 1)`` (the MIASSR eq. 9 input, centre-aligned).
    ``phase_i = i mod p`` indexes the distinct offsets: refined pixels ``p`` apart share an offset
    and are ``q`` LR pixels apart.

    Returns ``(lr_index int64, phase int64, offset float64)``, each of shape ``(n_out,)``.
    """
    f = as_fraction(scale)
    p, q = f.numerator, f.denominator
    # int64 is exact here: (2 n_out + 1) q stays far below 2**63 for q <= MAX_DENOMINATOR.
    i = np.arange(n_out, dtype=np.int64)
    num = (2 * i + 1) * q
    lr_index = num // (2 * p)
    offset = (num % (2 * p)).astype(np.float64) / (2 * p)
    return lr_index, i % p, offset
