"""Optional perceptual metrics (FID as in the papers, LPIPS), only with a maintained library and local weights.

AutoSR adds no dependency and downloads nothing for these: each metric is computed when its
library imports and its network weights are already on disk (torch hub cache), and is
otherwise reported as ``"unavailable (reason)"`` — never approximated by something else.

* FID: ``pytorch_fid`` (InceptionV3 FID weights ``pt_inception-2015-12-05-*.pth``); slices are
  replicated to 3 channels and resized to 299×299 by the library's InceptionV3 wrapper.
* LPIPS: ``lpips`` (AlexNet backbone weights from torchvision plus the package's own linear
  layers); inputs scaled from [0, 1] to [−1, 1].
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

logger = logging.getLogger(__name__)

_FID_WEIGHTS = "pt_inception-2015-12-05-*.pth"
_ALEXNET_WEIGHTS = "alexnet-owt-*.pth"


def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _importable(name: str) -> Optional[str]:
    try:
        importlib.import_module(name)
        return None
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return f"{name} is not installed ({type(exc).__name__})"


def status() -> Dict[str, str]:
    """``{"fid": "available" | "unavailable (reason)", "lpips": …}`` without loading any network."""
    out = {}
    reason = _importable("pytorch_fid") or _importable("torchvision")
    if reason is None and not list(_hub_checkpoints().glob(_FID_WEIGHTS)):
        reason = f"FID InceptionV3 weights ({_FID_WEIGHTS}) are not in {_hub_checkpoints()}"
    out["fid"] = "available" if reason is None else f"unavailable ({reason})"
    reason = _importable("lpips") or _importable("torchvision")
    if reason is None and not list(_hub_checkpoints().glob(_ALEXNET_WEIGHTS)):
        reason = f"AlexNet weights ({_ALEXNET_WEIGHTS}) for LPIPS are not in {_hub_checkpoints()}"
    out["lpips"] = "available" if reason is None else f"unavailable ({reason})"
    return out


class PerceptualMetrics:
    """Accumulate (SR, HR) slice pairs per group and compute the available perceptual metrics."""

    def __init__(self, device: str = "cpu") -> None:
        self.state = status()
        self.device = device
        self.pairs: Dict[Tuple[str, str], List[Tuple[np.ndarray, np.ndarray]]] = {}
        self._lpips = None

    @property
    def enabled(self) -> bool:
        return any(v == "available" for v in self.state.values())

    def add(self, scale_key: str, method: str, sr: np.ndarray, hr: np.ndarray) -> None:
        """Remember a 2D pair in [0, 1] for group ``(scale, method)`` (only if a metric is available)."""
        if self.enabled:
            self.pairs.setdefault((scale_key, method), []).append((np.asarray(sr, np.float32),
                                                                   np.asarray(hr, np.float32)))

    def lpips_value(self, sr: np.ndarray, hr: np.ndarray) -> float:
        import lpips  # type: ignore[import-not-found]
        if self._lpips is None:
            self._lpips = lpips.LPIPS(net="alex", verbose=False).to(self.device).eval()
        to = lambda a: torch.as_tensor(a, device=self.device)[None, None].repeat(1, 3, 1, 1) * 2 - 1  # noqa: E731
        with torch.no_grad():
            return float(self._lpips(to(sr), to(hr)).mean())

    def fid_value(self, pairs: Sequence[Tuple[np.ndarray, np.ndarray]]) -> float:
        from pytorch_fid.fid_score import calculate_frechet_distance  # type: ignore[import-not-found]
        from pytorch_fid.inception import InceptionV3  # type: ignore[import-not-found]
        net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(self.device).eval()

        def feats(images: Sequence[np.ndarray]) -> np.ndarray:
            out = []
            with torch.no_grad():
                for img in images:
                    x = torch.as_tensor(img, device=self.device)[None, None].repeat(1, 3, 1, 1)
                    out.append(net(x)[0].reshape(-1).cpu().numpy())
            return np.stack(out).astype(np.float64)

        a, b = feats([p[0] for p in pairs]), feats([p[1] for p in pairs])
        return float(calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))

    def compute(self) -> Dict[str, object]:
        """``{"status": {...}, "values": {scale: {method: {"fid": …, "lpips": …}}}}``."""
        values: Dict[str, Dict[str, Dict[str, float]]] = {}
        for (scale_key, method), pairs in self.pairs.items():
            entry = values.setdefault(scale_key, {}).setdefault(method, {})
            try:
                if self.state["lpips"] == "available":
                    entry["lpips"] = float(np.mean([self.lpips_value(s, h) for s, h in pairs]))
                if self.state["fid"] == "available" and len(pairs) >= 2:
                    entry["fid"] = self.fid_value(pairs)
            except Exception as exc:  # a library/weights problem: report it, never a made-up number
                logger.warning("perceptual metrics failed: %s", exc)
                self.state = {k: f"unavailable ({type(exc).__name__}: {exc})" for k in self.state}
                return {"status": self.state, "values": {}}
        return {"status": self.state, "values": values}


__all__ = ["status", "PerceptualMetrics"]
