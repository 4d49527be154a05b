"""Training progress: the log file, loss/validation history and ``progress.png``.

The history is small (losses are averaged over ``log_every`` steps) and is stored in the
checkpoint, so a resumed run continues the same curves.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

LOG_FORMAT = "%(asctime)s %(message)s"
#: Loss names plotted on a linear axis (they change sign).
WGAN_TERMS = ("d", "adv")


class LogBuffer(logging.Handler):
    """Holds AutoSR's log records until the run's log file may be written (after every check passed)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _attach(handler: logging.Handler) -> logging.Handler:
    root = logging.getLogger("autosr")
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def start_log_buffer() -> LogBuffer:
    """Collect the ``autosr`` logger tree's messages in memory (see :func:`add_log_file`)."""
    return _attach(LogBuffer())  # type: ignore[return-value]


def add_log_file(folder: os.PathLike | str, name: str = "training_log.txt",
                 buffer: Optional[LogBuffer] = None) -> logging.Handler:
    """Append AutoSR's log messages (the ``autosr`` logger tree) to ``folder/name``.

    The messages held by ``buffer`` are written first, and the buffer is detached.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(Path(folder) / name, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.INFO)
    if buffer is not None:
        remove_log_file(buffer)
        for record in buffer.records:
            handler.handle(record)
    return _attach(handler)


def remove_log_file(handler: Optional[logging.Handler]) -> None:
    if handler is not None:
        logging.getLogger("autosr").removeHandler(handler)
        handler.close()


class ProgressHistory:
    """Averaged training losses and validation results over steps."""

    def __init__(self, log_every: int = 50) -> None:
        self.log_every = max(1, int(log_every))
        self.train: List[Dict[str, float]] = []       # {"step", "l1", "g", "d", ...}
        self.val: List[Dict[str, Any]] = []           # {"step", "results": {scale: {...}}}
        self._pending: Dict[str, List[float]] = {}

    def add_losses(self, step: int, losses: Mapping[str, float]) -> Optional[Dict[str, float]]:
        """Accumulate one step's losses; every ``log_every`` steps store (and return) their means."""
        for k, v in losses.items():
            self._pending.setdefault(k, []).append(float(v))
        return self.flush(step) if step % self.log_every == 0 else None

    def flush(self, step: int) -> Optional[Dict[str, float]]:
        """Store the means of the losses accumulated since the last entry (if any)."""
        if not self._pending:
            return None
        entry = {"step": float(step), **{k: sum(v) / len(v) for k, v in self._pending.items()}}
        self.train.append(entry)
        self._pending = {}
        return entry

    def add_validation(self, step: int, results: Mapping[str, Mapping[str, float]]) -> None:
        self.val.append({"step": int(step), "results": {k: dict(v) for k, v in results.items()}})

    def state_dict(self) -> Dict[str, Any]:
        return {"log_every": self.log_every, "train": list(self.train), "val": list(self.val)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.log_every = int(state.get("log_every", self.log_every))
        self.train = [dict(e) for e in state.get("train", [])]
        self.val = [dict(e) for e in state.get("val", [])]
        self._pending = {}

    def plot(self, path: os.PathLike | str, warmup_steps: Optional[int] = None) -> None:
        """Write ``progress.png``: losses (log scale) and validation PSNR per scale vs bicubic."""
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, (ax_loss, ax_gan, ax_val) = plt.subplots(3, 1, figsize=(9, 11), sharex=True)
        keys = sorted({k for e in self.train for k in e if k != "step"})
        # Pixel and perceptual losses are positive and span decades (log axis); the WGAN terms
        # change sign (linear axis of their own).
        for ax, group, log in ((ax_loss, [k for k in keys if k not in WGAN_TERMS], True),
                               (ax_gan, [k for k in keys if k in WGAN_TERMS], False)):
            for k in group:
                pts = [(e["step"], e[k]) for e in self.train
                       if k in e and math.isfinite(e[k]) and (e[k] > 0 or not log)]
                if pts:
                    ax.plot(*zip(*pts), label=k)
            if group:
                ax.legend(loc="upper right", fontsize="small")
                if log:
                    ax.set_yscale("log")
            if warmup_steps:
                ax.axvline(warmup_steps, color="grey", ls=":", lw=1)
            ax.set_xlabel("step")
        ax_loss.set_title("generator losses (averaged; dotted: end of warm-up)")
        ax_gan.set_title("WGAN-GP: critic loss d, adversarial loss adv")
        scales = sorted({s for e in self.val for s in e["results"]}, key=float)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, s in enumerate(scales):
            pts = [(e["step"], e["results"][s]) for e in self.val if s in e["results"]]
            c = colors[i % len(colors)]
            ax_val.plot([p[0] for p in pts], [p[1]["psnr"] for p in pts], "-o", ms=3, color=c, label=f"x{s}")
            ax_val.plot([p[0] for p in pts], [p[1]["psnr_bicubic"] for p in pts], "--", color=c, lw=1)
        if scales:
            ax_val.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small",
                          title="model (solid)\nbicubic (dashed)")
        ax_val.set_xlabel("step")
        ax_val.set_ylabel("PSNR [dB]")
        ax_val.set_title("validation PSNR per scale")
        fig.tight_layout()
        tmp = Path(path).with_suffix(".partial.png")
        fig.savefig(tmp, dpi=80)
        plt.close(fig)
        os.replace(tmp, path)


__all__ = ["add_log_file", "remove_log_file", "start_log_buffer", "LogBuffer", "ProgressHistory", "LOG_FORMAT"]
