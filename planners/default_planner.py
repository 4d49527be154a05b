"""``DefaultPlanner``: turns a dataset fingerprint into ``autosrPlans.json`` (documentation/plans.md).

One method per decision, each returning its plans section with a short ``why``; subclass and
override one method to change one decision (see ``documentation/plans.md``). Knobs are class
attributes. Hand edits of an earlier plans file are applied stage by stage (so a hand-set slicing
axis changes the patch planned after it), checked against the data, and reverted with a warning
when invalid.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from autosr.errors import AutoSRError
from autosr.normalization import default_channel_plan
from autosr.plans import ScalePlan, TrainingConfig, dotted, fmt_size, kinds_of, plans_problems, slice_sizes
from autosr.planners import cost_model as cm
from autosr.preprocessing.replan import set_path
from autosr.scales import lr_size

logger = logging.getLogger(__name__)
Problem = Tuple[Tuple[Any, ...], str]


class PlanningError(AutoSRError):
    """The dataset cannot be planned (e.g. slices too small); the message says what to do."""


def _default_sigma(kernel_size: int) -> float:
    """OpenCV's σ for a k×k Gaussian (= autosr.degradation.default_sigma, without importing torch)."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8 if kernel_size > 1 else 0.0


class DefaultPlanner:
    """Plans ``2d`` (the paper's set-up, robust to the acquisition), ``2d_cpu`` (a short CPU run of it) and
    ``2d_paper`` (the paper exactly: its single degradation recipe)."""

    plans_name = "autosrPlans"
    data_identifier = "autosrPlans_2d"
    paper_patch = 96                 # MIASSR §4.3
    paper_batch = 16
    min_lr_patch = 12                # px; ⌊P / s_max⌋ must stay ≥ this
    scale_max = 4.0                  # MIASSR trains and tests on (1, 4]
    single_axis_min_max = 6.0        # a thick axis is refined at least up to this (5–6 mm slices to 1 mm)
    min_scale_max = 2.0              # below ×2 a model is not worth planning: the dataset is rejected
    scale_step = 0.05
    scale_sampling = "grid"
    told_probability = 0.8           # share of training patches whose acquisition kind the network is told
    single_axis_probability = 0.25   # share of batches refining one axis only (thick slices), 2d (long schedule)
    cpu_single_axis_probability = 0.5  # 2d_cpu: its warm-up is lengthened so in-plane batches keep their number
    self_supervised_probability = 0.5  # that share when every scan is thick-slice (no isotropic scan to learn from)
    thick_ratio = 2.0                # a scan whose coarsest spacing is this many times its finest is thick-slice
    inplane_margin = 4               # px of background kept around the foreground in-plane
    default_gpu_memory_gb = 8.0
    cpu_memory_gb = 4.0
    cpu = dict(cm.CPU_CONFIG)

    def __init__(self, fingerprint: Mapping[str, Any], gpu_memory_target: Optional[float] = None) -> None:
        self.fp = fingerprint
        self.gpu_memory_gb = float(gpu_memory_target) if gpu_memory_target else self.default_gpu_memory_gb
        self.num_channels = len(fingerprint["channel_names"])
        self.cases: Dict[str, Any] = dict(fingerprint["cases"])
        self._edits: Dict[Tuple[Any, ...], Any] = {}

    @property
    def min_patch(self) -> int:
        return math.ceil(self.min_lr_patch * self.min_scale_max)

    def configuration_names(self) -> List[str]:
        return ["2d", "2d_cpu", "2d_paper"]

    @staticmethod
    def is_cpu(name: str) -> bool:
        """The short CPU run (``2d_cpu``); ``2d`` and ``2d_paper`` follow the paper's schedule."""
        return name == "2d_cpu"

    # -- the whole plan ------------------------------------------------------------------
    def plan(self, edits: Optional[Mapping[Tuple[Any, ...], Any]] = None) -> Dict[str, Any]:
        """Fresh plans with hand ``edits`` (path → value) applied where still valid."""
        self._edits = dict(edits or {})
        for _ in range(10):
            try:
                raw = self._plan_once()
            except PlanningError:
                raise
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                if not self._edits:
                    raise
                # an edit of the wrong type broke a later decision: keep none rather than guess which
                logger.warning("Your edits of the plans could not be applied (%s: %s); re-planned without "
                               "them: %s", type(exc).__name__, exc, ", ".join(dotted(p) for p in self._edits))
                self._edits = {}
                continue
            problems = self.check(raw)
            if not problems:
                return json.loads(json.dumps(raw))         # JSON-native (lists, not tuples), as on disk
            bad = [p for p in self._edits if any(p[:len(prefix)] == prefix or prefix[:len(p)] == p
                                                 for prefix, _ in problems)]
            if not bad:
                raise PlanningError(f"planner {type(self).__name__} produced invalid plans: "
                                    + "; ".join(f"{dotted(path)} {m}" for path, m in problems))
            for p in bad:
                logger.warning("Your edit %s = %r is no longer valid (%s); re-planned instead", dotted(p),
                               self._edits.pop(p), "; ".join(f"{dotted(path)} {m}" for path, m in problems
                                                              if p[:len(path)] == path or path[:len(p)] == p))
        raise PlanningError("could not reconcile the hand edits with the data; re-plan with --clean")

    def _apply(self, prefix: Tuple[Any, ...], section: Any) -> Any:
        """Apply the hand edits under ``prefix`` to ``section`` and say so in its ``why``."""
        applied = []
        for path, value in self._edits.items():
            if path[:len(prefix)] == prefix and len(path) > len(prefix):
                if set_path(section, path[len(prefix):], value):
                    applied.append(f"{dotted(path[len(prefix):])}={value!r}")
        if applied and isinstance(section, dict):
            section["why"] = (section.get("why", "") + " Kept from your edit: " + ", ".join(applied) + ".").strip()
        return section

    def _plan_once(self) -> Dict[str, Any]:
        raw: Dict[str, Any] = {"dataset_name": self.fp["dataset_name"], "plans_name": self.plans_name,
                               "planner": type(self).__name__, "channel_names": list(self.fp["channel_names"]),
                               "modalities": list(self.fp["modalities"])}
        raw["slicing"] = self._apply(("slicing",), self.plan_slicing())
        raw["crop"] = self._apply(("crop",), self.plan_crop(int(raw["slicing"]["axis"])))
        norm = self.plan_normalization()
        for c, entry in enumerate(norm):
            self._apply(("normalization", c), entry)
        raw["normalization"] = norm
        raw["configurations"] = {n: self.plan_configuration(n, raw) for n in self.configuration_names()}
        return raw

    def plan_configuration(self, name: str, raw: Mapping[str, Any]) -> Dict[str, Any]:
        pre = ("configurations", name)
        degradation = self._apply(pre + ("degradation",), self.plan_degradation(name))
        network = self._apply(pre + ("network",), self.plan_network(name, degradation))
        patch = self._apply(pre + ("patch",), self.plan_patch(name, raw, network))
        step = self.cpu["scale_step"] if self.is_cpu(name) else self.scale_step
        share = 0.0 if name == "2d_paper" else (self.cpu_single_axis_probability if self.is_cpu(name)
                                                 else self.single_axis_probability)
        scales = self._apply(pre + ("scales",), self.plan_scales(min(patch["size"]), step, single_axis=share))
        conf = {"data_identifier": self.data_identifier, "patch": patch, "scales": scales,
                "degradation": degradation, "network": network,
                "critic": self._apply(pre + ("critic",), self.plan_critic(name)),
                "training": self._apply(pre + ("training",), self.plan_training(name, patch, network, scales))}
        conf["why"] = {"2d": "the MIASSR paper's set-up (§4.3), sized to this dataset, trained on a distribution of "
                             "acquisitions so it helps whatever made the low resolution",
                       "2d_paper": "the MIASSR paper exactly (§4.3): its schedule and its single degradation recipe, "
                                   "for reproducing the paper (a model of this recipe can harm other inputs)",
                       }.get(name, f"a short run for CPU-only machines (≈{self.cpu['minutes']:g} min), same data as 2d")
        return conf

    # -- decisions ---------------------------------------------------------------------------
    def plan_slicing(self) -> Dict[str, Any]:
        fp = self.fp
        if fp["ndim"] == 2:
            return {"axis": 0, "why": "2D images: each image is one slice"}
        med_shape, med_sp = fp["shape"]["median"], fp["spacing"]["median"]
        sp = ", ".join(f"{v:g}" for v in med_sp)
        singleton = [a for a, n in enumerate(med_shape) if n == 1]
        if singleton:
            return {"axis": singleton[0], "why": f"the images are single slices along array axis {singleton[0]}"}
        if fp["through_plane_axis"] is not None:
            a = int(fp["through_plane_axis"])
            inplane = max(v for k, v in enumerate(med_sp) if k != a)
            return {"axis": a, "why": f"median spacing ({sp}) mm in array order: axis {a} is "
                                      f"{med_sp[a] / inplane:.1f}× coarser than in-plane, so slices are taken "
                                      f"orthogonal to it and SR refines the finer in-plane grid"}
        if fp.get("acquisition_axis") is not None:
            a = int(fp["acquisition_axis"])
            return {"axis": a, "why": f"near-isotropic spacing ({sp}) mm; the NIfTI header names array axis {a} "
                                      f"as the acquisition (slice) axis"}
        return {"axis": 0, "why": f"near-isotropic spacing ({sp}) mm and no acquisition axis in the headers: "
                                  f"the last image axis (NIfTI k / ITK z, array axis 0), along which volumes are stacked"}

    def plan_crop(self, axis: int) -> Dict[str, Any]:
        m = self.inplane_margin
        margin = [0 if k == axis else m for k in range(3)]
        return {"margin": margin, "why": f"crop box = foreground bounding box + {m} px in-plane (background context "
                                         f"for the 3×3 blur and the border of patches), + 0 along the slicing axis "
                                         f"(slices without foreground carry nothing to learn); clamped to the image, "
                                         f"so no foreground voxel is ever removed"}

    def plan_normalization(self) -> List[Dict[str, Any]]:
        out = []
        for c, (name, modality) in enumerate(zip(self.fp["channel_names"], self.fp["modalities"])):
            entry = default_channel_plan(modality)
            if modality == "CT":
                st = self.fp["intensity"][c]
                entry["lower"], entry["upper"] = round(st["percentile_00_5"], 2), round(st["percentile_99_5"], 2)
                entry["why"] = (f"channel {name!r} is CT: one HU window for the dataset, the 0.5–99.5 percentiles of the "
                                f"foreground ([{entry['lower']:g}, {entry['upper']:g}] HU), clipped then scaled to [0, 1]")
            else:
                entry["why"] = (f"channel {name!r} is MR (no absolute unit): per case, from the background level to "
                                f"the 99.5th foreground percentile, clipped then scaled to [0, 1]")
            out.append(entry)
        return out

    def slice_sizes(self, axis: int, margin: List[int]) -> Tuple[np.ndarray, np.ndarray, List[str]]:
        """In-plane (H, W) of every case after cropping, of the full image, and the case names."""
        return slice_sizes(self.fp, axis, margin)

    def _batch(self, patch: int, network: Mapping[str, Any], budget_gb: float, fixed_gb: float, cap: int) -> int:
        per = cm.memory_per_sample_gb(patch, int(network["width"]), int(network["depth"]), self.num_channels)
        return min(cap, int((budget_gb - fixed_gb) // per))

    def plan_patch(self, name: str, raw: Mapping[str, Any], network: Mapping[str, Any]) -> Dict[str, Any]:
        cropped, full, names = self.slice_sizes(int(raw["slicing"]["axis"]), list(raw["crop"]["margin"]))
        smallest = full.min(1)
        if smallest.min() < self.min_patch:
            small = [f"{names[i]} ({fmt_size(full[i])} px)" for i in np.flatnonzero(smallest < self.min_patch)]
            raise PlanningError(f"case(s) {', '.join(small)} are smaller than the minimum patch of {self.min_patch}×"
                                f"{self.min_patch} px (an LR patch of ≥ {self.min_lr_patch} px at scale "
                                f"{self.min_scale_max:g}); remove them from imagesTr or use larger images")
        med = np.median(cropped, 0)
        p_med, p_img = int(med.min()), int(smallest.min())
        if p_med < self.min_patch:
            raise PlanningError(f"the median cropped slice ({fmt_size(med)} px) is smaller than the minimum patch "
                                f"{self.min_patch} px; AutoSR needs larger slices")
        cpu = self.is_cpu(name)
        budget = self.cpu["patch"] if cpu else self.paper_patch
        size = min(budget, p_med, p_img)
        why = [f"HR patch {size}×{size}: min of the compute budget {budget} px"
               + (" (paper: 96)" if not cpu else " (CPU run)") + f", the median cropped slice {fmt_size(med)} px"
               + f" and the smallest image side {p_img} px (case {names[int(np.argmin(smallest))]})"]
        mem_gb, fixed, cap = ((self.cpu_memory_gb, cm.FIXED_CPU_GB, self.cpu["batch"]) if cpu
                              else (self.gpu_memory_gb, cm.FIXED_GPU_GB, self.paper_batch))
        batch = self._batch(size, network, mem_gb, fixed, cap)
        while batch < 2 and size - 8 >= self.min_patch:
            size -= 8
            batch = self._batch(size, network, mem_gb, fixed, cap)
            why.append(f"reduced to {size} px to fit 2 samples in memory")
        batch = max(1, batch)
        est = cm.memory_per_sample_gb(size, int(network["width"]), int(network["depth"]), self.num_channels)
        why.append(f"batch {batch}: {'the CPU run' if cpu else 'the paper'}'s {cap}, capped by a "
                   f"{mem_gb:g} GB {'CPU memory' if cpu else 'GPU memory target (--gpu_memory_target)'} at an "
                   f"estimated {est:.2f} GB per sample + {fixed:g} GB fixed")
        return {"size": [size, size], "batch_size": batch, "min_lr_patch": self.min_lr_patch, "why": "; ".join(why)}

    def plan_scales(self, patch: int, step: Optional[float] = None, single_axis: float = 0.25) -> Dict[str, Any]:
        """The scale distribution; ``single_axis``: the share of one-axis batches (thick slices), so the model
        restores a thick axis (``autosr_predict -s 1 1 4``) as well as in-plane scales (0: in-plane only)."""
        step = self.scale_step if step is None else step
        grid = ScalePlan(max=self.scale_max, sampling="grid", step=step).values()
        ok = [s for s in grid if lr_size(patch, str(round(s, 6))) >= self.min_lr_patch]
        s_max = round(max(ok), 6) if ok else self.min_scale_max
        why = (f"scales (1, {s_max:g}] on a grid of step {step:g} ({len(ok)} scales; the reference code "
               f"trained on 30 fixed ones), one drawn per batch; grid scales are short fractions, for which the "
               f"Meta-Upscale is exact and fast" + (" (a coarser grid on CPU: cost grows with the fraction's "
                                                    "numerator)" if step != self.scale_step else ""))
        if s_max < self.scale_max:
            why += (f". s_max reduced from {self.scale_max:g}: the {patch}-px patch gives an LR patch "
                    f"⌊{patch}/{self.scale_max:g}⌋ = {lr_size(patch, self.scale_max)} px < the minimum "
                    f"{self.min_lr_patch} px (slices are small)")
        ratio = self.largest_spacing_ratio()
        single_max = max(self.single_axis_min_max, math.ceil(ratio / step) * step)
        thick = self.all_thick_slice()
        share = max(self.self_supervised_probability, single_axis) if thick and single_axis else single_axis
        why += (f". {share:.0%} of batches refine one axis only, (s, 1) or (1, s), with the planned slice profile, "
                f"up to {single_max:g}: at least {self.single_axis_min_max:g} (5–6 mm slices to 1 mm) and the "
                f"largest through-plane/in-plane spacing ratio of the data ({ratio:.3g}); so one model restores a "
                f"thick slice axis (autosr_predict -s 1 1 f) as well as in-plane scales" if share else
                ". No one-axis batches (the paper's in-plane scales only)")
        if share and thick:
            why += (f". Every scan is thick-slice (coarsest/finest spacing ≥ {self.thick_ratio:g}), so there is no "
                    f"fine slice axis to learn from: training is self-supervised, the scans' own fine in-plane detail "
                    f"thickened along one in-plane axis with the slice profile to mimic the thick axis (the SMORE "
                    f"idea), {share:.0%} of batches, and prediction restores the thick axis (autosr_predict -s 1 1 f)")
        return {"max": s_max, "sampling": self.scale_sampling, "step": step, "single_axis_probability": share,
                "single_axis_max": round(single_max, 6), "why": why}

    def all_thick_slice(self) -> bool:
        """Every (3D) case has a slice axis at least ``thick_ratio`` times coarser than its finest axis."""
        ratios = [max(c["spacing"]) / min(c["spacing"]) for c in self.cases.values()
                  if len(c["spacing"]) == 3 and min(c["spacing"]) > 0]
        return bool(ratios) and min(ratios) >= self.thick_ratio

    def largest_spacing_ratio(self) -> float:
        """The largest ratio of a case's coarsest spacing to its finest (1 for isotropic data)."""
        ratios = [max(c["spacing"]) / min(c["spacing"]) for c in self.cases.values() if min(c["spacing"]) > 0]
        return max(ratios, default=1.0)

    def paired_scales(self) -> List[float]:
        """In-plane LR/HR spacing ratios of the paired cases (empty when not paired)."""
        axis = int(self.plan_slicing()["axis"])
        out = []
        for info in self.cases.values():
            if info.get("lowres"):
                lr_sp, hr_sp = info["lowres"]["spacing"], info["spacing"]
                out += [lr_sp[k] / hr_sp[k] for k in range(len(hr_sp)) if len(hr_sp) == 2 or k != axis]
        return out

    def plan_degradation(self, name: str = "2d") -> Dict[str, Any]:
        sigma = round(_default_sigma(3), 4)
        # 2d and 2d_paper keep the paper's resize (no antialiasing) as reference recipe. The short CPU
        # run's reference models the LR voxel as averaging what it covers (antialiased resampling):
        # with the 3×3 blur alone, s > 3 leaves aliased LR samples from which no filter recovers more
        # than bicubic does (measured: even a least-squares 7×7 correction of bicubic gains nothing at
        # 4× on BraTS).
        antialias = self.is_cpu(name)
        base = {"mode": "synthetic", "kernel_size": 3, "sigma": sigma, "noise_std": 0.0, "antialias": antialias}
        if self.fp.get("paired"):
            r = self.paired_scales()
            return dict(base, mode="paired", why=f"lowresTr holds real LR scans (MESR): training pairs are those "
                        f"scans (in-plane scale {min(r):.3g}–{max(r):.3g}) instead of eq. 1; the blur settings "
                        f"apply only to validation at other scales")
        how = ("bicubic downsampling by s, as the paper's resize (no antialiasing)" if not antialias else
               "antialiased bicubic downsampling by s, so each LR voxel averages the area it covers like a real "
               "thicker voxel (without it, aliasing at s > 3 leaves nothing a short run can learn beyond bicubic)")
        reference = (f"Reference recipe (validation, `autosr_evaluate --degradation planned`): MIASSR eq. 1, 3×3 "
                     f"Gaussian blur (σ = {sigma:g}, OpenCV's default for 3×3) then {how}; noise off")
        if name == "2d_paper":
            return dict(base, families=[], noise={"model": "none"},
                        why=reference + ". Training uses this recipe only, as the paper did (no families).")
        families, noise, why = self.acquisition_distribution()
        profile = {"profiles": ["boxcar"], "gap": [0.0, 0.0],
                   "why": "one-axis batches make thick slices as the mean of the thin slices they cover (boxcar, the "
                          "ideal 2D multi-slice profile; add gaussian for a soft profile, a gap in slice thicknesses "
                          "for gapped acquisitions)"}
        return dict(base, families=families, noise=noise, told_probability=self.told_probability, slice_profile=profile,
                    why=reference + ". " + why + f". The network is told the kind of each patch's acquisition "
                    f"(network.acquisitions) for {self.told_probability:.0%} of patches, the rest train blind: "
                    f"told, it does not have to hedge between acquisitions it cannot tell apart from the image "
                    f"(autosr_predict --acquisition); blind, it still serves scans of unknown origin")

    def acquisition_distribution(self) -> Tuple[List[Dict[str, Any]], Dict[str, Any], str]:
        """The families, noise and reason of the training distribution, from the dataset's modalities."""
        psf = {"name": "gaussian_psf", "sigma": [0.5, 1.0], "kernel_size": 3, "antialias_probability": 0.5,
               "why": "Gaussian PSF + bicubic resampling with or without antialiasing: the papers' recipe (σ 0.8, "
                      "no antialiasing) and its neighbours"}
        area = {"name": "area", "why": "each LR voxel the mean of what it covers (an ideal thick voxel)"}
        if all(m == "CT" for m in self.fp["modalities"]):
            families = [dict(psf, weight=0.35), dict(area, weight=0.15),
                        {"name": "ct_like", "weight": 0.5, "fwhm": [0.7, 1.5],
                         "why": "a reconstruction kernel: Gaussian of FWHM 0.7–1.5 LR voxels (soft to sharp)"}]
            noise = {"model": "gaussian", "snr": [20.0, 200.0], "probability": 0.5,
                     "why": "CT quantum noise is close to Gaussian in the reconstructed image; SNR 20–200 spans "
                            "low-dose to standard-dose soft tissue in a [0, 1] HU window"}
            why = ("CT: low resolution comes from the reconstruction kernel and the detector, with quantum noise, so "
                   "the CT kernel family and Gaussian noise join the papers' recipe")
        else:
            families = [dict(psf, weight=0.45), dict(area, weight=0.1),
                        {"name": "kspace", "weight": 0.45, "windows": ["none", "fermi"],
                         "why": "an MR scanner's smaller matrix: central k-space, unfiltered or with the mild Fermi "
                                "filter scanners apply by default, magnitude image (Gibbs ringing); strong Hann or "
                                "Hamming apodisation blurs like a PSF, which the Gaussian PSF family covers"}]
            noise = {"model": "rician", "snr": [15.0, 150.0], "probability": 0.3,
                     "why": "MR magnitude images carry Rician noise; SNR 15–150 spans clinical scans, and 70 % of "
                            "patches stay noise-free so clean input is not smoothed"}
            why = ("MR: a real low-resolution scan is a truncated k-space (often apodised) with Rician noise, so the "
                   "k-space family and Rician noise join the papers' recipe; a model of one recipe harms the others")
        return families, noise, ("Training draws each patch's acquisition from these families by weight (ranges "
                                 "uniformly, SNR log-uniformly): " + why)

    def plan_network(self, name: str, degradation: Mapping[str, Any]) -> Dict[str, Any]:
        kinds = list(kinds_of(degradation.get("families", ()))) if degradation.get("told_probability", 0) > 0 else []
        told = (f"; told the acquisition's kind ({', '.join(kinds)}: a learned modulation of each residual block)"
                if kinds else "")
        per_axis = name != "2d_paper"
        axes = ("; the Meta-Upscale reads one 1/s per axis (R_i, R_j, 1/s_i, 1/s_j), so it refines rows and columns "
                "by different factors (a thick axis)" if per_axis else "")
        if not self.is_cpu(name):
            return {"name": "MetaSR", "in_channels": self.num_channels, "width": 64, "depth": 16, "res_scale": 1.0,
                    "mlp_hidden": 256, "bias": True, "upsample_skip": "none", "acquisitions": kinds,
                    "per_axis_scale": per_axis,
                    "why": "MIASSR generator: 16 residual blocks of width 64, Meta-Upscale MLP 256" + told + axes}
        c = self.cpu
        return {"name": "MetaSR", "in_channels": self.num_channels, "width": c["width"], "depth": c["depth"],
                "res_scale": 1.0, "mlp_hidden": c["mlp_hidden"], "bias": True, "upsample_skip": c["upsample_skip"],
                "acquisitions": kinds, "per_axis_scale": per_axis,
                "why": f"smaller body (width {c['width']}, depth {c['depth']}) for CPU speed; a bicubic skip makes the "
                       f"untrained model equal bicubic, so a short run learns only the residual" + told + axes}

    def plan_critic(self, name: str) -> Dict[str, Any]:
        if not self.is_cpu(name):
            return {"name": "WGANCritic", "in_channels": self.num_channels, "num_blocks": 7, "base_width": 64,
                    "why": "MIASSR/SRGAN critic: 7 down-sampling blocks, no batch norm"}
        return {"name": "WGANCritic", "in_channels": self.num_channels, "num_blocks": self.cpu["critic_blocks"],
                "base_width": self.cpu["critic_width"], "why": "a lighter critic for the short GAN phase on CPU"}

    def plan_training(self, name: str, patch: Mapping[str, Any], network: Mapping[str, Any],
                      scales: Mapping[str, Any]) -> Dict[str, Any]:
        t = dataclasses.asdict(TrainingConfig())
        s_max = float(scales["max"])
        vals = [v for v in t["val_scales"] if v <= s_max + 1e-9]
        t["val_scales"] = vals + ([s_max] if not vals or vals[-1] < s_max else [])
        if not self.is_cpu(name):
            t["why"] = ("MIASSR §4.3: 1e5 L1 warm-up steps then 1e5 GAN steps (λ=1, γ=0.001, η=0.006), Adam 1e-4 "
                        "halved every 5e4, losses above 1e8 discarded; validation scales ≤ s_max")
            return t
        c = self.cpu
        grid = ScalePlan(max=s_max, sampling="grid", step=float(scales.get("step", self.scale_step))).values()
        p, b = int(min(patch["size"])), int(patch["batch_size"])
        step_s = cm.cpu_step_seconds(p, b, int(network["width"]), int(network["depth"]), self.num_channels, grid)
        train_s = c["minutes"] * 60.0 * (1.0 - c["validation_fraction"])
        share = float(scales.get("single_axis_probability", 0.0))
        in_plane = max(10, int(train_s * (1 - c["gan_fraction"]) / step_s) // 10 * 10)
        warm = int(in_plane / (1.0 - min(share, 0.9))) // 10 * 10  # in-plane batches keep their number
        gan = max(10, int(train_s * c["gan_fraction"] / (cm.GAN_STEP_FACTOR * step_s)) // 10 * 10)
        t.update(warmup_steps=warm, gan_steps=gan, lr=c["lr"], critic_lr=c["lr"], lr_halve_every=max(10, warm // 2),
                 perceptual="auto", val_every=c["val_every"], checkpoint_every=c["val_every"],
                 val_max_slices=c["val_max_slices"], num_workers=c["num_workers"])
        total = (warm + cm.GAN_STEP_FACTOR * gan) * step_s / (1.0 - c["validation_fraction"])
        t["why"] = (f"≈{total / 60:.0f} min on a 2-core CPU: {warm} L1 warm-up + {gan} GAN steps at an estimated "
                    f"{step_s:.2f} s per L1 step ({cm.CPU_SECONDS_PER_GMAC:g} s/GMAC, planners/cost_model.py), GAN steps "
                    f"{cm.GAN_STEP_FACTOR:g}× dearer, {c['validation_fraction']:.0%} for validation; lr {c['lr']:g} "
                    f"halved every {max(10, warm // 2)} steps; perceptual loss only if VGG weights are available"
                    + (f". The warm-up is {1 / (1 - min(share, 0.9)):.2g}× the {in_plane} steps of "
                       f"{c['minutes']:g} min, so that in-plane batches keep their number beside the {share:.0%} "
                       f"one-axis batches (scales.single_axis_probability)" if share else ""))
        return t

    # -- validity (hand edits) ---------------------------------------------------------------
    def check(self, raw: Mapping[str, Any]) -> List[Problem]:
        """Problems of ``raw`` against the data, each with the plans path it concerns: the rules every
        reader of the plans applies (:func:`autosr.plans.plans_problems`), and the planner's own that
        a patch stays within the median cropped slice."""
        problems = plans_problems(raw, self.fp)
        if problems:
            return problems
        cropped, _, _ = self.slice_sizes(raw["slicing"]["axis"], raw["crop"]["margin"])
        med = np.median(cropped, 0)
        return [(("configurations", name, "patch", "size"), f"{d['patch']['size']} exceeds the median cropped "
                                                            f"slice {fmt_size(med)} px")
                for name, d in raw["configurations"].items() if any(s > m for s, m in zip(d["patch"]["size"], med))]
