"""The plans file (``autosrPlans.json``): what the planner decided, read into typed objects.

The JSON is hand-editable. Each configuration (``"2d"``: the MIASSR paper's schedule;
``"2d_cpu"``: a short run for CPU-only machines) holds sections that map onto the dataclasses
below; an unknown or mistyped key is an error that names the file and lists the valid keys,
so a typo never passes silently. Command-line overrides use dotted keys
(``training.lr=2e-4``, ``network.depth=8``) through :func:`apply_overrides`.

Top-level layout::

    {
      "dataset_name": "Dataset001_BrainMR", "plans_name": "autosrPlans", "planner": "DefaultPlanner",
      "channel_names": ["FLAIR", "T1c"], "modalities": ["MR", "MR"],
      "slicing": {"axis": 0, "why": "..."},                 # array axis (numpy order) slices are taken along
      "crop": {"margin": [0, 4, 4], "why": "..."},          # voxels added around the foreground box per array axis
      "normalization": [{"scheme": "MR", "lower": null, "upper": null, "upper_percentile": 99.5, "why": "..."}],
      "configurations": {"2d": {...}, "2d_cpu": {...}}
    }

A configuration::

    {"data_identifier": "autosrPlans_2d",
     "patch": {"size": [96, 96], "batch_size": 16, "min_lr_patch": 12, "why": "..."},
     "scales": {"max": 4.0, "sampling": "grid", "step": 0.05, "why": "..."},
     "degradation": {"mode": "synthetic", "kernel_size": 3, "sigma": 0.8, "noise_std": 0.0, "antialias": false, "why": "..."},
     "network": {"name": "MetaSR", "width": 64, "depth": 16, ...},
     "critic": {"name": "WGANCritic", ...},
     "training": {... TrainingConfig fields ...},
     "why": "..."}
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from autosr.errors import AutoSRError
from autosr.scales import as_fraction


class PlansError(AutoSRError):
    """The plans file is missing, malformed or holds unknown keys."""


def _from_dict(cls, data: Mapping[str, Any], where: str):
    """Build dataclass ``cls`` from ``data``; unknown keys raise with the valid ones listed."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names - {"why"})
    if unknown:
        raise PlansError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}")
    kwargs = {k: v for k, v in data.items() if k in names}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise PlansError(f"{where}: {exc}") from None


@dataclass
class PatchPlan:
    size: Tuple[int, int] = (96, 96)       # HR patch (MIASSR: 96×96)
    batch_size: int = 16                   # patches per step, all at one scale (MIASSR: 16)
    min_lr_patch: int = 12                 # floor(P / s_max) must stay >= this
    why: str = ""


@dataclass
class ScalePlan:
    max: float = 4.0                       # scales are drawn from (1, max]
    sampling: str = "grid"                 # "grid" (1+step, …, max) or "uniform" (continuous)
    step: float = 0.05                     # grid step; the reference code used 30 scales (step 0.1)
    why: str = ""

    def values(self) -> List[float]:
        """The grid of training scales (for ``sampling == "grid"``), exact decimal steps."""
        step, top = as_fraction(str(self.step)), as_fraction(str(self.max))
        n = int(((top - 1) / step))
        return [float(1 + k * step) for k in range(1, n + 1)]


@dataclass
class DegradationPlan:
    mode: str = "synthetic"                # "synthetic" (eq. 1) or "paired" (lowresTr, MESR)
    kernel_size: int = 3
    sigma: float = 0.8
    noise_std: float = 0.0
    antialias: bool = False
    why: str = ""


@dataclass
class TrainingConfig:
    """Every training hyper-parameter; all overridable (``-o training.lr=2e-4`` or ``--steps``)."""

    warmup_steps: int = 100_000            # phase 1: L1 only
    gan_steps: int = 100_000               # phase 2: L1 + WGAN-GP + perceptual
    lr: float = 1e-4
    betas: Tuple[float, float] = (0.9, 0.999)
    lr_halve_every: int = 50_000
    critic_lr: float = 1e-4
    lambda_l1: float = 1.0
    gamma_adv: float = 0.001
    eta_perc: float = 0.006
    gp_weight: float = 10.0
    perceptual: str = "on"                 # "on" | "auto" | "off"
    perceptual_layer: str = "conv2_2"
    vgg_weights: Optional[str] = None
    loss_discard_threshold: float = 1e8
    val_every: int = 5_000
    val_scales: Tuple[float, ...] = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
    val_max_slices: int = 64
    checkpoint_every: int = 5_000
    augment: bool = True
    num_workers: int = 2
    seed: int = 12345
    deterministic: bool = False
    why: str = ""


