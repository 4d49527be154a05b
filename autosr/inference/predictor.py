"""The Predictor: load a model once, super-resolve arrays or files (``autosr_predict`` wraps it).

    from autosr.inference.predictor import Predictor
    pred = Predictor.from_model_folder(folder, folds=(0,), device="auto")
    sr, sr_geometry = pred.predict_case(case, geometry, 2.5)      # case (C, z, y, x) in original units
    pred.predict_files("scans/", "sr/", scale=2.5)

A scale is one factor per axis (:class:`~autosr.scales.VolumeScale`; one number means the in-plane
axes). It becomes passes over 2D slices (:mod:`autosr.inference.passes`): for each, the scan is
cropped and normalised with the plan (:mod:`autosr.inference.prep`), its slices are
super-resolved in batches, tiled when a slice is large (:mod:`autosr.inference.tiling`),
averaged over folds, de-normalised and pasted into the refined field of view, whose geometry keeps
the physical extent (``Geometry.refined``). The orientations of a through-plane pass are averaged.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from autosr.devices import parse_device
from autosr.degradation.acquisition import NAMED, Acquisition, recipe
from autosr.degradation.consistency import noise_free, project
from autosr.errors import AutoSRError
from autosr.imageio import Geometry
from autosr.inference import tiling
from autosr.inference.ensemble import SYMMETRIES, mean_and_spread
from autosr.inference.model_folder import DEFAULT_CHECKPOINT, FoldLike, open_model_folder
from autosr.inference.passes import Pass, Stages, plan_passes
from autosr.inference.prep import PreparedCase, prepare_case, to_output_dtype, with_spread_channels
from autosr.inference.scale_request import ScaleError, ScaleRequest
from autosr.inference.writer import MAX_NIFTI_DIM, restore_batch, restore_case
from autosr.networks import run_generator
from autosr.plans import Configuration, Plans
from autosr.scales import AxisScales, ScaleLike, VolumeScale, as_fraction, axis_scales, check_scale, sr_size

logger = logging.getLogger(__name__)

#: Default working-memory target for the network on one step (bytes); tiles keep under it.
DEFAULT_MEMORY_BUDGET = 2 * 1024 ** 3
#: A CT input channel is far from the training data when less than this share of its foreground
#: range (0.5th to 99.5th percentile) lies within the training data's.
MIN_RANGE_OVERLAP = 0.5


class ModelMismatchError(AutoSRError):
    """The scan or the request does not fit the model (channel count, an acquisition it cannot be told)."""


def pick_device(device: Union[str, torch.device] = "auto") -> torch.device:
    """``"auto"``: CUDA, else Apple MPS, else CPU; a named device that is absent is an error (:func:`autosr.devices.parse_device`)."""
    return parse_device(device)


def parse_scale(scale: ScaleLike, scale_max: Optional[float] = None, allow_extrapolation: bool = False) -> Fraction:
    """Check a requested scale: a number > 1, at most ``scale_max`` unless extrapolation is allowed."""
    try:
        frac = check_scale(scale)
    except ValueError as exc:
        raise ScaleError(str(exc)) from None
    if scale_max is not None and frac > as_fraction(str(scale_max)):
        if not allow_extrapolation:
            raise ScaleError(f"scale {float(frac):g} is above {scale_max:g}, the largest scale this model was trained "
                             f"on; add --allow_extrapolation to try anyway")
        logger.warning("WARNING: scale %g is above the trained range (1, %g]: extrapolating, expect artefacts",
                       float(frac), scale_max)
    return frac


def _warn_other_dataset(path: Path, identity: Dict[str, Any], plans: Plans, plans_file: Path) -> None:
    """A fold checkpoint copied from another model folder (same channel count) predicts; say so."""
    ours = {"dataset_name": plans.dataset_name, "plans_name": plans.plans_name,
            "channel_names": list(plans.channel_names)}
    diffs = [f"{k} {identity[k]!r} (model folder: {v!r})" for k, v in ours.items()
             if k in identity and identity[k] != v]
    if diffs:
        logger.warning("WARNING: %s was trained for another dataset or plans than %s describes: %s; check that "
                       "the fold folders belong to this model", path, plans_file, "; ".join(diffs))


class BicubicUpsampler(nn.Module):
    """The bicubic baseline as a "generator" (same alignment as the networks), for the same pipeline."""

    per_axis_scale = True
    receptive_radius = 3  # the 4×4 bicubic support, and the LR pixel a refined one falls in

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.channels = channels

    def bytes_per_lr_pixel(self, scale: AxisScales) -> int:
        s_h, s_w = axis_scales(scale)
        return 4 * 6 * self.channels * math.ceil(s_h) * math.ceil(s_w)

    def forward(self, x: torch.Tensor, scale: AxisScales) -> torch.Tensor:
        from autosr.degradation import upsample
        return upsample(x, scale)


class Predictor:
    """Super-resolve scans with one model (or a fold ensemble) following its plan.

    Args:
        networks: generators ``forward(x (B,C,h,w) in [0,1], scale) → (B,C,⌊h·s⌋,⌊w·s⌋)``; their
            outputs are averaged (fold ensemble).
        plans: the model's plans (slicing axis, crop margin, normalisation, modalities).
        configuration: the trained configuration (``scales.max``); ``None`` means no limit.
        device: where the networks run. batch_size: slices per step.
        memory_budget: working-memory target (bytes) of one step; larger slices are tiled.
        allow_extrapolation: accept scales above ``scales.max`` (with a warning).
        model_identity: the model folder and fold checkpoints (by size and mtime) the networks
            come from; outputs are recorded with it so later runs know what they may skip.
        training_intensities: the training fingerprint's per-channel foreground statistics;
            scans far outside them get a warning.
        acquisition: how the scans were acquired (a kind of :data:`autosr.plans.ACQUISITION_KINDS`),
            told to a conditioned model; ``None``: unknown.
        tta: the output is the mean over the folds × the eight flips/rotations of each slice
            (:mod:`autosr.inference.ensemble`) instead of the folds' mean.
        uncertainty: each output channel gets a second one, the per-pixel standard deviation over the
            folds × the eight flips/rotations (``--save_uncertainty``): :meth:`super_resolve` returns
            ``2C`` channels and prepared cases carry their de-normalisation (:meth:`prepare`).
        enforce_consistency: each output slice is projected so that the consistency operator
            (:meth:`consistency_operator`) acquires it as its input (:mod:`autosr.degradation.consistency`).
    """

    def __init__(self, networks: Sequence[nn.Module], plans: Plans, configuration: Optional[Configuration] = None,
                 device: Union[str, torch.device] = "cpu", batch_size: int = 4,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, allow_extrapolation: bool = False,
                 halo: Optional[int] = None, progress: bool = True,
                 model_identity: Optional[Dict[str, Any]] = None,
                 training_intensities: Optional[Sequence[Dict[str, float]]] = None,
                 acquisition: Optional[str] = None, tta: bool = False, uncertainty: bool = False,
                 enforce_consistency: bool = False) -> None:
        if not networks:
            raise ValueError("need at least one network")
        self.device = pick_device(device)
        self.networks = [n.to(self.device).eval() for n in networks]
        self.plans = plans
        self.configuration = configuration
        self.scale_max = float(configuration.scales.max) if configuration is not None else None
        self.batch_size = max(1, int(batch_size))
        self.memory_budget = int(memory_budget)
        self.allow_extrapolation = allow_extrapolation
        missing = [type(n).__name__ for n in self.networks
                   if not hasattr(n, "receptive_radius") or not hasattr(n, "bytes_per_lr_pixel")]
        if missing:
            raise TypeError(f"{', '.join(missing)}: a generator declares receptive_radius and bytes_per_lr_pixel(scale) "
                            f"(what tiling and memory planning need; documentation/extending.md)")
        self.halo = int(halo) if halo is not None else max(int(n.receptive_radius) for n in self.networks)
        self.size_multiple = math.lcm(*(int(getattr(n, "size_multiple", 1)) for n in self.networks))
        self.progress = progress
        self._checked: Dict[Union[str, Fraction], Fraction] = {}
        self._warned: set = set()
        self.per_axis = all(getattr(n, "per_axis_scale", False) for n in self.networks)
        self.model_identity = model_identity
        self.training_intensities = training_intensities
        self.acquisitions = tuple(a for a in getattr(self.networks[0], "acquisitions", ())
                                  if all(a in getattr(n, "acquisitions", ()) for n in self.networks))
        self.acquisition = self.check_acquisition(acquisition)
        self.tta, self.uncertainty, self.enforce_consistency = bool(tta), bool(uncertainty), bool(enforce_consistency)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_model_folder(cls, folder: os.PathLike | str, folds: Optional[Sequence[FoldLike]] = (0,),
                          checkpoint: str = DEFAULT_CHECKPOINT, device: Union[str, torch.device] = "auto",
                          **kwargs) -> "Predictor":
        """Load the fold generators of a model folder (``folds=None``: every fold with ``checkpoint``)."""
        from autosr.inference.record import signature
        from autosr.checkpoint import load_generator

        mf = open_model_folder(folder, folds, checkpoint)
        plans = Plans.load(mf.plans_file)
        dev = pick_device(device)
        nets, config_name = [], (Path(folder).name.split("__") + ["", "", ""])[2]
        config: Optional[Configuration] = None
        for fold, path in mf.checkpoints.items():
            net, ckpt = load_generator(path, dev)
            ident = ckpt.get("identity", {})
            if int(ident.get("num_channels", plans.num_channels)) != plans.num_channels:
                raise ModelMismatchError(f"{path}: checkpoint has {ident.get('num_channels')} channels but "
                                         f"{mf.plans_file} has {plans.num_channels}")
            _warn_other_dataset(path, ident, plans, mf.plans_file)
            config_name = str(ident.get("configuration", config_name))
            if config is None and isinstance(ckpt.get("configuration"), dict):
                # the resolved configuration the fold was trained with (command-line overrides included)
                config = Configuration.from_dict(config_name, ckpt["configuration"], str(path))
            nets.append(net)
        if config is None and config_name in plans.configuration_names:
            config = plans.configuration(config_name)
        logger.info("loaded %d fold(s) (%s) of %s", len(nets), ", ".join(mf.checkpoints), mf.path)
        identity = {"folder": str(mf.path.resolve()),
                    "checkpoints": dict(zip(mf.checkpoints, signature(list(mf.checkpoints.values()))))}
        return cls(nets, plans, config, device=dev, model_identity=identity,
                   training_intensities=mf.training_intensities(plans.num_channels), **kwargs)

    @classmethod
    def bicubic(cls, plans: Plans, configuration: Optional[Configuration] = None, **kwargs) -> "Predictor":
        """The bicubic baseline through the same crop/normalise/paste pipeline (geometry checks)."""
        return cls([BicubicUpsampler(plans.num_channels)], plans, configuration, **kwargs)

    # ---------------------------------------------------------------- core
    def check_scale(self, scale: ScaleLike) -> Fraction:
        """:func:`parse_scale` against this model's ``s_max`` (the extrapolation warning once per scale)."""
        key = scale if isinstance(scale, Fraction) else str(scale)
        if key not in self._checked:
            self._checked[key] = parse_scale(scale, self.scale_max, self.allow_extrapolation)
        return self._checked[key]

    def plan(self, scale: "ScaleLike | VolumeScale | ScaleRequest", ndim: int, geometry: Optional[Geometry] = None,
             source: str = "scan") -> Tuple[VolumeScale, Stages]:
        """The factor of each axis of an ``ndim``-D scan and the checked passes that give it.

        ``scale``: one in-plane scale, a :class:`VolumeScale`, or a :class:`ScaleRequest` (``autosr_predict``'s
        ``-s`` / ``--target_spacing``). :class:`ScaleError` names ``source`` and what is wrong.
        """
        if isinstance(scale, VolumeScale):
            vs = scale
        else:
            request = scale if isinstance(scale, ScaleRequest) else ScaleRequest(in_plane=self.check_scale(scale))
            vs = request.resolve(geometry, ndim, self.plans.slicing_axis, source)
        if vs.ndim != ndim:
            raise ScaleError(f"{source}: {vs.ndim} factors for a {ndim}D scan")
        stages = plan_passes(vs, self.plans.slicing_axis, geometry.array_spacing if geometry is not None else None)
        for stage in stages:
            for p in stage:
                self.check_pass(p, source)
        return vs, stages

    def check_pass(self, p: Pass, source: str = "scan") -> None:
        """Can the model run ``p``: per-axis factors need a per-axis Meta-Upscale, and each factor its trained
        maximum (in-plane ``scales.max``; one axis alone ``scales.single_axis_max``, if trained for it)."""
        rows, cols = axis_scales(p.slice_scale)
        if rows != cols and not self.per_axis:
            raise ScaleError(f"{source}: ×{p.scale} (x y z) refines the two axes of the {p.plane} "
                             f"by different factors, which this model cannot (its Meta-Upscale reads one 1/s: "
                             f"network.per_axis_scale false); give one in-plane scale (-s S), or use a model planned "
                             f"with per-axis scales")
        if rows > 1 and cols > 1:
            for f in {rows, cols}:
                self.check_scale(f)
            return
        f = max(rows, cols)
        cfg = self.configuration
        if cfg is None:
            return
        if cfg.scales.single_axis_probability <= 0:
            self._limit(f"{source}: ×{p.scale} (x y z) refines one axis alone, which this model was not trained for "
                        f"(scales.single_axis_probability 0: in-plane scales only)", f"one-axis {p.scale}")
        elif f > as_fraction(str(cfg.scales.single_axis_max)):
            self._limit(f"{source}: factor {float(f):g} on one axis (×{p.scale}, x y z) is above "
                        f"{cfg.scales.single_axis_max:g}, the largest this model was trained to refine one axis by "
                        f"(scales.single_axis_max)", f"one-axis max {f}")

    def _limit(self, problem: str, key: str) -> None:
        """Refuse ``problem`` unless extrapolation is allowed (then warn once)."""
        if not self.allow_extrapolation:
            raise ScaleError(problem + "; add --allow_extrapolation to try anyway")
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("WARNING: %s: extrapolating, expect artefacts", problem)

    def check_acquisition(self, acquisition: Optional[str]) -> Optional[str]:
        """``acquisition`` if the model can be told it (``None`` passes), else :class:`ModelMismatchError`."""
        if acquisition is not None and acquisition not in self.acquisitions:
            can = (f"this model can be told {', '.join(self.acquisitions)} (or nothing: unknown)" if self.acquisitions
                   else "this model was trained blind (not conditioned on the acquisition); leave it unknown")
            raise ModelMismatchError(f"acquisition {acquisition!r}: {can}")
        return acquisition

    def consistency_operator(self, acquisition: Optional[str] = None) -> Tuple[str, Acquisition]:
        """(label, noise-free acquisition) an output is checked and projected against: the acquisition told
        (``--acquisition``), else the plan's reference recipe (``planned``), else MIASSR's (``paper``)."""
        told = acquisition or self.acquisition
        if told is not None:
            return told, noise_free(NAMED[told])
        if self.configuration is not None:
            return "planned", noise_free(recipe(self.configuration.degradation))
        return "paper", NAMED["paper"]

    def _member(self, net: nn.Module, acquisition: Optional[str]) -> Callable[[torch.Tensor, AxisScales], torch.Tensor]:
        """``net`` as ``(x, scale) → its refined x``: padded to the parts' size multiple (the last rows/columns
        replicated) and cropped back to ``⌊h·s⌋ × ⌊w·s⌋`` (the centre convention: the first rows are h's)."""
        m = self.size_multiple

        def run(x: torch.Tensor, s: AxisScales) -> torch.Tensor:
            h, w = x.shape[-2:]
            s_h, s_w = axis_scales(s)
            if m > 1 and (h % m or w % m):
                x = F.pad(x, (0, -w % m, 0, -h % m), mode="replicate")
            return run_generator(net, x, s, acquisition)[..., :sr_size(h, s_h), :sr_size(w, s_w)]
        return run

    def _forward(self, scale: AxisScales, acquisition: Optional[str]) -> Callable[[torch.Tensor], torch.Tensor]:
        """One tile's network step: the folds' mean; with ``tta``/``uncertainty`` the folds × flips/rotations'
        mean (``tta``) or the folds' mean, and (``uncertainty``) their spread as ``C`` more channels."""
        members = [self._member(n, acquisition) for n in self.networks]
        if self.tta or self.uncertainty:
            def ensemble(x: torch.Tensor) -> torch.Tensor:
                mean, spread, plain = mean_and_spread(members, x, scale, SYMMETRIES, self.size_multiple)
                out = mean if self.tta else plain
                return torch.cat([out, spread], dim=1) if self.uncertainty else out
            return ensemble

        def folds(x: torch.Tensor) -> torch.Tensor:
            out = None
            for run in members:
                y = run(x, scale)
                out = y if out is None else out.add_(y)
            assert out is not None
            return out / len(members) if len(members) > 1 else out
        return folds

    @torch.inference_mode()
    def super_resolve(self, slices: Union[np.ndarray, torch.Tensor], scale: AxisScales,
                      on_batch: Optional[Callable[[int], None]] = None,
                      sink: Optional[Callable[[int, np.ndarray], None]] = None,
                      acquisition: Optional[str] = None) -> Optional[np.ndarray]:
        """Super-resolve normalised slices ``(N, C, h, w)`` in [0, 1] → ``(N, C, ⌊h·s_h⌋, ⌊w·s_w⌋)`` float32
        (``2C`` channels with ``uncertainty``: each channel's standard deviation after the outputs).

        ``scale``: one scale for rows and columns (checked against ``s_max``), or a pair (the
        caller checked it: :meth:`plan`). Batches of ``batch_size`` slices; slices over the memory
        budget are tiled. Not clamped.
        With ``sink``, each batch goes to ``sink(start, batch)`` as it is ready and nothing is
        returned (the whole output never sits in memory). ``acquisition`` (default: the
        predictor's) is told to a conditioned model.
        """
        if isinstance(scale, (tuple, list)):
            f_h, f_w = axis_scales(scale)
            f = f_h if f_h == f_w else (f_h, f_w)
        else:
            f_h = f_w = f = self.check_scale(scale)
        x_all = torch.as_tensor(np.asarray(slices, dtype=np.float32)) if not torch.is_tensor(slices) else slices
        n, c, h, w = x_all.shape
        per_px = max(int(net.bytes_per_lr_pixel(f)) for net in self.networks)
        # tiles start at multiples of each axis's q (the Meta-Upscale's phase period) and of a part's size multiple
        plan = tiling.plan_tiles(h, w, self.batch_size, per_px, self.memory_budget, self.halo,
                                 (math.lcm(f_h.denominator, self.size_multiple),
                                  math.lcm(f_w.denominator, self.size_multiple)))
        if plan.is_tiled(h, w):
            logger.debug("tiling %dx%d slices into %s LR tiles (halo %d)", h, w, plan.tile, plan.halo)
        c_out = 2 * c if self.uncertainty else c
        out = None if sink is not None else np.empty((n, c_out, sr_size(h, f_h), sr_size(w, f_w)), dtype=np.float32)
        told = self.check_acquisition(acquisition) or self.acquisition
        fn = self._forward(f, told)
        for i in range(0, n, plan.sub_batch):
            x = x_all[i:i + plan.sub_batch].to(self.device, dtype=torch.float32)
            y = tiling.run_tiled(fn, x, f, plan.tile, plan.halo, plan.ramp, multiple=self.size_multiple).float()
            if self.enforce_consistency:  # the whole slice: the projection couples a tile with its neighbours
                y[:, :c] = project(y[:, :c], x, f, self.consistency_operator(told)[1])[0]
            y = y.cpu().numpy()
            if sink is not None:
                sink(i, y)
            else:
                out[i:i + x.shape[0]] = y
            if on_batch is not None:
                on_batch(x.shape[0])
        return out

    def prepare(self, case: np.ndarray, scale: "ScaleLike | VolumeScale", geometry: Optional[Geometry] = None,
                source: str = "scan", warn: bool = True, slicing_axis: Optional[int] = None) -> PreparedCase:
        """Check the channel count and refined size, crop and normalise ``case`` ``(C, *spatial)`` into slices
        normal to ``slicing_axis`` (default: the plan's), and (``warn``) warn when its intensities lie far
        from the training data's (``source`` names it). ``scale``: one in-plane scale or a factor per axis."""
        self.check_case(case, source=source)
        if not isinstance(scale, VolumeScale):
            scale = VolumeScale.in_plane(self.check_scale(scale), case.ndim - 1, self.plans.slicing_axis)
        self.check_case(case, scale, source)
        spacing = geometry.array_spacing if geometry is not None else None
        prep = prepare_case(case, self.plans, scale, array_spacing=spacing, slicing_axis=slicing_axis)
        if self.uncertainty:
            prep = with_spread_channels(prep)
        if self.enforce_consistency:
            prep = dataclasses.replace(prep, clip=False)
        if warn:
            self._check_intensities(prep, source)
        return prep

    def check_case(self, case: np.ndarray, scale: Optional[VolumeScale] = None, source: str = "scan") -> None:
        """The scan ``(C, *spatial)`` has the model's channels, and refined by ``scale`` (when given) stays
        within what a NIfTI file can hold (:class:`ModelMismatchError`, :class:`ScaleError`)."""
        if case.ndim not in (3, 4) or case.shape[0] != self.plans.num_channels:
            raise ModelMismatchError(f"scan has shape {case.shape}, but the model needs "
                                     f"({self.plans.num_channels}, [z,] y, x) with channels "
                                     f"{', '.join(self.plans.channel_names)}")
        if scale is None:
            return
        refined = scale.shape(case.shape[1:])
        if max(refined) > MAX_NIFTI_DIM:
            raise ScaleError(f"{source}: factors {scale} (x y z) would give a {' x '.join(map(str, reversed(refined)))}"
                             f" image, above {MAX_NIFTI_DIM} voxels per axis; give smaller factors (-s or "
                             f"--target_spacing)")

    def _check_intensities(self, prep: PreparedCase, source: str) -> None:
        """Warn when a channel's foreground lies far from the training fingerprint's (a CT scan given to an MR
        model, or the reverse)."""
        for c, ((lo, hi), ref) in enumerate(zip(prep.foreground_range, self.training_intensities or ())):
            t_lo, t_hi = ref["percentile_00_5"], ref["percentile_99_5"]
            if self.plans.modalities[c] == "CT":
                # Hounsfield units: most of the input outside the trained range, or no fat or air where
                # the training foreground had them (not HU at all)
                inside = max(0.0, min(hi, t_hi) - max(lo, t_lo))
                far = inside < MIN_RANGE_OVERLAP * (hi - lo) or (t_lo < 0 <= lo)
            else:  # MR units are arbitrary (no range to compare), but never far below zero, unlike HU
                far = ref["min"] >= 0 and lo < -0.05 * (hi - lo)
            if far:
                logger.warning("WARNING: %s: channel %d (%s) has foreground intensities %.4g..%.4g (0.5th-99.5th "
                               "percentile), far from the training data's %.4g..%.4g: is this the right model "
                               "(e.g. a CT scan given to an MR model, or the reverse)?", source, c,
                               self.plans.channel_names[c], lo, hi, t_lo, t_hi)

    def predict_case(self, case: np.ndarray, geometry: Optional[Geometry], scale: "ScaleLike | VolumeScale",
                     out_dtype: Optional[np.dtype] = np.float32, desc: str = ""
                     ) -> Tuple[np.ndarray, Optional[Geometry]]:
        """Super-resolve one scan ``(C, z, y, x)`` (or ``(C, y, x)``) in original units.

        ``scale``: one in-plane scale, or a :class:`VolumeScale` (a factor per array axis;
        ``VolumeScale.from_xyz((1, 1, 4))`` restores a thick z axis). Returns the refined
        ``(C, *spatial')`` array (``⌊n·f⌋`` per axis; ``2C`` channels with ``uncertainty``, the standard
        deviations after the outputs) and its geometry (``None`` when ``geometry`` is ``None``).
        ``out_dtype=None`` keeps the input dtype.
        """
        case = np.asarray(case)
        vs, stages = self.plan(scale, case.ndim - 1, geometry, desc or "scan")
        if len(stages) == 1 and len(stages[0]) == 1:
            prep = self.prepare(case, vs, geometry, desc or "scan", slicing_axis=stages[0][0].slicing_axis)
            sr = self.super_resolve_prepared(prep, desc)
            return restore_case(sr, prep, out_dtype), (geometry.refined(vs) if geometry is not None else None)
        out, geom, _ = self.run_stages(case, geometry, stages, desc)
        return to_output_dtype(out, case.dtype if out_dtype is None else out_dtype), geom

    def run_stages(self, case: np.ndarray, geometry: Optional[Geometry], stages: Stages, desc: str = "",
                   check: Optional[Callable[[Pass, PreparedCase, int, np.ndarray], None]] = None
                   ) -> Tuple[np.ndarray, Optional[Geometry], PreparedCase]:
        """Run planned passes (:func:`~autosr.inference.passes.plan_passes`) on ``case`` ``(C, *spatial)``.

        Each stage's orientations are averaged in original units, and a stage's output is the next
        one's input. Memory: the refined scan once (orientations are added into it batch by batch)
        plus one prepared input. ``check(pass, prep, start, sr)`` sees every batch (trust checks).
        Returns the refined float32 scan (with ``uncertainty``, the last stage's spread channels after its
        own), its geometry and the last stage's first prepared input (what a writer needs).
        """
        last: Optional[PreparedCase] = None
        channels = case.shape[0]
        spread = case[:0]
        for stage in stages:
            acc: Optional[np.ndarray] = None
            background: List[float] = []
            first: Optional[PreparedCase] = None
            for p in stage:
                if first is not None and first.scale == p.scale:  # another orientation: cut the same prepared scan
                    prep = first.resliced(p.slicing_axis)
                else:
                    prep = first = self.prepare(case, p.scale, geometry, desc or "scan",
                                                warn=last is None and p is stage[0], slicing_axis=p.slicing_axis)
                if acc is None:
                    last = prep
                    background = [float(par.get("background", 0.0)) for par in prep.params]
                    acc = np.empty((len(background),) + p.scale.shape(case.shape[1:]), dtype=np.float32)
                    for c, b in enumerate(background):
                        acc[c] = b * len(stage)
                self._add_pass(acc, prep, background, p, desc, check)
            assert acc is not None and last is not None
            last = dataclasses.replace(last, slices=last.slices[:0], outside={})  # its metadata is what is left to use
            if len(stage) > 1:
                acc /= len(stage)
            geometry = geometry.refined(stage[0].scale) if geometry is not None else None
            case, spread = acc[:channels], acc[channels:]  # a stage refines the last one's output, not its spread
        assert last is not None
        return (np.concatenate([case, spread]) if len(spread) else case), geometry, last

    def _add_pass(self, acc: np.ndarray, prep: PreparedCase, background: Sequence[float], p: Pass, desc: str,
                  check: Optional[Callable[[Pass, PreparedCase, int, np.ndarray], None]]) -> None:
        """Add one orientation's restored output (minus the background) into ``acc`` ``(C, *refined)``."""
        sb = prep.box[p.slicing_axis] if p.slicing_axis is not None else (0, 1)

        def sink(start: int, sr: np.ndarray) -> None:
            if check is not None:
                check(p, prep, start, sr)
            for c in range(sr.shape[1]):
                full = restore_batch(sr, prep, c, np.float32, start)
                full -= background[c]
                if p.slicing_axis is None:
                    acc[c] += full[0]
                else:
                    np.moveaxis(acc[c], p.slicing_axis, 0)[sb[0] + start:sb[0] + start + len(sr)] += full
        label = f"{desc or 'slices'} ({p.describe()})"
        self.super_resolve_prepared(prep, label, sink=sink)

    def super_resolve_prepared(self, prep: PreparedCase, desc: str = "",
                               sink: Optional[Callable[[int, np.ndarray], None]] = None) -> Optional[np.ndarray]:
        """The network step of :meth:`predict_case` on a prepared case (its slices by its factors), with a
        progress bar over slices."""
        with tqdm(total=len(prep.slices), desc=desc or "slices", unit="slice", leave=False,
                  disable=not self.progress) as bar:
            return self.super_resolve(prep.slices, prep.slice_scale, on_batch=bar.update, sink=sink)

    def predict_files(self, input_path: os.PathLike | str, output_folder: os.PathLike | str,
                      scale: "None | ScaleLike | Sequence[ScaleLike] | ScaleRequest" = None,
                      target_spacing: "None | float | Sequence[float]" = None,
                      overwrite: bool = False, keep_dtype: bool = False, num_parts: int = 1, part_id: int = 0,
                      num_workers: int = 0, preview: bool = False) -> Dict[str, float]:
        """Super-resolve every scan of ``input_path`` into ``output_folder``; returns a summary dict.

        Exactly one of ``scale`` (one in-plane scale, or a factor per axis in x y z order) and
        ``target_spacing`` (mm: one in-plane value, or one per axis in x y z order). See
        :mod:`autosr.inference.run`.
        """
        from autosr.inference.run import predict_files
        return predict_files(self, input_path, output_folder, scale=scale, target_spacing=target_spacing,
                             overwrite=overwrite, keep_dtype=keep_dtype, num_parts=num_parts, part_id=part_id,
                             num_workers=num_workers, preview=preview)


__all__ = ["Predictor", "BicubicUpsampler", "ScaleError", "ModelMismatchError", "pick_device", "parse_scale",
           "DEFAULT_MEMORY_BUDGET"]
