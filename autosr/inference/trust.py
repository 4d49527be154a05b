"""Do no harm: how far an input lies from what the model was trained for, and how well its output explains it.

Per predicted scan, :class:`TrustCheck` measures

- the input's noise: estimated SNR (:func:`autosr.degradation.estimate.estimate_snr`) against the
  SNR range of the model's training distribution (``degradation.noise``); a noisier input than any
  the model saw is outside what it was trained for: it may keep or sharpen the noise;
- the output's data consistency: the output acquired again by each family of the training
  distribution, against the input (:func:`autosr.degradation.estimate.consistency_error`); the
  smallest relative RMSE is recorded, and a large one means the output holds structure the input
  cannot support (or the input was acquired in a way none of the families models). The error under
  the planned degradation (the operator ``--enforce_consistency`` projects onto) is recorded too.

Both go to the log as warnings with the numbers when outside, and into the case's sidecar record
(``{case}.autosr.json``, key ``checks``). documentation/degradation.md says what they mean.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from autosr.degradation.acquisition import NAMED, Acquisition, recipe
from autosr.degradation.consistency import error as operator_error
from autosr.degradation.estimate import consistency_error, estimate_snr
from autosr.plans import Configuration
from autosr.scales import AxisScales

logger = logging.getLogger(__name__)

#: The SNR a model trained without noise is taken to handle.
NOISELESS_SNR = 20.0
#: Warn below this share of the lowest trained SNR: the estimate reads texture as noise (a clean
#: dev scan at ×4 reads SNR 9–35, documentation/degradation.md), so only a much noisier input is flagged.
NOISE_MARGIN = 0.5
#: Relative RMSE above which the output is said not to explain its input (in-distribution dev
#: inputs stay below 0.03 for the family that made them; documentation/degradation.md).
MAX_CONSISTENCY_ERROR = 0.06
#: At most this many slices (evenly spread) are measured per scan: enough for a scan-level number, and
#: the checks then cost a few percent of a prediction.
MAX_SLICES = 8
#: Each family of a plan, as the acquisitions its output is checked against.
_REPRESENTATIVES = {"gaussian_psf": ("paper", "antialiased"), "area": ("area",), "kspace": ("kspace",),
                    "ct_like": ("ct",)}


def checked_families(config: Optional[Configuration]) -> List[Tuple[str, Acquisition]]:
    """(label, noise-free acquisition) for each family the configuration trained on (its recipe if none)."""
    if config is None:
        return [("paper", NAMED["paper"])]
    plan = config.degradation
    if not plan.families:
        return [("planned", recipe(plan))]
    labels = dict.fromkeys(label for f in plan.families for label in _REPRESENTATIVES[f["name"]])
    return [(label, dataclasses.replace(NAMED[label], noise="none", snr=None)) for label in labels]


class TrustCheck:
    """Measures one scan (see module doc): :meth:`check_input` before prediction, :meth:`add` per batch."""

    def __init__(self, config: Optional[Configuration], scale: AxisScales, source: str, n_slices: int,
                 operator: Optional[Tuple[str, Acquisition]] = None, enforced: bool = False) -> None:
        self.config, self.scale, self.source = config, scale, source
        self.families = checked_families(config)
        #: the acquisition an output is projected against (``Predictor.consistency_operator``), measured apart
        self.operator, self.enforced = operator, enforced
        self.operator_errors: List[float] = []
        step = max(1, math.ceil(n_slices / MAX_SLICES))
        self.measured = set(range(0, n_slices, step))
        self.errors: Dict[str, List[float]] = {}
        self.snr: Optional[float] = None
        self.warnings: List[str] = []

    def trained_snr(self) -> float:
        """The lowest SNR the model was trained on (:data:`NOISELESS_SNR` when it saw no noise)."""
        noise = self.config.degradation.noise if self.config is not None else {"model": "none"}
        if noise.get("model", "none") == "none" or noise.get("probability", 1.0) <= 0:
            return NOISELESS_SNR
        return float(noise["snr"][0])

    def check_input(self, slices: np.ndarray) -> None:
        """Estimate the input's SNR from normalised ``(N, C, h, w)`` slices and warn below the trained range."""
        picked = sorted(i for i in self.measured if i < len(slices))
        self.snr = estimate_snr(torch.as_tensor(np.asarray(slices[picked], dtype=np.float32)))
        lo = self.trained_snr()
        if self.snr < NOISE_MARGIN * lo:
            self._warn(f"estimated SNR {self.snr:.1f} is far below the lowest the model was trained for ({lo:g}): "
                       f"the output may keep or sharpen the noise; consider denoising first or a model trained with "
                       f"noisier data (degradation.noise)")

    def add(self, start: int, lr: np.ndarray, sr: np.ndarray) -> None:
        """Data consistency of a batch: ``lr`` ``(n, C, h, w)`` its input, ``sr`` its output (normalised)."""
        rows = [k for k in range(len(sr)) if start + k in self.measured]
        if not rows:
            return
        _, _, errors = consistency_error(torch.as_tensor(np.asarray(lr[rows], dtype=np.float32)),
                                         torch.as_tensor(sr[rows]), self.scale, self.families)
        for name, e in errors.items():
            self.errors.setdefault(name, []).extend([e] * len(rows))
        if self.operator is not None:
            e = operator_error(torch.as_tensor(np.asarray(lr[rows], dtype=np.float32)), torch.as_tensor(sr[rows]),
                               self.scale, self.operator[1], clip=not self.enforced)
            self.operator_errors.extend([e] * len(rows))

    def finish(self) -> Dict[str, Any]:
        """Warn when the output does not explain the input; the numbers for the sidecar record."""
        means = {k: float(np.mean(v)) for k, v in self.errors.items()}
        best = min(means, key=means.get) if means else None
        if best is not None and means[best] > MAX_CONSISTENCY_ERROR:
            self._warn(f"the output acquired again differs from the input by {means[best]:.1%} of its RMS at best "
                       f"({best}; above {MAX_CONSISTENCY_ERROR:.0%}): it holds structure the input does not support, "
                       f"or the scan was acquired in a way the model was not trained for")
        return {"input_snr": None if self.snr is None or math.isinf(self.snr) else round(self.snr, 2),
                "trained_snr_from": self.trained_snr(),
                "consistency": {"best": best, "error": None if best is None else round(means[best], 5),
                                "errors": {k: round(v, 5) for k, v in means.items()},
                                "threshold": MAX_CONSISTENCY_ERROR, **self._operator_record()},
                "warnings": list(self.warnings)}

    def _operator_record(self) -> Dict[str, Any]:
        """The error under the projection's operator (``operator``, ``operator_error``) and whether it was enforced."""
        if self.operator is None:
            return {}
        err = float(np.mean(self.operator_errors)) if self.operator_errors else None
        return {"operator": self.operator[0], "operator_error": None if err is None else float(f"{err:.3g}"),
                "enforced": self.enforced}

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        logger.warning("WARNING: %s: %s (documentation/degradation.md#do-no-harm)", self.source, text)


__all__ = ["TrustCheck", "checked_families", "NOISELESS_SNR", "NOISE_MARGIN", "MAX_CONSISTENCY_ERROR"]
