"""The plans file (``autosrPlans.json``): what the planner decided, read into typed objects.

The JSON is hand-editable. Each configuration (``"2d"``: the MIASSR paper's schedule, trained on a
distribution of acquisitions; ``"2d_cpu"``: a short run of it for CPU-only machines; ``"2d_paper"``:
the paper's schedule and single recipe) holds sections that map onto the dataclasses
below; an unknown or mistyped key is an error that names the file and lists the valid keys,
so a typo never passes silently. Every reader validates the whole file on load
(:meth:`Plans.load`): each value's type and range (:data:`FIELD_RULES`), the rules between values
(an LR patch of at least ``patch.min_lr_patch`` px at ``scales.max``), and, with the dataset
fingerprint beside the file, the rules against the data (channels, slicing axis, a patch within
every image); a problem names the file and the key. Command-line overrides use dotted keys
(``training.lr=2e-4``, ``network.depth=8``) through :func:`apply_overrides`, checked the same way.

Top-level layout::

    {
      "dataset_name": "Dataset001_BrainMR", "plans_name": "autosrPlans", "planner": "DefaultPlanner",
      "channel_names": ["FLAIR", "T1c"], "modalities": ["MR", "MR"],
      "slicing": {"axis": 0, "why": "..."},                 # array axis (numpy order) slices are taken along
      "crop": {"margin": [0, 4, 4], "why": "..."},          # voxels added around the foreground box per array axis
      "normalization": [{"scheme": "MR", "lower": null, "upper": null, "upper_percentile": 99.5, "why": "..."}],
      "configurations": {"2d": {...}, "2d_cpu": {...}, "2d_paper": {...}}
    }

A configuration::

    {"data_identifier": "autosrPlans_2d",
     "patch": {"size": [96, 96], "batch_size": 16, "min_lr_patch": 12, "why": "..."},
     "scales": {"max": 4.0, "sampling": "grid", "step": 0.05, "why": "..."},
     "degradation": {"mode": "synthetic", "kernel_size": 3, "sigma": 0.8, "noise_std": 0.0, "antialias": false,
                     "families": [{"name": "kspace", "weight": 0.45, "windows": ["none", "hann"]}, ...],
                     "noise": {"model": "rician", "snr": [15, 150], "probability": 0.3}, "why": "..."},
     "network": {"name": "MetaSR", "width": 64, "depth": 16, ...},
     "critic": {"name": "WGANCritic", ...},
     "training": {... TrainingConfig fields ...},
     "why": "..."}
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from autosr.errors import AutoSRError
from autosr.normalization import SCHEMES
from autosr.scales import as_fraction, lr_size


class PlansError(AutoSRError):
    """The plans file is missing, malformed, holds unknown keys or values out of range."""


Path_ = Tuple[Any, ...]
#: A problem of a plans file: the path of the offending value and what is wrong with it.
Problem = Tuple[Path_, str]
FINGERPRINT_NAME = "dataset_fingerprint.json"


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


# -- value rules: each turns a JSON value into the typed one, or raises ValueError ---------------
class Rule:
    """A type/range rule: ``what`` says what is expected, ``convert`` returns the typed value."""

    def __init__(self, what: str, convert: Callable[[Any], Any]) -> None:
        self.what, self.convert = what, convert

    def problem(self, value: Any) -> Optional[str]:
        try:
            self.convert(value)
        except _Invalid as exc:
            return f"must be {self.what}: {exc}"
        except (TypeError, ValueError):
            return f"must be {self.what}, got {json.dumps(value, default=str)}"
        return None


def _check(ok: bool) -> None:
    if not ok:
        raise ValueError


def _as_int(v: Any) -> int:
    # 1e5 in a hand-edited file means 100000: integral floats are accepted as integers
    _check(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and float(v).is_integer())
    return int(v)


def _as_number(v: Any) -> float:
    _check(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v))
    return float(v)


def integer(lo: int) -> Rule:
    def convert(v: Any) -> int:
        v = _as_int(v)
        _check(v >= lo)
        return v
    return Rule(f"an integer >= {lo}", convert)


def number(lo: float, above: bool = False, hi: Optional[float] = None) -> Rule:
    """A finite number ``>= lo`` (``> lo`` when ``above``), ``< hi`` when given."""
    def convert(v: Any) -> float:
        v = _as_number(v)
        _check((v > lo if above else v >= lo) and (hi is None or v < hi))
        return v
    return Rule(f"a number {'>' if above else '>='} {lo:g}" + (f" and < {hi:g}" if hi is not None else ""), convert)


def choice(*values: Any) -> Rule:
    def convert(v: Any) -> Any:
        _check(any(v == c and type(v) is type(c) for c in values))
        return v
    return Rule("one of " + ", ".join(json.dumps(c) for c in values), convert)


def sequence(rule: Rule, length: Optional[int] = None) -> Rule:
    """A list of ``length`` values (any non-empty list when ``None``), each following ``rule``."""
    def convert(v: Any) -> tuple:
        _check(isinstance(v, (list, tuple)) and (len(v) == length if length else len(v) >= 1))
        return tuple(rule.convert(x) for x in v)
    return Rule(f"a list of {length or 'one or more'} value(s), each {rule.what}", convert)


def _optional_str(v: Any) -> Optional[str]:
    _check(v is None or isinstance(v, str))
    return v


def _text(v: Any) -> str:
    _check(isinstance(v, str) and bool(v))
    return v


def interval(lo: float, hi: float, above: bool = False) -> Rule:
    """``[low, high]`` with ``lo <= low <= high <= hi`` (``lo < low`` when ``above``): a range drawn uniformly."""
    def convert(v: Any) -> Tuple[float, float]:
        _check(isinstance(v, (list, tuple)) and len(v) == 2)
        a, b = _as_number(v[0]), _as_number(v[1])
        _check((a > lo if above else a >= lo) and a <= b <= hi)
        return a, b
    return Rule(f"[low, high] with {lo:g} {'<' if above else '<='} low <= high <= {hi:g}", convert)


def _odd(v: Any) -> int:
    v = _as_int(v)
    _check(v >= 1 and v % 2 == 1)
    return v


def _percentile(v: Any) -> float:
    v = _as_number(v)
    _check(0 <= v <= 100)
    return v


BOOL = choice(True, False)
OPTIONAL_PATH = Rule("null or a file path", _optional_str)
TEXT = Rule("a non-empty string", _text)
PERCENTILE = Rule("a number from 0 to 100", _percentile)
SCALE = number(1, above=True, hi=100)
ODD = Rule("an odd integer >= 1 (a centred kernel)", _odd)


class _Invalid(ValueError):
    """A nested value is wrong; the message says where and what (shown instead of the rule's ``what``)."""


def _members(v: Any, rules: Mapping[str, Rule], where: str, required: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """Check a nested object's keys and values against ``rules``; raise :class:`_Invalid` naming the key."""
    if not isinstance(v, Mapping):
        raise _Invalid(f"{where or 'it'} is not a JSON object but {json.dumps(v, default=str)}")
    unknown = sorted(set(v) - set(rules) - {"why"})
    if unknown:
        raise _Invalid(f"{where or 'it'} has unknown key(s) {', '.join(unknown)} (valid keys: {', '.join(sorted(rules))})")
    missing = [k for k in required if k not in v]
    if missing:
        raise _Invalid(f"{where or 'it'} is missing {', '.join(missing)}")
    for k, rule in rules.items():
        if k in v and rule.problem(v[k]):
            raise _Invalid(f"{where + '.' if where else ''}{k} {rule.problem(v[k])}")
    return {k: rule.convert(v[k]) for k, rule in rules.items() if k in v}


def _window_names(v: Any) -> Tuple[str, ...]:
    _check(isinstance(v, (list, tuple)) and len(v) >= 1 and all(w in APODISATION_WINDOWS for w in v))
    return tuple(v)


#: The rule of each parameter a family may take (its range, or its choices).
FAMILY_RULES: Dict[str, Rule] = {
    "sigma": interval(0, 4), "kernel_size": ODD, "antialias_probability": number(0, hi=1.000001),
    "windows": Rule("a non-empty list of apodisation windows (none, hann, hamming, fermi)", _window_names),
    "fwhm": interval(0, 4, above=True),
}


def _families(v: Any) -> Tuple[Dict[str, Any], ...]:
    _check(isinstance(v, (list, tuple)))
    out = []
    for i, f in enumerate(v):
        where = f"[{i}]"
        if not isinstance(f, Mapping) or f.get("name") not in FAMILY_PARAMETERS:
            raise _Invalid(f"{where}.name must be one of {', '.join(FAMILY_PARAMETERS)}, got "
                           f"{json.dumps(f.get('name') if isinstance(f, Mapping) else f, default=str)}")
        rules = {"name": TEXT, "weight": number(0, above=True),
                 **{k: FAMILY_RULES[k] for k in FAMILY_PARAMETERS[f["name"]]}}
        out.append(_members(f, rules, where, ("weight",)))
    return tuple(out)


#: When a loss counts: from the first step (``all``) or in the GAN phase only (``gan``).
LOSS_PHASES = ("all", "gan")
#: MIASSR's eq. 17: λ·L1 from the start, then η·VGG19 perceptual and γ·WGAN-GP in the GAN phase.
MIASSR_LOSSES: Tuple[Dict[str, Any], ...] = (
    {"name": "L1Loss", "weight": 1.0},
    {"name": "PerceptualLoss", "weight": 0.006, "layer": "conv2_2"},
    {"name": "WGANGP", "weight": 0.001, "gp_weight": 10.0},
)


def _losses(v: Any) -> Tuple[Dict[str, Any], ...]:
    """``[{"name", "weight", "phase"?, <the loss's own arguments>}, …]``; the names and arguments are checked
    against the registry when the losses are built (a ``module:Class`` may take anything)."""
    _check(isinstance(v, (list, tuple)))
    out = []
    for i, entry in enumerate(v):
        where = f"[{i}]"
        if not isinstance(entry, Mapping):
            raise _Invalid(f"{where} is not a JSON object but {json.dumps(entry, default=str)}")
        for key, rule in (("name", TEXT), ("weight", number(0)), ("phase", choice(*LOSS_PHASES))):
            if key in entry and rule.problem(entry[key]):
                raise _Invalid(f"{where}.{key} {rule.problem(entry[key])}")
            if key in ("name", "weight") and key not in entry:
                raise _Invalid(f"{where} is missing {key} ({{\"name\": \"L1Loss\", \"weight\": 1}})")
        out.append({**entry, "weight": float(entry["weight"])})
    return tuple(out)


#: Before the losses list, the training section held MIASSR's three weights and the objective's settings.
LEGACY_LOSS_KEYS = ("lambda_l1", "gamma_adv", "eta_perc", "gp_weight", "adversarial", "perceptual_layer")


def legacy_losses(training: Mapping[str, Any]) -> Dict[str, Any]:
    """A training section of an earlier AutoSR (``lambda_l1``, ``gamma_adv``…, no ``losses``) with its losses as
    the list they meant; any other section unchanged."""
    if "losses" in training or not any(k in training for k in LEGACY_LOSS_KEYS):
        return dict(training)
    out = {k: v for k, v in training.items() if k not in LEGACY_LOSS_KEYS}
    adversarial = training.get("adversarial", "WGANGP")
    out["losses"] = [
        {"name": "L1Loss", "weight": training.get("lambda_l1", 1.0)},
        {"name": "PerceptualLoss", "weight": training.get("eta_perc", 0.006),
         "layer": training.get("perceptual_layer", "conv2_2")},
        {"name": adversarial, "weight": training.get("gamma_adv", 0.001),
         **({"gp_weight": training.get("gp_weight", 10.0)} if adversarial == "WGANGP" else {})}]
    return out


def _noise(v: Any) -> Dict[str, Any]:
    rules = {"model": choice(*NOISE_MODELS), "snr": interval(0, 1e6, above=True),
             "probability": number(0, hi=1.000001)}
    out = _members(v, rules, "", ("model",))
    if out["model"] != "none" and "snr" not in out:
        raise _Invalid(f"it needs \"snr\": [low, high] for noise model {out['model']!r}")
    return out


def _profile_names(v: Any) -> Tuple[str, ...]:
    _check(isinstance(v, (list, tuple)) and len(v) >= 1 and all(p in SLICE_PROFILES for p in v))
    return tuple(v)


def _slice_profile(v: Any) -> Dict[str, Any]:
    rules = {"profiles": Rule("a non-empty list of slice profiles (boxcar, gaussian)", _profile_names),
             "gap": interval(-0.5, 0.5)}
    return _members(v, rules, "", ("profiles", "gap"))


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
    single_axis_probability: float = 0.0   # share of batches refining one axis only (thick slices)
    single_axis_max: float = 6.0           # their largest factor (5–6 mm slices to 1 mm)
    why: str = ""

    def values(self) -> List[float]:
        """The grid of training scales (for ``sampling == "grid"``), exact decimal steps."""
        step, top = as_fraction(str(self.step)), as_fraction(str(self.max))
        n = int(((top - 1) / step))
        return [float(1 + k * step) for k in range(1, n + 1)]


#: Acquisition families a degradation distribution draws from, and the parameters each takes
#: (documentation/degradation.md): a ``[low, high]`` range is drawn uniformly, a list of names evenly.
FAMILY_PARAMETERS: Dict[str, Tuple[str, ...]] = {
    "gaussian_psf": ("sigma", "kernel_size", "antialias_probability"),  # σ in HR px; MIASSR's recipe is one member
    "area": (),                                                         # mean over each LR voxel
    "kspace": ("windows",),                                             # MR: central k-space, apodised, magnitude
    "ct_like": ("fwhm",),                                               # CT: Gaussian kernel of FWHM in LR px
}
NOISE_MODELS = ("none", "gaussian", "rician")
#: Slice profiles of thick slices (:func:`autosr.degradation.thick_slices`).
SLICE_PROFILES = ("boxcar", "gaussian")
#: What a conditioned network can be told about its input (``network.acquisitions``,
#: ``autosr_predict --acquisition``): the family, the Gaussian PSF split by antialiasing (the
#: papers' recipe against a filtered one), each named as ``autosr_evaluate --degradation`` names
#: its representative. Parameters (σ, window, noise level) are not told.
ACQUISITION_KINDS = ("paper", "antialiased", "area", "kspace", "ct")
#: The kinds each family can produce (a Gaussian PSF without antialiasing is the papers' recipe).
FAMILY_KINDS: Dict[str, Tuple[str, ...]] = {"gaussian_psf": ("paper", "antialiased"), "area": ("area",),
                                            "kspace": ("kspace",), "ct_like": ("ct",)}


def kinds_of(families: Sequence[Mapping[str, Any]]) -> Tuple[str, ...]:
    """The kinds a distribution's families draw, in :data:`ACQUISITION_KINDS` order."""
    found = set()
    for f in families:
        kinds = FAMILY_KINDS[f["name"]]
        if f["name"] == "gaussian_psf":  # antialiased with antialias_probability, else the papers' recipe
            p = f.get("antialias_probability", 0.0)
            kinds = tuple(k for k, drawn in zip(kinds, (p < 1, p > 0)) if drawn)
        found.update(kinds)
    return tuple(k for k in ACQUISITION_KINDS if k in found)
#: The k-space apodisation windows (:func:`autosr.degradation.kspace_truncate`).
APODISATION_WINDOWS = ("none", "hann", "hamming", "fermi")


@dataclass
class DegradationPlan:
    """How training makes LR from HR: the reference recipe, and the distribution batches draw from.

    ``kernel_size``/``sigma``/``noise_std``/``antialias`` are the reference recipe (MIASSR eq. 1),
    used for validation and as ``autosr_evaluate``'s ``planned`` degradation. ``families`` (each
    ``{"name", "weight", <parameter ranges>}``) and ``noise`` (``{"model", "snr": [low, high],
    "probability"}``) are the training distribution; no families means the reference recipe only.
    """

    mode: str = "synthetic"                # "synthetic" (eq. 1) or "paired" (lowresTr, MESR)
    kernel_size: int = 3
    sigma: float = 0.8
    noise_std: float = 0.0
    antialias: bool = False
    families: Tuple[Dict[str, Any], ...] = ()
    noise: Dict[str, Any] = dataclasses.field(default_factory=lambda: {"model": "none"})
    told_probability: float = 0.0
    slice_profile: Dict[str, Any] = dataclasses.field(default_factory=lambda: {"profiles": ("boxcar",), "gap": (0.0, 0.0)})
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
    losses: Tuple[Dict[str, Any], ...] = MIASSR_LOSSES  # [{name, weight, phase?, args}] (documentation/training.md)
    perceptual: str = "on"                 # VGG19 weights for a PerceptualLoss: "on" (required) | "auto" | "off"
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


#: The type/range rule of every field of a configuration's sections (documentation/plans.md).
FIELD_RULES: Dict[type, Dict[str, Rule]] = {
    PatchPlan: {"size": sequence(integer(1), 2), "batch_size": integer(1), "min_lr_patch": integer(1)},
    # a step below 0.001 would make a grid of thousands of scales (and each a long fraction)
    ScalePlan: {"max": SCALE, "sampling": choice("grid", "uniform"), "step": number(0.001),
                "single_axis_probability": number(0, hi=1.000001), "single_axis_max": SCALE},
    DegradationPlan: {"mode": choice("synthetic", "paired"), "kernel_size": ODD, "sigma": number(0),
                      "noise_std": number(0), "antialias": BOOL,
                      "families": Rule("a list of family objects (may be empty)", lambda v: _families(v)),
                      "noise": Rule("a noise object {model, snr, probability}", lambda v: _noise(v)),
                      "told_probability": number(0, hi=1.000001),
                      "slice_profile": Rule("a slice-profile object {profiles, gap}", lambda v: _slice_profile(v))},
    TrainingConfig: {
        "warmup_steps": integer(0), "gan_steps": integer(0), "lr": number(0, above=True),
        "betas": sequence(number(0, hi=1), 2), "lr_halve_every": integer(1), "critic_lr": number(0, above=True),
        "losses": Rule("a list of loss objects {name, weight, phase?, …}", _losses),
        "perceptual": choice("on", "auto", "off"), "vgg_weights": OPTIONAL_PATH,
        "loss_discard_threshold": number(0, above=True), "val_every": integer(0),
        "val_scales": sequence(SCALE), "val_max_slices": integer(1), "checkpoint_every": integer(0),
        "augment": BOOL, "num_workers": integer(0), "seed": integer(0), "deterministic": BOOL},
}
SECTIONS = {"patch": PatchPlan, "scales": ScalePlan, "degradation": DegradationPlan, "training": TrainingConfig}
CONFIGURATION_KEYS = ("data_identifier", "patch", "scales", "degradation", "network", "critic", "training", "why")


def _keys_problems(data: Any, valid, path: Path_) -> List[Problem]:
    if not isinstance(data, Mapping):
        return [(path, f"must be a JSON object, got {json.dumps(data, default=str)}")]
    unknown = sorted(set(data) - set(valid) - {"why"})
    return [(path + (k,), f"is an unknown key (valid keys: {', '.join(sorted(valid))})") for k in unknown]


def _section(cls: type, data: Any, path: Path_) -> Tuple[Any, List[Problem]]:
    """Dataclass ``cls`` from ``data`` with every field converted, or ``None`` and the problems."""
    rules = FIELD_RULES[cls]
    problems = _keys_problems(data, rules, path)
    if problems:
        return None, problems
    problems = [(path + (k,), msg) for k, rule in rules.items() if k in data
                for msg in [rule.problem(data[k])] if msg]
    if problems:
        return None, problems
    values = {k: rule.convert(data[k]) for k, rule in rules.items() if k in data}
    return cls(**values, why=str(data.get("why", ""))), []


def _build_configuration(name: str, d: Any, num_channels: Optional[int], consistency: bool = True
                         ) -> Tuple[Optional["Configuration"], List[Problem]]:
    """The configuration and its problems: each value's type and range, then (``consistency``) the
    rules between values."""
    problems = _keys_problems(d, CONFIGURATION_KEYS, ())
    if problems:
        return None, problems
    problems = [((k,), "is missing") for k in ("data_identifier", "network") if k not in d]
    if "data_identifier" in d and TEXT.problem(d["data_identifier"]):
        problems.append((("data_identifier",), TEXT.problem(d["data_identifier"])))
    sections = {}
    if isinstance(d.get("training"), Mapping):
        d = {**d, "training": legacy_losses(d["training"])}
    for key, cls in SECTIONS.items():
        sections[key], found = _section(cls, d.get(key, {}), (key,))
        problems += found
    for key in ("network", "critic"):
        net = d.get(key, {"name": "WGANCritic"})
        if not isinstance(net, Mapping) or TEXT.problem(net.get("name")):
            problems.append(((key,), f"must be a JSON object with a \"name\" (a registered network), got "
                                     f"{json.dumps(net)}"))
        elif num_channels is not None and net.get("in_channels", num_channels) != num_channels:
            problems.append(((key, "in_channels"), f"must equal the number of channels ({num_channels}), "
                                                   f"got {json.dumps(net['in_channels'])}"))
    if problems:
        return None, problems
    conf = Configuration(name=name, data_identifier=d["data_identifier"], network=dict(d["network"]),
                         critic=dict(d.get("critic", {"name": "WGANCritic"})), why=str(d.get("why", "")), **sections)
    return conf, _consistency_problems(conf) if consistency else []


def _consistency_problems(conf: "Configuration") -> List[Problem]:
    """Rules between fields (the planner's): LR patch >= min_lr_patch at s_max, a non-empty scale grid, …"""
    p, s, t = conf.patch, conf.scales, conf.training
    out: List[Problem] = []
    side, top = min(p.size), as_fraction(str(s.max))
    if lr_size(side, top) < p.min_lr_patch:
        lr = lr_size(side, top)
        out.append((("scales", "max"), f"{s.max:g} gives LR patches of ⌊{side}/{s.max:g}⌋ = {lr} px, "
                                       f"below patch.min_lr_patch {p.min_lr_patch} px; use scales.max <= "
                                       f"{side / p.min_lr_patch:.4g} or a larger patch.size"))
    elif s.sampling == "grid" and (top - 1) < as_fraction(str(s.step)):
        out.append((("scales", "step"), f"{s.step:g} leaves no grid scale in (1, {s.max:g}]; use a step <= "
                                        f"{s.max - 1:g}"))
    if all(v > s.max + 1e-9 for v in t.val_scales):
        out.append((("training", "val_scales"), f"{list(t.val_scales)} are all above scales.max {s.max:g}: nothing "
                                                f"would be validated; give at least one scale <= {s.max:g}"))
    if t.warmup_steps + t.gan_steps < 1:
        out.append((("training", "gan_steps"), "plus training.warmup_steps must be >= 1, got 0"))
    return out


def _listed(problems: List[Problem], prefix: Path_ = (), options: Optional[Mapping[str, Any]] = None) -> str:
    """``key message; key message`` (``-o key=value: key message`` for a key set by an override)."""
    out = []
    for path, msg in problems:
        key = dotted(path)
        option = f"-o {key}={_shown(options[key])}: " if options and key in options else ""
        out.append(f"{option}{dotted(prefix + path)} {msg}")
    return "; ".join(out)


def _shown(value: Any) -> str:
    """A value as typed after ``-o key=`` (``abc``, ``[24,24]``)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _raise(where: str, problems: List[Problem], remedy: str, prefix: Path_ = ()) -> None:
    if problems:
        raise PlansError(f"{where}: {_listed(problems, prefix)}; {remedy}")


PLANS_REMEDY = "fix it in the file, or re-plan with --clean (autosr_plan_and_preprocess; discards all hand edits)"
#: A model folder's copy of the plans it was trained with.
MODEL_PLANS_NAME = "plans.json"
MODEL_PLANS_REMEDY = "restore the model folder's plans.json (a copy of the plans the model was trained with)"


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
    def from_dict(cls, name: str, d: Mapping[str, Any], where: str, remedy: str = PLANS_REMEDY,
                  num_channels: Optional[int] = None) -> "Configuration":
        """Build and validate configuration ``name``; a problem raises :class:`PlansError` naming
        ``where`` and the key."""
        conf, problems = _build_configuration(name, d, num_channels)
        _raise(where, problems, remedy, ("configurations", name))
        return conf

    def to_dict(self) -> Dict[str, Any]:
        out = {"data_identifier": self.data_identifier}
        for key in ("patch", "scales", "degradation"):
            out[key] = dataclasses.asdict(getattr(self, key))
        out["network"] = dict(self.network)
        out["critic"] = dict(self.critic)
        out["training"] = dataclasses.asdict(self.training)
        out["why"] = self.why
        return out


OPTIONAL_NUMBER = Rule("null or a number", lambda v: v if v is None else _as_number(v))
NORMALIZATION_RULES = {"scheme": choice(*SCHEMES), "lower": OPTIONAL_NUMBER, "upper": OPTIONAL_NUMBER,
                       "lower_percentile": PERCENTILE, "upper_percentile": PERCENTILE}


def _normalization_problems(norm: Any, num_channels: int) -> List[Problem]:
    if not isinstance(norm, list) or len(norm) != num_channels:
        return [(("normalization",), f"must list one entry per channel ({num_channels}: channel_names), got "
                                     f"{len(norm) if isinstance(norm, list) else json.dumps(norm)}")]
    out: List[Problem] = []
    for c, e in enumerate(norm):
        path = ("normalization", c)
        found = _keys_problems(e, NORMALIZATION_RULES, path) or [
            (path + (k,), msg) for k, rule in NORMALIZATION_RULES.items() if k in e
            for msg in [rule.problem(e[k])] if msg]
        if not found and "scheme" not in e:
            found = [(path + ("scheme",), "is missing")]
        if not found:
            lo, up = e.get("lower"), e.get("upper")
            if e["scheme"] == "CT" and (lo is None or up is None):
                found = [(path, "needs numeric lower and upper for a CT channel (its HU window)")]
            elif lo is not None and up is not None and not up > lo:
                found = [(path + ("upper",), f"({up:g}) must exceed lower ({lo:g})")]
        out += found
    return out


def _top_problems(raw: Mapping[str, Any]) -> List[Problem]:
    """Problems of the dataset-level sections (slicing, crop, channels, normalisation)."""
    out: List[Problem] = [((key,), msg) for key in ("dataset_name", "plans_name") for msg in [TEXT.problem(raw[key])]
                          if msg]
    names = raw["channel_names"]
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        return out + [(("channel_names",), f"must be a non-empty list of names, got {json.dumps(names)}")]
    mods = raw["modalities"]
    if not (isinstance(mods, list) and len(mods) == len(names) and all(isinstance(m, str) for m in mods)):
        out.append((("modalities",), f"must list one modality per channel ({len(names)}), got {json.dumps(mods)}"))
    for section, key, rule in (("slicing", "axis", choice(0, 1, 2)), ("crop", "margin", sequence(integer(0), 3))):
        found = _keys_problems(raw[section], {key}, (section,))
        if not found and key not in raw[section]:
            found = [((section, key), "is missing")]
        msg = None if found else rule.problem(raw[section][key])
        out += found + ([((section, key), msg)] if msg else [])
    if not isinstance(raw["configurations"], Mapping) or not raw["configurations"]:
        out.append((("configurations",), "must be a JSON object naming at least one configuration"))
    return out + _normalization_problems(raw["normalization"], len(names))


def slice_sizes(fingerprint: Mapping[str, Any], axis: int, margin: List[int]) -> Tuple[Any, Any, List[str]]:
    """In-plane (H, W) of every case after cropping, of the full image, and the case names."""
    import numpy as np
    from autosr.cropping import crop_box  # scipy: only where the data is checked
    names = sorted(fingerprint["cases"])
    cropped, full = [], []
    for n in names:
        info = fingerprint["cases"][n]
        shape = info["shape"]
        marg = margin[-len(shape):] if len(shape) == 2 else margin
        box = crop_box(shape, info["foreground_bbox"], marg)
        keep = [k for k in range(len(shape)) if len(shape) == 2 or k != axis]
        cropped.append([box[k][1] - box[k][0] for k in keep])
        full.append([shape[k] for k in keep])
    return np.asarray(cropped), np.asarray(full), names


def fmt_size(values) -> str:
    return "×".join(f"{v:g}" for v in values)


def _check_fingerprint(fingerprint: Any, path: Path) -> None:
    """A fingerprint beside a plans file holds what the data rules read; else one line naming it."""
    missing = [k for k in ("dataset_name", "channel_names", "ndim", "cases") if not isinstance(fingerprint, dict)
               or k not in fingerprint]
    if not missing and (not isinstance(fingerprint["cases"], dict) or not fingerprint["cases"]):
        missing = ["cases"]
    if not missing:
        missing = sorted({f"cases.{n}.{k}" for n, c in fingerprint["cases"].items()
                          for k in ("shape", "foreground_bbox") if not isinstance(c, dict) or k not in c})[:3]
    if missing:
        raise PlansError(f"{path}: not a complete dataset fingerprint (missing {', '.join(missing)}); re-create it "
                         f"with autosr_extract_fingerprint, or re-plan with --clean")


def data_problems(raw: Mapping[str, Any], fingerprint: Mapping[str, Any],
                  configurations: Optional[Mapping[str, "Configuration"]] = None) -> List[Problem]:
    """Rules against the data: the channels, a slicing axis of the data's dimension, a patch within every image."""
    if raw["dataset_name"] != fingerprint["dataset_name"]:
        return [(("dataset_name",), f"{raw['dataset_name']!r} is not the dataset of {FINGERPRINT_NAME} beside it "
                                    f"({fingerprint['dataset_name']!r})")]
    if list(raw["channel_names"]) != list(fingerprint["channel_names"]):
        return [(("channel_names",), f"{raw['channel_names']} differ from the dataset's {fingerprint['channel_names']} "
                                     f"({FINGERPRINT_NAME})")]
    ndim, axis = int(fingerprint["ndim"]), raw["slicing"]["axis"]
    if ndim == 2 and axis != 0:
        return [(("slicing", "axis"), f"must be 0 for 2D images, got {axis}")]
    _, full, names = slice_sizes(fingerprint, axis, list(raw["crop"]["margin"]))
    smallest = full.min(0)
    out: List[Problem] = []
    for name, conf in (configurations or {}).items():
        pre = ("configurations", name)
        size = conf.patch.size
        if any(s > m for s, m in zip(size, smallest)):
            small = names[int(full.min(1).argmin())]
            out.append((pre + ("patch", "size"), f"{list(size)} exceeds the smallest image, {fmt_size(smallest)} px "
                                                 f"in-plane (case {small}, slicing axis {axis}); use a smaller patch"))
        if conf.degradation.mode == "paired" and not fingerprint.get("paired"):
            out.append((pre + ("degradation", "mode"), "is \"paired\" but the dataset has no lowresTr scans; use "
                                                        "\"synthetic\""))
    return out


def plans_problems(raw: Mapping[str, Any], fingerprint: Optional[Mapping[str, Any]] = None,
                   consistency: bool = True) -> List[Problem]:
    """Problems of a plans dict: types and ranges, the rules between values (``consistency``), and
    (with the fingerprint) the rules against the data."""
    problems = _top_problems(raw)
    if problems:
        return problems
    confs = {}
    for name, d in raw["configurations"].items():
        conf, found = _build_configuration(name, d, len(raw["channel_names"]), consistency)
        problems += [(("configurations", name) + path, msg) for path, msg in found]
        if conf is not None:
            confs[name] = conf
    if fingerprint is not None and not problems:
        problems += data_problems(raw, fingerprint, confs)
    return problems


@dataclass
class Plans:
    """The whole plans file. ``raw`` keeps the JSON as loaded so hand edits round-trip."""

    raw: Dict[str, Any]
    path: Optional[Path] = None
    fingerprint: Optional[Dict[str, Any]] = None     # the dataset's, when loaded beside the plans

    REQUIRED = ("dataset_name", "plans_name", "channel_names", "modalities", "slicing", "crop",
                "normalization", "configurations")

    @classmethod
    def load(cls, path: os.PathLike | str, replanning: bool = False) -> "Plans":
        """Read and validate a plans file, also against the dataset fingerprint beside it, if any.

        ``replanning``: only each value's own type and range; the planner re-derives the values that
        depend on others and on the data, and checks them itself (:meth:`DefaultPlanner.plan`).
        """
        from autosr.dataset import read_json
        path = Path(path)
        raw = read_json(path, PlansError, "plans file not found; run autosr_plan_and_preprocess first",
                        "fix the edit or re-plan with --clean")
        fp_path = path.parent / FINGERPRINT_NAME
        fingerprint = read_json(fp_path, PlansError, "", "re-plan with --clean") \
            if not replanning and fp_path.is_file() else None
        if fingerprint is not None:
            _check_fingerprint(fingerprint, fp_path)
        plans = cls(raw, path, fingerprint)
        plans.validate(fingerprint, consistency=not replanning)
        return plans

    def validate(self, fingerprint: Optional[Mapping[str, Any]] = None, consistency: bool = True) -> None:
        """Raise :class:`PlansError` naming the file and every bad key (data rules too, given the fingerprint)."""
        where = str(self.path or "plans")
        if not isinstance(self.raw, Mapping):
            raise PlansError(f"{where}: must hold a JSON object; {self.remedy}")
        missing = [k for k in self.REQUIRED if k not in self.raw]
        if missing:
            raise PlansError(f"{where}: missing key(s) {', '.join(missing)}; {self.remedy}")
        _raise(where, plans_problems(self.raw, fingerprint, consistency), self.remedy)

    @property
    def remedy(self) -> str:
        """What to do about a bad value: edit or re-plan the dataset's plans; restore a model folder's copy."""
        return MODEL_PLANS_REMEDY if self.path is not None and self.path.name == MODEL_PLANS_NAME else PLANS_REMEDY

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
        return Configuration.from_dict(name, confs[name], str(self.path or "plans"), self.remedy, self.num_channels)


def parse_override(text: str) -> Tuple[str, Any]:
    """``"training.lr=2e-4"`` → ``("training.lr", 0.0002)``; values are read as JSON when they parse."""
    if "=" not in text:
        raise PlansError(f"-o {text}: an override must look like section.key=value, e.g. -o training.lr=2e-4")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def apply_overrides(config: Configuration, overrides: Mapping[str, Any], plans: Optional["Plans"] = None
                    ) -> Configuration:
    """Return a copy of ``config`` with dotted-key overrides applied and re-validated, the options named.

    With ``plans``, the result is also checked against its channels and, when it was loaded beside
    one, its dataset's fingerprint (a patch within every image, …).
    """
    d = config.to_dict()
    d["training"]["losses"] = [dict(e) for e in d["training"]["losses"]]
    for key, value in overrides.items():
        option = f"-o {key}={_shown(value)}"
        parts = key.split(".")
        node, free = d, parts[0] in ("network", "critic")  # free: any key (a part's own arguments)
        for p in parts[:-1]:
            if isinstance(node, list):  # training.losses.NAME.…: the loss of that name
                named = [e for e in node if isinstance(e, dict) and e.get("name") == p]
                if not named:
                    raise PlansError(f"{option}: no loss named {p!r} in training.losses; losses: "
                                     f"{', '.join(str(e.get('name')) for e in node if isinstance(e, dict))}")
                node, free = named[0], True
                continue
            if p not in node or not isinstance(node[p], (dict, list)):
                raise PlansError(f"{option}: no section {p!r}; sections: "
                                 f"{', '.join(k for k, v in d.items() if isinstance(v, dict))}")
            node = node[p]
        if isinstance(node, list):
            raise PlansError(f"{option}: give a loss's setting (-o training.losses.NAME.weight=W) or the whole list "
                             f"(-o 'training.losses=[{{\"name\": \"L1Loss\", \"weight\": 1}}]')")
        if parts[-1] not in node and not free:
            raise PlansError(f"{option}: unknown key {parts[-1]!r}; valid: {', '.join(sorted(node))}")
        node[parts[-1]] = value
    conf, problems = _build_configuration(config.name, d, plans.num_channels if plans else None)
    if not problems and plans is not None and plans.fingerprint is not None:
        prefix = ("configurations", config.name)
        problems = [(path[len(prefix):], msg) for path, msg in data_problems(plans.raw, plans.fingerprint,
                                                                             {config.name: conf})]
    if problems:
        raise PlansError(f"configuration {config.name}: {_listed(problems, options=overrides)}; fix the -o override")
    return conf
