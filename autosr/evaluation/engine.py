"""The evaluation engine shared by model evaluation and folder comparison: metrics per slice, examples.

:class:`Evaluator` scores methods' outputs against HR slices in [0, 1] (outputs clipped to
[0, 1]), keeps a few example slices for ``examples.png`` and the pairs for optional perceptual
metrics, and writes every report file in :meth:`Evaluator.finish`.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from autosr.degradation import Acquisition, kind, synthesize, thick_slices, upsample
from autosr.errors import AutoSRError
from autosr.evaluation import metrics as M
from autosr.evaluation.perceptual import PerceptualMetrics
from autosr.evaluation.plots import Example, plot_examples, plot_metrics_vs_scale
from autosr.evaluation.report import format_table, per_slice_frame, write_reports
from autosr.scales import VolumeScale, as_fraction, sr_size
from autosr.slices import has_content

if TYPE_CHECKING:
    from autosr.inference.predictor import Predictor

logger = logging.getLogger(__name__)

DEFAULT_SCALES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
BASELINES = ("bicubic", "bspline", "bilinear", "nearest")
SEED = 20210522
#: Method-name suffix of rows computed from a dataset's real (paired) LR scans.
PAIRED_SUFFIX = "(real LR)"
#: Baselines of thick-slice rows (a scale on one axis): what a toolkit or a viewer would do.
THICK_BASELINES = ("bicubic", "bspline")


class EvaluationError(AutoSRError):
    """Evaluation inputs are missing or inconsistent."""


def slice_metrics(sr: np.ndarray, hr: np.ndarray) -> Dict[str, float]:
    """PSNR, SSIM and NRMSE of one 2D slice pair in [0, 1]."""
    return {"psnr": M.psnr(sr, hr), "ssim": M.ssim(sr, hr), "nrmse": M.nrmse(sr, hr)}


class Evaluator:
    """Runs methods over (case, slice, scale) and collects rows, examples and perceptual pairs."""

    def __init__(self, scales: Sequence[float], baselines: Sequence[str], predictor: Optional["Predictor"] = None,
                 acquisitions: Optional[Dict[str, Acquisition]] = None, num_examples: int = 3,
                 device: str = "cpu", blind: bool = False) -> None:
        """``acquisitions``: how LR is made, by label; with one labelled ``planned`` methods keep their
        plain names, otherwise each row's method is suffixed ``[label]``. A model conditioned on the
        acquisition is told each one's kind (:attr:`told`) unless ``blind``."""
        unknown = [b for b in baselines if b not in BASELINES]
        if unknown:
            raise EvaluationError(f"unknown baseline(s) {', '.join(unknown)}; available: {', '.join(BASELINES)}")
        self.scales = [as_fraction(str(s)) for s in scales]
        self.baselines = list(baselines)
        self.predictor = predictor
        self.acquisitions = dict(acquisitions or {})
        known = predictor.acquisitions if predictor is not None and not blind else ()
        self.told = {label: kind(a) if kind(a) in known else None for label, a in self.acquisitions.items()}
        self.rows: List[Dict[str, Any]] = []
        self.examples: List[Example] = []
        self.num_examples = num_examples
        self.perceptual = PerceptualMetrics(device)
        self.gen = torch.Generator().manual_seed(SEED)

    def add_case(self, case: str, vol: np.ndarray, slices: List[int], example_slice: Optional[int]) -> None:
        """Evaluate ``vol`` ``(C, S, H, W)`` in [0, 1] on ``slices`` at every scale."""
        hr_all = torch.as_tensor(np.ascontiguousarray(vol[:, slices], dtype=np.float32)).transpose(0, 1)
        plain = list(self.acquisitions) == ["planned"]
        for label, acq in self.acquisitions.items():
            suffix = "" if plain else f" [{label}]"
            for s in self.scales:
                lr = synthesize(hr_all, s, acq, self.gen)
                h, w = sr_size(lr.shape[-2], s), sr_size(lr.shape[-1], s)
                hr = hr_all[..., :h, :w].numpy()
                outs = {f"model{suffix}": self.predictor.super_resolve(lr.numpy(), s, acquisition=self.told[label])}
                for b in self.baselines:
                    outs[f"{b}{suffix}"] = upsample(lr, s, mode=b).numpy()
                self.score(case, slices, float(s), hr, outs, lr.numpy(), example_slice)

    def add_thick(self, case: str, vol: np.ndarray, axis: int, factors: Sequence[Fraction], profile: str,
                  gap: float, example_slice: Optional[int]) -> None:
        """Thick slices along ``axis`` (0, 1, 2 of ``vol`` ``(C, S, H, W)`` in [0, 1]) restored by each factor.

        Each thick slice is ``f`` thin ones through the plan's slice ``profile`` and ``gap``
        (:func:`autosr.degradation.thick_slices`); the model restores them through the passes of
        ``autosr_predict`` (:meth:`Predictor.predict_case` with a factor on that axis: both orientations
        containing it), the baselines (bicubic and cubic B-spline) along the axis alone. Scored on the
        slices along ``S`` of the restored extent (``⌊n/f⌋·f`` along ``axis``); methods get ``[thick]``.
        """
        dim = 1 + axis
        others = [d for d in (1, 2, 3) if d != dim]
        order = (others[0], 0, dim, others[1])  # planes containing the thick axis: (B, C, thick, other)
        back = tuple(int(i) for i in np.argsort(order))
        planes = torch.from_numpy(np.array(vol, dtype=np.float32)).permute(*order)  # a copy: vol may be a memmap
        for f in factors:
            lr = thick_slices(planes, (f, 1), profile, (gap, 0.0)).clamp(0.0, 1.0)
            n = sr_size(lr.shape[2], f)
            hr = planes[:, :, :n].permute(*back).numpy()
            lr_vol = np.ascontiguousarray(lr.permute(*back).numpy())
            vs = VolumeScale(tuple(f if k == axis else Fraction(1) for k in range(3)))
            outs = {"model [thick]": self.predictor.predict_case(lr_vol, None, vs, desc=case)[0]}
            for b in THICK_BASELINES:
                up = upsample(lr.double() if b == "bspline" else lr, (f, 1), mode=b).float()
                outs[f"{b} [thick]"] = up.permute(*back).numpy()
            slices = [i for i in range(hr.shape[1]) if has_content(hr[:, i])]
            sl_outs = {m: np.ascontiguousarray(o[:, slices].transpose(1, 0, 2, 3)) for m, o in outs.items()}
            self.score(case, slices, float(f), np.ascontiguousarray(hr[:, slices].transpose(1, 0, 2, 3)), sl_outs,
                       None, example_slice)

    def add_pair(self, case: str, vol: np.ndarray, lr_vol: np.ndarray, scale: Fraction, slices: List[int],
                 example_slice: Optional[int]) -> None:
        """Evaluate a real LR scan ``lr_vol`` ``(C, S, h, w)`` against its HR ``vol`` at the pair's scale.

        LR pixel ``k`` covers HR pixels ``[k·s, (k+1)·s)`` (paired preprocessing aligns the first
        edges), so the SR is compared with ``HR[..., :⌊h·s⌋, :⌊w·s⌋]``. Methods are reported as
        ``"model (real LR)"``, ``"bicubic (real LR)"``, …
        """
        lr = torch.as_tensor(np.ascontiguousarray(lr_vol[:, slices], dtype=np.float32)).transpose(0, 1)
        h, w = sr_size(lr.shape[-2], scale), sr_size(lr.shape[-1], scale)
        hr = np.ascontiguousarray(vol[:, slices]).transpose(1, 0, 2, 3)[..., :h, :w]
        if hr.shape[-2:] != (h, w):
            raise EvaluationError(f"case {case!r}: LR {tuple(lr.shape[-2:])} × {float(scale):g} exceeds HR "
                                  f"{tuple(vol.shape[-2:])}; re-run autosr_preprocess")
        outs = {f"model {PAIRED_SUFFIX}": self.predictor.super_resolve(lr.numpy(), scale)}
        for b in self.baselines:
            outs[f"{b} {PAIRED_SUFFIX}"] = upsample(lr, scale, mode=b).numpy()
        self.score(case, slices, float(scale), hr, outs, lr.numpy(), example_slice)

    def score(self, case: str, slices: Sequence[int], scale: Optional[float], hr: np.ndarray,
               outs: Dict[str, np.ndarray], lr: Optional[np.ndarray], example_slice: Optional[int]) -> None:
        key = "n/a" if scale is None else f"{scale:g}"
        for method, out in outs.items():
            out = np.clip(out, 0.0, 1.0)
            outs[method] = out
            for i, sl in enumerate(slices):
                for c in range(hr.shape[1]):
                    row = {"case": case, "slice": sl, "channel": c, "scale": scale, "method": method}
                    row.update(slice_metrics(out[i, c], hr[i, c]))
                    self.rows.append(row)
                    self.perceptual.add(key, method, out[i, c], hr[i, c])
        if example_slice in slices and len(self.examples) < self.num_examples * max(1, len(self.scales)):
            i = list(slices).index(example_slice)
            self.examples.append(Example(case, example_slice, scale, hr[i, 0],
                                         {m: o[i, 0] for m, o in outs.items()},
                                         None if lr is None else np.clip(lr[i, 0], 0, 1)))

    def finish(self, folder: Path, extra: Dict[str, Any], title: str) -> Dict[str, Any]:
        if not self.rows:
            raise EvaluationError("nothing was evaluated: every slice was empty background")
        extra = dict(extra)
        extra["perceptual"] = self.perceptual.compute() if self.perceptual.enabled else {"status": self.perceptual.state}
        extra["title"] = title
        summary = write_reports(folder, per_slice_frame(self.rows), extra)
        if any(k != "n/a" for k in summary["scales"]):
            plot_metrics_vs_scale(summary, folder / "metrics_vs_scale.png")
        if self.examples:
            plot_examples(_spread(self.examples, self.num_examples), folder / "examples.png")
        print(f"{title}\n{format_table(summary)}")
        return summary


def _spread(examples: List[Example], n_rows: int) -> List[Example]:
    """Up to ``n_rows`` examples spread over the cases and scales (smallest, middle, largest scale)."""
    if len(examples) <= n_rows:
        return examples
    idx = np.linspace(0, len(examples) - 1, n_rows).round().astype(int)
    return [examples[i] for i in sorted(set(idx))]


__all__ = ["Evaluator", "EvaluationError", "slice_metrics", "DEFAULT_SCALES", "BASELINES", "THICK_BASELINES"]
