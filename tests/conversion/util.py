"""Helpers shared by the conversion tests."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

from autosr.imageio import Geometry, read_image, write_image
from tests.synthetic import LPS, phantom


def snapshot(root: Path) -> Dict[str, Tuple[str, int]]:
    """Content hash and modification time of every file under ``root`` (to prove it is left untouched)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_scan(path: Path, shape: Sequence[int] = (4, 12, 14), seed: int = 0, direction=LPS,
               spacing=(0.9, 0.9, 3.0), origin=(5.0, -7.0, 2.0), dtype=None, modality: str = "MR") -> Path:
    arr = phantom(shape, seed=seed, modality=modality)
    if dtype is not None:
        arr = arr.astype(dtype)
    write_image(arr, Geometry(tuple(spacing), tuple(origin), tuple(direction)), path)
    return path


def assert_same_image(a: Path, b: Path) -> None:
    """Array, dtype and geometry of ``b`` equal those of ``a``."""
    x, g = read_image(a)
    y, h = read_image(b)
    assert x.dtype == y.dtype
    np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(h.spacing, g.spacing, rtol=1e-6)
    np.testing.assert_allclose(h.origin, g.origin, atol=1e-4)
    np.testing.assert_allclose(h.direction, g.direction, atol=1e-6)


def no_leftovers(raw: Path) -> bool:
    """Nothing hidden (temporary folders) and no dataset in ``raw``."""
    return not raw.exists() or not any(raw.iterdir())
