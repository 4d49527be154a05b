"""A hand-built model folder (plans.json + fold checkpoints of a tiny random MetaSR) for inference tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Sequence

import torch

from autosr.networks.meta_sr import MetaSRGenerator

TINY_NET = {"name": "MetaSR", "width": 8, "depth": 1, "mlp_hidden": 16, "upsample_skip": "bicubic"}
#: A per-axis model trained (as far as its plan says) for one-axis factors up to 6 as well.
PER_AXIS_NET = dict(TINY_NET, per_axis_scale=True)
PER_AXIS_SCALES = {"max": 4.0, "single_axis_probability": 0.25, "single_axis_max": 6.0}


def channel_plan(modality: str) -> Dict:
    """A plan's normalisation entry: CT with a fixed HU window (as planned from a fingerprint), MR fitted per scan."""
    if modality == "CT":
        return {"scheme": "CT", "lower": -1000.0, "upper": 1500.0}
    return {"scheme": "MR", "lower": None, "upper": None, "upper_percentile": 99.5}


def make_model_folder(root: Path, channels: Sequence[str] = ("T2",), slicing_axis: int = 0,
                      margin: Sequence[int] = (0, 2, 2), scale_max: float = 4.0, folds: Sequence[int] = (0,),
                      configuration: str = "2d_cpu", net: Optional[Dict] = None, dataset: str = "Dataset001_Synth",
                      seed: int = 0, degradation_mode: str = "synthetic", scales: Optional[Dict] = None) -> Path:
    """``root/Dataset001_Synth/MetaSRTrainer__autosrPlans__{configuration}/`` with ``fold_N/checkpoint_final.pth``."""
    modalities = ["CT" if c.upper() == "CT" else "MR" for c in channels]
    folder = Path(root) / dataset / f"MetaSRTrainer__autosrPlans__{configuration}"
    net_cfg = dict(net or TINY_NET)
    plans = {
        "dataset_name": dataset, "plans_name": "autosrPlans", "planner": "DefaultPlanner",
        "channel_names": list(channels), "modalities": modalities,
        "slicing": {"axis": slicing_axis}, "crop": {"margin": list(margin)},
        "normalization": [channel_plan(m) for m in modalities],
        "configurations": {configuration: {
            "data_identifier": f"autosrPlans_{configuration}",
            "scales": dict(scales) if scales is not None else {"max": scale_max},
            "degradation": {"mode": degradation_mode, "kernel_size": 3, "sigma": 0.8},
            "network": net_cfg}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plans.json").write_text(json.dumps(plans, indent=1), encoding="utf-8")
    (folder / "dataset.json").write_text(json.dumps({
        "name": "Synth", "channel_names": {str(i): c for i, c in enumerate(channels)}, "file_ending": ".nii.gz",
        "numTraining": 3}))
    kwargs = {k: v for k, v in net_cfg.items() if k != "name"}
    for fold in folds:
        torch.manual_seed(seed + fold)
        gen = MetaSRGenerator(in_channels=len(channels), **kwargs)
        identity = {"dataset_name": dataset, "plans_name": "autosrPlans", "configuration": configuration,
                    "trainer": "MetaSRTrainer", "num_channels": len(channels), "channel_names": list(channels),
                    "scale_max": scale_max, "fold": fold}
        (folder / f"fold_{fold}").mkdir(exist_ok=True)
        torch.save({"generator": gen.state_dict(), "generator_config": {"name": net_cfg["name"], "in_channels": len(channels), **kwargs},
                    "identity": identity}, folder / f"fold_{fold}" / "checkpoint_final.pth")
    return folder
