"""The synthetic head-like scans the benchmarks time (no third-party image data needed)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def phantom(shape: Sequence[int], seed: int = 0, z_extent: float = 0.95) -> np.ndarray:
    """Ellipsoid head ``shape`` (z, y, x) with blobs and noise on a zero background (int16, 0–800);
    ``z_extent`` is the squared half-length along z (above 1: the head fills every slice)."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij")
    body = zz ** 2 / z_extent + yy ** 2 / 0.8 + xx ** 2 / 0.7 <= 1
    img = np.where(body, 300.0, 0.0).astype(np.float32)
    for _ in range(8):
        c, r = rng.uniform(-0.5, 0.5, 3), rng.uniform(0.1, 0.3)
        img[body & ((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r)] = rng.uniform(100, 800)
    img += body * rng.normal(0, 10, shape).astype(np.float32)
    return np.clip(img, 0, None).astype(np.int16)
