"""``autosr_predict --preview``: a PNG per scan of its reformats, input against B-spline against AutoSR.

A thick-slice scan looks right in its own slices and wrong in every other plane, so the preview
shows the central sagittal and coronal planes (array axes x and y fixed) of the input (its voxels
as they are, nearest neighbour), SimpleITK's cubic B-spline resampling of it onto the output grid
(what a viewer or a toolkit would show) and AutoSR's output, each drawn with its physical aspect
ratio and the same intensity window (the input's 0.5th–99.5th percentiles of its first channel).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np
import SimpleITK as sitk

from autosr.imageio import Geometry

#: Planes shown: (title, array axis held at its centre). Array axes are (z, y, x).
PLANES: Tuple[Tuple[str, int], ...] = (("sagittal", 2), ("coronal", 1))


def bspline_onto(array: np.ndarray, geometry: Geometry, target: Geometry, shape: Tuple[int, ...]) -> np.ndarray:
    """``array`` (one channel) resampled onto the ``target`` grid of ``shape`` with SimpleITK's cubic B-spline."""
    image = sitk.GetImageFromArray(np.asarray(array, dtype=np.float32))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    ref = sitk.Image([int(n) for n in reversed(shape)], sitk.sitkFloat32)
    ref.SetSpacing(target.spacing)
    ref.SetOrigin(target.origin)
    ref.SetDirection(target.direction)
    return sitk.GetArrayFromImage(sitk.Resample(image, ref, sitk.Transform(), sitk.sitkBSpline))


def _plane(volume: np.ndarray, geometry: Geometry, axis: int) -> Tuple[np.ndarray, float]:
    """The central plane holding ``axis`` fixed, rows = z from top (superior up for LPS/RAS), and its aspect."""
    plane = np.take(volume, volume.shape[axis] // 2, axis=axis)  # (z, other)
    sp = geometry.array_spacing
    other = 1 if axis == 2 else 2
    return plane[::-1], sp[0] / sp[other]


def write_preview(path: Path, case: str, input_volume: np.ndarray, input_geometry: Geometry,
                  output_volume: np.ndarray, output_geometry: Geometry) -> Path:
    """Write the preview PNG (atomically) of one channel's input and output volumes ``(z, y, x)``."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if input_volume.ndim != 3:
        raise ValueError("a preview needs a 3D scan")
    lo, hi = np.percentile(input_volume, (0.5, 99.5))
    columns: List[Tuple[str, np.ndarray, Geometry]] = [
        ("input (nearest)", input_volume, input_geometry),
        ("B-spline", bspline_onto(input_volume, input_geometry, output_geometry, output_volume.shape), output_geometry),
        ("AutoSR", output_volume, output_geometry)]
    fig, axes = plt.subplots(len(PLANES), len(columns), figsize=(3.4 * len(columns), 3.4 * len(PLANES)), squeeze=False)
    for r, (plane_name, axis) in enumerate(PLANES):
        for c, (title, volume, geometry) in enumerate(columns):
            img, aspect = _plane(volume, geometry, axis)
            ax = axes[r, c]
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, aspect=aspect, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            spacing = " × ".join(f"{v:.3g}" for v in geometry.spacing)
            ax.set_title(f"{title}\n{spacing} mm" if r == 0 else "", fontsize=9)
        axes[r, 0].set_ylabel(f"{plane_name} (central)", fontsize=9)
    fig.suptitle(case, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.stem + ".partial.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def preview_path(folder: Path, case: str) -> Path:
    return Path(folder) / f"{case}.preview.png"


__all__ = ["write_preview", "bspline_onto", "preview_path", "PLANES"]
