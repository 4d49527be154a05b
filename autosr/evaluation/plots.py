"""Evaluation figures (matplotlib, Agg backend: no display needed).

``metrics_vs_scale.png``: PSNR and SSIM against the scale, model vs baselines, mean ± std over
slices (MIASSR Fig. 5). ``examples.png``: LR, baselines, SR, HR and |error| maps for a few slices
and scales (MIASSR Fig. 3). ``autosr_benchmark``'s ``psnr_vs_scale.png`` (one line per system) and
``psnr_vs_parameters.png`` (MIASSR Fig. 4's bubbles).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from autosr.evaluation.report import NO_SCALE


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _save(fig: Any, path: Path) -> None:
    """Save atomically (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.stem + ".partial.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)


def plot_metrics_vs_scale(summary: Mapping[str, Any], path: Path) -> Path:
    """PSNR and SSIM (mean ± std) against the scale, one line per method."""
    plt = _pyplot()
    scales = [k for k in summary["scales"] if k != NO_SCALE]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        for method in summary["methods"]:
            xs, ms, ss = [], [], []
            for k in scales:
                st = summary["per_scale"][k].get(method, {}).get(metric)
                if st and st["mean"] is not None:
                    xs.append(float(k))
                    ms.append(st["mean"])
                    ss.append(st["std"] or 0.0)
            if xs:
                ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, label=method,
                            linewidth=2.2 if method == "model" else 1.4)
        ax.set_xlabel("scale s")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(str(summary.get("title", "")))
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_systems_vs_scale(table: Any, path: Path) -> Path:
    """``autosr_benchmark``: mean PSNR against the scale, one line per system (bicubic dashed). ``table``: the
    benchmark's DataFrame (``system`` and ``psnr_x{s}`` columns)."""
    plt = _pyplot()
    cols = [c for c in table.columns if c.startswith("psnr_x")]
    xs = [float(c[len("psnr_x"):]) for c in cols]
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.cm.tab20.colors  # 20 distinct colours: every system its own
    for i, (_, row) in enumerate(table.iterrows()):
        bicubic = row["system"] == "bicubic"
        ax.plot(xs, [row[c] for c in cols], "--" if bicubic else "-", marker="o", markersize=3,
                color="black" if bicubic else colours[i % len(colours)], linewidth=1.2, label=row["system"])
    ax.set_xlabel("scale s")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_bubbles(table: Any, bicubic_psnr: float, path: Path) -> Path:
    """``autosr_benchmark``: mean PSNR against the parameters as trained (log axis), bubble area ∝ training time
    (MIASSR Fig. 4); bicubic as a horizontal line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    minutes = table["train_minutes"].fillna(0).to_numpy(dtype=float)
    sizes = 40 + 400 * minutes / max(float(minutes.max()), 1e-9)
    ax.scatter(table["parameters_M"], table["psnr"], s=sizes, alpha=0.5)
    for _, row in table.iterrows():
        ax.annotate(row["system"], (row["parameters_M"], row["psnr"]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    ax.axhline(bicubic_psnr, color="black", linestyle="--", linewidth=1, label="bicubic")
    ax.set_xscale("log")
    ax.set_xlabel("parameters as trained (millions; every model a system needs)")
    ax.set_ylabel("mean PSNR over scales (dB)")
    ax.set_title("bubble area: training time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


@dataclass
class Example:
    """One example slice (channel 0) at one scale: LR, HR and each method's output, in [0, 1]."""

    case: str
    slice: int
    scale: Optional[float]
    hr: np.ndarray
    outputs: Dict[str, np.ndarray] = field(default_factory=dict)  # method → refined image
    lr: Optional[np.ndarray] = None


def plot_examples(examples: Sequence[Example], path: Path, error_max: Optional[float] = None) -> Path:
    """A grid: one row per example; columns LR, each method, HR, then |method − HR| per method."""
    plt = _pyplot()
    if not examples:
        raise ValueError("no examples to plot")
    methods: List[str] = list(dict.fromkeys(m for e in examples for m in e.outputs))
    has_lr = any(e.lr is not None for e in examples)
    cols = (["LR"] if has_lr else []) + methods + ["HR"] + [f"|{m} − HR|" for m in methods]
    fig, axes = plt.subplots(len(examples), len(cols), figsize=(2.2 * len(cols), 2.3 * len(examples)), squeeze=False)
    emax = error_max or max(float(np.max(np.abs(e.outputs[m] - e.hr))) for e in examples for m in e.outputs) or 1.0
    for r, ex in enumerate(examples):
        panels = ([ex.lr] if has_lr else []) + [ex.outputs.get(m) for m in methods] + [ex.hr]
        errs = [None if ex.outputs.get(m) is None else np.abs(ex.outputs[m] - ex.hr) for m in methods]
        for c, (title, img) in enumerate(zip(cols, panels + errs)):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if img is None:
                ax.axis("off")
                continue
            is_err = c >= len(panels)
            ax.imshow(img, cmap="magma" if is_err else "gray", vmin=0, vmax=emax if is_err else 1,
                      interpolation="nearest")
            if r == 0:
                ax.set_title(title, fontsize=9)
        scale = "" if ex.scale is None else f" ×{ex.scale:g}"
        axes[r, 0].set_ylabel(f"{ex.case}\nslice {ex.slice}{scale}", fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_degradations(hr: np.ndarray, lrs: Mapping[str, Mapping[str, np.ndarray]], path: Path,
                      reference: str, error_max: float = 0.25) -> Path:
    """One slice under several acquisition models: per scale, a row of LR images and a row of |LR − reference|.

    ``lrs`` maps a scale label (``"s = 2"``) to ``{model name: LR image}``, each on that scale's LR
    grid and in [0, 1]; ``reference`` names the model the differences are taken against. LR images
    are drawn nearest-neighbour at the HR panel's size, so each LR voxel shows as a square.
    """
    plt = _pyplot()
    names = list(next(iter(lrs.values())))
    cols = 1 + len(names)
    fig, axes = plt.subplots(2 * len(lrs), cols, figsize=(1.9 * cols, 2.0 * 2 * len(lrs)), squeeze=False)
    for r, (label, images) in enumerate(lrs.items()):
        top, bottom = axes[2 * r], axes[2 * r + 1]
        top[0].imshow(hr, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        top[0].set_title("HR", fontsize=8)
        top[0].set_ylabel(label, fontsize=9)
        bottom[0].text(0.5, 0.5, f"|LR − {reference}|\n(0 to {error_max:g})", ha="center", va="center", fontsize=8)
        for c, name in enumerate(names, start=1):
            top[c].imshow(images[name], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            top[c].set_title(name, fontsize=8)
            bottom[c].imshow(np.abs(images[name] - images[reference]), cmap="magma", vmin=0, vmax=error_max,
                             interpolation="nearest")
        for ax in (*top, *bottom):
            ax.set_xticks([])
            ax.set_yticks([])
        bottom[0].axis("off")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


__all__ = ["plot_metrics_vs_scale", "plot_examples", "plot_degradations", "Example"]