@dataclass
class Configuration:
    name: str
    data_identifier: str
    patch: PatchPlan
    scales: ScalePlan
    degradation: DegradationPlan
    network: Dict[str, Any]
    critic: Dict[str, Any]
    training: TrainingConfig
    why: str = ""

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any], where: str) -> "Configuration":
        allowed = {"data_identifier", "patch", "scales", "degradation", "network", "critic", "training", "why"}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise PlansError(f"{where}: configuration {name!r} has unknown key(s) {', '.join(unknown)}; "
                             f"valid keys: {', '.join(sorted(allowed))}")
        missing = sorted({"data_identifier", "network"} - set(d))
        if missing:
            raise PlansError(f"{where}: configuration {name!r} misses key(s) {', '.join(missing)}")
        patch = _from_dict(PatchPlan, d.get("patch", {}), f"{where} [{name}.patch]")
        patch.size = tuple(int(v) for v in patch.size)  # type: ignore[assignment]
        training = _from_dict(TrainingConfig, d.get("training", {}), f"{where} [{name}.training]")
        training.betas = tuple(training.betas)  # type: ignore[assignment]
        training.val_scales = tuple(float(s) for s in training.val_scales)  # type: ignore[assignment]
        return cls(name=name, data_identifier=str(d["data_identifier"]), patch=patch,
                   scales=_from_dict(ScalePlan, d.get("scales", {}), f"{where} [{name}.scales]"),
                   degradation=_from_dict(DegradationPlan, d.get("degradation", {}), f"{where} [{name}.degradation]"),
                   network=dict(d["network"]), critic=dict(d.get("critic", {"name": "WGANCritic"})),
                   training=training, why=str(d.get("why", "")))

    def to_dict(self) -> Dict[str, Any]:
        out = {"data_identifier": self.data_identifier}
        for key in ("patch", "scales", "degradation"):
            out[key] = dataclasses.asdict(getattr(self, key))
        out["network"] = dict(self.network)
        out["critic"] = dict(self.critic)
        out["training"] = dataclasses.asdict(self.training)
        out["why"] = self.why
        return out


@dataclass
class Plans:
    """The whole plans file. ``raw`` keeps the JSON as loaded so hand edits round-trip."""

    raw: Dict[str, Any]
    path: Optional[Path] = None

    REQUIRED = ("dataset_name", "plans_name", "channel_names", "modalities", "slicing", "crop",
                "normalization", "configurations")

    @classmethod
    def load(cls, path: os.PathLike | str) -> "Plans":
        from autosr.dataset import read_json
        path = Path(path)
        raw = read_json(path, PlansError, "plans file not found; run autosr_plan_and_preprocess first",
                        "fix the edit or re-plan with --clean")
        plans = cls(raw, path)
        plans.validate()
        return plans

    def validate(self) -> None:
        where = str(self.path or "plans")
        missing = [k for k in self.REQUIRED if k not in self.raw]
        if missing:
            raise PlansError(f"{where}: missing key(s) {', '.join(missing)}")
        for name in self.raw["configurations"]:
            self.configuration(name)

    def save(self, path: os.PathLike | str) -> None:
        from autosr.dataset import write_json_atomic
        write_json_atomic(self.raw, path)

    # -- read-only views -------------------------------------------------------------------
    @property
    def dataset_name(self) -> str:
        return self.raw["dataset_name"]

    @property
    def plans_name(self) -> str:
        return self.raw["plans_name"]

    @property
    def channel_names(self) -> List[str]:
        return list(self.raw["channel_names"])

    @property
    def num_channels(self) -> int:
        return len(self.raw["channel_names"])

    @property
    def modalities(self) -> List[str]:
        return list(self.raw["modalities"])

    @property
    def slicing_axis(self) -> int:
        """Array axis (numpy order of the original 3D volume) that slices are taken along."""
        return int(self.raw["slicing"]["axis"])

    @property
    def crop_margin(self) -> List[int]:
        return [int(m) for m in self.raw["crop"]["margin"]]

    @property
    def normalization(self) -> List[Dict[str, Any]]:
        return list(self.raw["normalization"])

    @property
    def configuration_names(self) -> List[str]:
        return list(self.raw["configurations"])

    def configuration(self, name: str) -> Configuration:
        confs = self.raw["configurations"]
        if name not in confs:
            raise PlansError(f"{self.path or 'plans'}: no configuration {name!r}; available: {', '.join(confs)}")
        return Configuration.from_dict(name, confs[name], str(self.path or "plans"))


def parse_override(text: str) -> Tuple[str, Any]:
    """``"training.lr=2e-4"`` → ``("training.lr", 0.0002)``; values are read as JSON when they parse."""
    if "=" not in text:
        raise PlansError(f"override {text!r} must look like section.key=value, e.g. training.lr=2e-4")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def apply_overrides(config: Configuration, overrides: Mapping[str, Any]) -> Configuration:
    """Return a copy of ``config`` with dotted-key overrides applied and re-validated."""
    d = config.to_dict()
    for key, value in overrides.items():
        parts = key.split(".")
        node = d
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise PlansError(f"override {key!r}: no section {p!r}; sections: {', '.join(k for k, v in d.items() if isinstance(v, dict))}")
            node = node[p]
        if parts[-1] not in node and parts[0] not in ("network", "critic"):
            raise PlansError(f"override {key!r}: unknown key {parts[-1]!r}; valid: {', '.join(sorted(node))}")
        node[parts[-1]] = value
    return Configuration.from_dict(config.name, d, "overrides")
