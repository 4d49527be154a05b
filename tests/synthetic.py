"""Small synthetic scans and raw datasets that tests build themselves (no third-party data)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from autosr.imageio import Geometry, write_image

LPS = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
RAS = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)


def oblique_direction(angle_deg: float = 20.0) -> Tuple[float, ...]:
    """A rotation about two axes: a non-axis-aligned direction matrix (row-major)."""
    a, b = np.deg2rad(angle_deg), np.deg2rad(angle_deg / 2)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return tuple((rz @ rx).ravel().tolist())


def phantom(shape: Sequence[int], seed: int = 0, modality: str = "MR", background_margin: int = 3) -> np.ndarray:
    """A head-like phantom ``shape`` (z, y, x): ellipsoid of tissue with blobs and edges on a dark surround.

    MR: background 0, tissue ~100-800 (int16). CT: air -1000 HU, tissue -100..80, bone ~700 (int16).
    """
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    m = background_margin
    span = [1 - 2.0 * min(m, (n - 1) // 4) / max(n, 1) for n in shape]
    body = (zz / span[0]) ** 2 + (yy / span[1]) ** 2 + (xx / span[2]) ** 2 <= 1.0
    img = np.zeros(shape, np.float32)
    img[body] = 300.0
    for _ in range(6):
        c = rng.uniform(-0.5, 0.5, 3)
        r = rng.uniform(0.1, 0.3)
        blob = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r ** 2
        img[blob & body] = rng.uniform(100, 800)
    img += (body * rng.normal(0, 10, shape)).astype(np.float32)
    if modality == "CT":
        out = np.full(shape, -1000.0, np.float32)
        out[body] = img[body] / 800.0 * 180.0 - 100.0
        shell = body & ~((zz / (span[0] * 0.9)) ** 2 + (yy / (span[1] * 0.9)) ** 2 + (xx / (span[2] * 0.9)) ** 2 <= 1.0)
        out[shell] = 700.0
        return np.round(out).astype(np.int16)
    return np.round(np.clip(img, 0, None)).astype(np.int16)


def make_raw_dataset(raw_root: Path, dataset_id: int = 1, name: str = "Synth", n_cases: int = 3,
                     shape: Sequence[int] = (6, 40, 48), spacing_xyz: Sequence[float] = (1.0, 1.0, 3.0),
                     channel_names: Optional[Dict[str, str]] = None, file_ending: str = ".nii.gz",
                     direction: Tuple[float, ...] = LPS, test_cases: int = 0, seed: int = 0,
                     extra: Optional[dict] = None) -> Path:
    """Write ``DatasetXXX_name`` with ``n_cases`` phantom cases (one file per channel) and its dataset.json."""
    channel_names = channel_names or {"0": "T2"}
    folder = Path(raw_root) / f"Dataset{dataset_id:03d}_{name}"
    for split, count, offset in (("imagesTr", n_cases, 0), ("imagesTs", test_cases, 1000)):
        if not count:
            continue
        (folder / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            geom = Geometry(tuple(map(float, spacing_xyz)), (10.0 * i, -5.0, 2.5), direction)
            for ch, ch_name in channel_names.items():
                modality = "CT" if ch_name.upper() == "CT" else "MR"
                arr = phantom(shape, seed=seed + offset + 17 * i + int(ch), modality=modality)
                write_image(arr, geom, folder / split / f"case{i + offset:03d}_{int(ch):04d}{file_ending}")
    info = {"name": name, "description": "synthetic phantoms for tests", "channel_names": channel_names,
            "file_ending": file_ending, "numTraining": n_cases, "license": "CC0", "reference": "tests/synthetic.py"}
    info.update(extra or {})
    (folder / "dataset.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return folder
