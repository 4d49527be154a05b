"""Which slices of a scan are worth learning from and scoring on: one rule for training, validation
and evaluation.

A slice has content when at least :data:`MIN_CONTENT` of its pixels are non-zero (normalised
background is 0). Nearly empty slices at the ends of a scan hold a few faint pixels: a method
scores 50–75 dB there, and a haze of 0.001 moves that by 15 dB, so such slices would dominate a
mean over slices while telling nothing about super-resolution. MIASSR crops the background for
the same reason: it "has little information content".
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

#: Smallest share of non-zero pixels for a slice to count as content.
MIN_CONTENT = 0.1


def has_content(slice_: np.ndarray, min_content: float = MIN_CONTENT) -> bool:
    """Whether at least ``min_content`` of the pixels of ``slice_`` (any shape) are non-zero."""
    return float(np.mean(np.asarray(slice_) > 0)) >= min_content


def evenly_spaced(slices: Sequence[int], n: int) -> List[int]:
    """``n`` evenly spaced items of ``slices`` (all of them when ``n`` is 0 or not smaller)."""
    if n <= 0 or len(slices) <= n:
        return list(slices)
    return [slices[i] for i in np.linspace(0, len(slices) - 1, n).round().astype(int)]


def select_slices(volume: np.ndarray, max_slices: int = 0, min_content: float = MIN_CONTENT) -> List[int]:
    """Up to ``max_slices`` (0: all) evenly spaced slices (axis 1 of ``(C, S, H, W)``) with content;
    if none has content, the slices that are not constant."""
    keep = [z for z in range(volume.shape[1]) if has_content(volume[:, z], min_content)]
    if not keep:
        keep = [z for z in range(volume.shape[1]) if float(np.ptp(np.asarray(volume[:, z]))) > 0]
    return evenly_spaced(keep, max_slices)


__all__ = ["MIN_CONTENT", "has_content", "evenly_spaced", "select_slices"]
