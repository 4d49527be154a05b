"""Helpers shared by the planning tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import numpy as np

from autosr.imageio import Geometry, write_image
from autosr.paths import preprocessed_dir, raw_dir
from tests.synthetic import phantom


def pre_folder(name: str) -> Path:
    return preprocessed_dir() / name


def load_plans_json(name: str) -> Dict[str, Any]:
    return json.loads((pre_folder(name) / "autosrPlans.json").read_text(encoding="utf-8"))


def make_2d_dataset(dataset_id: int = 7, name: str = "Flat", n_cases: int = 3, shape=(50, 60),
                    channel: str = "MR") -> Path:
    """A dataset of 2D images (y, x)."""
    folder = raw_dir() / f"Dataset{dataset_id:03d}_{name}"
    (folder / "imagesTr").mkdir(parents=True)
    for i in range(n_cases):
        img = phantom((3,) + tuple(shape), seed=i, modality=channel)[1]
        write_image(img, Geometry((0.5, 0.5), (0.0, 0.0), (1.0, 0.0, 0.0, 1.0)), folder / "imagesTr" / f"img{i}_0000.nii.gz")
    (folder / "dataset.json").write_text(json.dumps({"name": name, "channel_names": {"0": channel},
                                                     "file_ending": ".nii.gz", "numTraining": n_cases}))
    return folder


def walk_sections(plans: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Every plans section that must explain itself with a ``why``."""
    yield "slicing", plans["slicing"]
    yield "crop", plans["crop"]
    for c, e in enumerate(plans["normalization"]):
        yield f"normalization.{c}", e
    for name, conf in plans["configurations"].items():
        yield f"configurations.{name}", conf
        for sec in ("patch", "scales", "degradation", "network", "critic", "training"):
            yield f"configurations.{name}.{sec}", conf[sec]
        for i, family in enumerate(conf["degradation"].get("families", [])):
            yield f"configurations.{name}.degradation.families.{i}", family
        if conf["degradation"].get("noise", {}).get("model", "none") != "none":
            yield f"configurations.{name}.degradation.noise", conf["degradation"]["noise"]


def lr_patch_ok(patch: int, scales, min_lr: int) -> bool:
    from autosr.scales import lr_size
    return all(lr_size(patch, str(round(s, 6))) >= min_lr for s in scales)


def moved(arr: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(arr, axis, 0)
