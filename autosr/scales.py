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

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence, Tuple, Union

import numpy as np

ScaleLike = Union[float, int, str, Fraction]
#: One scale for both in-plane axes, or a pair ``(s_h, s_w)`` (rows, columns of a slice).
AxisScales = Union[ScaleLike, Sequence[ScaleLike]]

#: Largest denominator used to read a float scale as a fraction. ``2.3`` becomes ``23/10``;
#: a float that is not a short fraction (``math.pi``) is kept to within 1e-12 and simply has a
#: long period, which the Meta-Upscale handles exactly with a bounded-memory path.
MAX_DENOMINATOR = 1_000_000


#: Largest scale a string or float may give (refined sizes must stay countable; the model's
#: ``s_max`` is far below it).
MAX_SCALE = 1_000_000


def _value(text: str) -> float:
    """The float value of ``"2.5"`` or ``"5/2"`` (``ValueError`` when it is neither)."""
    num, sep, den = text.partition("/")
    return float(num) / float(den) if sep else float(num)


def as_fraction(scale: ScaleLike) -> Fraction:
    """Return ``scale`` as an exact fraction ``p/q`` in lowest terms (``q <= MAX_DENOMINATOR``).

    Strings (``"2.3"``, ``"23/10"``) are parsed exactly when that fits, otherwise like floats:
    read as the nearest fraction with a denominator <= ``MAX_DENOMINATOR``. Non-finite values
    and magnitudes above ``MAX_SCALE`` raise ``ValueError`` (``"1e309"``, ``"inf"``, ``"nan"``).
    """
    if isinstance(scale, Fraction):
        return scale
    if isinstance(scale, (int, np.integer)):
        return Fraction(int(scale))
    text = scale.strip() if isinstance(scale, str) else None
    try:
        value = _value(text) if text is not None else float(scale)  # cheap even for "1e-999999999"
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise ValueError("not a number") from None
    if not np.isfinite(value):
        raise ValueError("not a finite number")
    if abs(value) > MAX_SCALE:
        raise ValueError(f"above {MAX_SCALE}")
    if text is not None and len(text) <= 32 and abs(value) >= 1 / MAX_SCALE:
        exact = Fraction(text)  # short and of moderate size: exact and fast
        if exact.denominator <= MAX_DENOMINATOR:
            return exact
    return Fraction(value).limit_denominator(MAX_DENOMINATOR)


def check_scale(scale: ScaleLike) -> Fraction:
    """A super-resolution scale: a real number > 1 (``ValueError`` saying what is wrong otherwise)."""
    shown = repr(scale) if len(repr(scale)) <= 40 else repr(scale)[:37] + "..."
    try:
        frac = as_fraction(scale)
    except ValueError as exc:
        raise ValueError(f"scale {shown} is {exc}; give a real number such as 2 or 2.5") from None
    if frac <= 1:
        raise ValueError(f"scale {shown} must be greater than 1: AutoSR refines the grid, s in (1, s_max]")
    return frac


def axis_scales(scale: AxisScales) -> Tuple[Fraction, Fraction]:
    """``(s_h, s_w)`` as exact fractions from one scale or a pair (``ValueError`` if any is < 1)."""
    pair = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
    if len(pair) != 2:
        raise ValueError(f"give one scale or two (s_h, s_w), not {len(pair)}")
    fracs = (as_fraction(pair[0]), as_fraction(pair[1]))
    if min(fracs) < 1:
        raise ValueError(f"scales {tuple(float(f) for f in fracs)} must each be >= 1")
    return fracs


@dataclass(frozen=True)
class VolumeScale:
    """One exact factor per array axis of a scan (numpy order: ``(z, y, x)`` or ``(y, x)``).

    The one scale type of prediction: ``autosr_predict -s`` and ``--target_spacing`` become one
    per scan, and every later step reads its factors. Users give factors in x y z order (ITK,
    NIfTI i j k): :meth:`from_xyz`, :attr:`xyz`. A factor of 1 keeps an axis.
    """

    factors: Tuple[Fraction, ...]

    def __post_init__(self) -> None:
        fracs = tuple(as_fraction(f) for f in self.factors)
        if len(fracs) not in (2, 3):
            raise ValueError(f"a scan has 2 or 3 axes, not {len(fracs)} factors")
        if min(fracs) < 1:
            raise ValueError(f"factors {' '.join(str(f) for f in fracs)} must each be >= 1 (AutoSR refines)")
        object.__setattr__(self, "factors", fracs)

    @classmethod
    def from_xyz(cls, values: Sequence[ScaleLike]) -> "VolumeScale":
        """Factors given in x y z order (the order of ``-s SX SY SZ``)."""
        return cls(tuple(as_fraction(v) for v in reversed(tuple(values))))

    @classmethod
    def in_plane(cls, scale: ScaleLike, ndim: int, slicing_axis: Optional[int]) -> "VolumeScale":
        """``scale`` on both in-plane axes (all but ``slicing_axis``; 2D: both), 1 on the slicing axis."""
        f = as_fraction(scale)
        return cls(tuple(Fraction(1) if ndim == 3 and k == slicing_axis else f for k in range(ndim)))

    @property
    def ndim(self) -> int:
        return len(self.factors)

    @property
    def xyz(self) -> Tuple[Fraction, ...]:
        return tuple(reversed(self.factors))

    @property
    def refined_axes(self) -> Tuple[int, ...]:
        """Array axes whose factor is above 1."""
        return tuple(k for k, f in enumerate(self.factors) if f > 1)

    def pair(self, slicing_axis: Optional[int]) -> "Fraction | Tuple[Fraction, Fraction]":
        """The factors of the slices normal to ``slicing_axis`` (rows, columns): one fraction when equal
        (a model of the paper's single ``1/s`` can run it), else the pair."""
        rows, cols = [f for k, f in enumerate(self.factors) if self.ndim == 2 or k != slicing_axis][-2:]
        return rows if rows == cols else (rows, cols)

    def shape(self, shape: Sequence[int]) -> Tuple[int, ...]:
        """The refined array shape: ``floor(n·f)`` per axis."""
        return tuple(sr_size(n, f) for n, f in zip(shape, self.factors))

    def __str__(self) -> str:
        """x y z order, as ``-s`` takes it (``"1 1 11/2"``)."""
        return " ".join(str(f) for f in self.xyz)


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
