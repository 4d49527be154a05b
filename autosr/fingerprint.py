"""Dataset fingerprint: what the planner needs to know about a raw dataset (``dataset_fingerprint.json``).

Per case: array shape and spacing (numpy order), orientation code, dtype, the foreground bounding
box (background detected per channel, :mod:`autosr.cropping`), per-channel intensity statistics
over the foreground, the number of non-empty slices along each axis, the acquisition (slice) axis
when the header tells, and the low-resolution partner's grid in paired datasets. Dataset level:
median/min/max spacing and shape, anisotropy ratio, the through-plane (coarsest) axis, modality
per channel, and per-channel foreground statistics pooled over cases (from a fixed-size random
sample of each case, as nnU-Net does, so memory stays bounded). All axes are numpy array axes.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from autosr.cropping import bounding_box, channel_background, fill_axis, fill_holes, through_plane_axis
from autosr.dataset import RawDataset, write_json_atomic
from autosr.errors import DatasetError
from autosr.imageio import orientation_code, read_case, read_header

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = "dataset_fingerprint.json"
FINGERPRINT_VERSION = 1
SAMPLES_PER_CASE = 10_000          # at least this many foreground voxels per case and channel ...
SAMPLES_TOTAL = 1_000_000          # ... and up to this many over the dataset (tail percentiles of few cases)
PERCENTILES = (0.5, 99.5)


def file_signature(files: Sequence[os.PathLike | str]) -> List[List[Any]]:
    """``[[name, size, mtime], ...]``: enough to notice a replaced or edited raw file."""
    out = []
    for f in files:
        st = Path(f).stat()
        out.append([Path(f).name, int(st.st_size), int(st.st_mtime)])
    return out


def nifti_slice_axis(path: os.PathLike | str, ndim: int) -> Optional[int]:
    """Numpy axis of the acquisition (slice) direction from a NIfTI header's ``dim_info``; else ``None``."""
    name = str(path).lower()
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        return None
    try:
        import nibabel as nib
        slice_dim = nib.load(str(path)).header.get_dim_info()[2]
    except Exception:  # an unreadable header only means "the header does not tell"
        return None
    if slice_dim is None or not 0 <= int(slice_dim) < ndim:
        return None
    return ndim - 1 - int(slice_dim)       # NIfTI axis i (x first) is numpy axis ndim-1-i


def _header(path: os.PathLike | str) -> Dict[str, Any]:
    """Shape (numpy order) and spacing of an image without reading its voxels (checked as every read is)."""
    reader = read_header(str(path))
    size, spacing = list(reader.GetSize()), list(reader.GetSpacing())
    return {"shape": size[::-1], "spacing": spacing[::-1], "direction": list(reader.GetDirection()),
            "origin": list(reader.GetOrigin())}


def _stats(values: np.ndarray) -> Dict[str, float]:
    v = values.astype(np.float64, copy=False)
    p = np.percentile(v, PERCENTILES)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max()),
            "percentile_00_5": float(p[0]), "percentile_99_5": float(p[1])}


def case_fingerprint(case: str, files: Sequence[str], modalities: Sequence[str],
                     lowres_files: Optional[Sequence[str]] = None, seed: int = 0,
                     num_samples: int = SAMPLES_PER_CASE) -> Tuple[Dict[str, Any], List[np.ndarray]]:
    """Fingerprint of one case and a random sample of its foreground intensities per channel."""
    data, geom = read_case(files)
    if data.shape[0] != len(modalities):
        raise DatasetError(f"{files[0]}: case {case!r} has {data.shape[0]} channel(s), dataset.json names {len(modalities)}")
    spacing = list(geom.array_spacing)
    backgrounds = [channel_background(data[c], modalities[c]) for c in range(data.shape[0])]
    fg = np.zeros(data.shape[1:], bool)
    for b in backgrounds:
        fg |= b.foreground
    bbox = bounding_box(fg)
    if bbox is None:
        raise DatasetError(f"{files[0]}: case {case!r} is all background (no voxel differs from the surround "
                           f"in any channel); remove the case from imagesTr or check the file")
    fg = fill_holes(fg, fill_axis(fg.shape, spacing))
    rng = np.random.default_rng(seed)
    channels, samples = [], []
    for c, b in enumerate(backgrounds):
        values = data[c][fg]
        info = _stats(values)
        info.update({"background": b.value, "background_method": b.method, "background_threshold": b.threshold})
        channels.append(info)
        take = min(int(num_samples), values.size)
        samples.append(values[rng.choice(values.size, take, replace=False)].astype(np.float64))
    ndim = fg.ndim
    per_axis = [int(fg.any(axis=tuple(a for a in range(ndim) if a != ax)).sum()) for ax in range(ndim)]
    tp = through_plane_axis(spacing)
    out: Dict[str, Any] = {
        "files": [str(f) for f in files], "source": file_signature(files),
        "ndim": ndim, "shape": list(data.shape[1:]), "spacing": spacing,
        "orientation": orientation_code(geom), "dtype": str(data.dtype),
        "acquisition_axis": nifti_slice_axis(files[0], ndim),
        "foreground_bbox": bbox, "foreground_fraction": float(fg.mean()),
        "nonempty_slices_per_axis": per_axis,
        "nonempty_slices": per_axis[0 if tp is None else tp] if ndim == 3 else 1,
        "channels": channels, "lowres": None,
    }
    if lowres_files:
        out["lowres"] = dict(_header(lowres_files[0]), files=[str(f) for f in lowres_files],
                             source=file_signature(lowres_files))
    return out, samples


def _median_min_max(rows: List[List[float]]) -> Dict[str, List[float]]:
    a = np.asarray(rows, dtype=np.float64)
    return {"median": np.median(a, 0).tolist(), "min": a.min(0).tolist(), "max": a.max(0).tolist()}


def summarize(dataset: RawDataset, cases: Dict[str, Dict[str, Any]], samples: Dict[str, List[np.ndarray]]) -> Dict[str, Any]:
    """Dataset-level fingerprint from the per-case ones."""
    names = sorted(cases)
    ndims = {cases[n]["ndim"] for n in names}
    if len(ndims) > 1:
        raise DatasetError(f"{dataset.folder}: mixes 2D and 3D images; put them in separate datasets")
    spacing = _median_min_max([cases[n]["spacing"] for n in names])
    med = spacing["median"]
    tp = through_plane_axis(med)
    acq = [cases[n]["acquisition_axis"] for n in names if cases[n]["acquisition_axis"] is not None]
    pooled = []
    for c in range(dataset.num_channels):
        pooled.append(_stats(np.concatenate([samples[n][c] for n in names])))
    return {
        "fingerprint_version": FINGERPRINT_VERSION, "dataset_name": dataset.name,
        "channel_names": dataset.channel_names, "modalities": dataset.modalities,
        "file_ending": dataset.file_ending, "num_cases": len(names), "ndim": ndims.pop(),
        "paired": any(cases[n]["lowres"] for n in names),
        "spacing": spacing, "shape": _median_min_max([cases[n]["shape"] for n in names]),
        "foreground_shape": _median_min_max([[hi - lo for lo, hi in cases[n]["foreground_bbox"]] for n in names]),
        "anisotropy_ratio": float(max(med) / min(med)),
        "through_plane_axis": tp,
        "acquisition_axis": max(set(acq), key=acq.count) if acq else None,
        "intensity": pooled,
        "cases": {n: cases[n] for n in names},
    }


def _case_jobs(dataset: RawDataset) -> List[Tuple[str, tuple]]:
    cases = dataset.cases("imagesTr")
    if not cases:
        raise DatasetError(f"{dataset.folder / 'imagesTr'}: no training cases found (files must be named "
                           f"{{case}}_{{CCCC}}{dataset.file_ending}); add images or check file_ending in dataset.json")
    lowres = dataset.cases("lowresTr") if (dataset.folder / "lowresTr").is_dir() else {}
    if lowres:
        missing = sorted(set(cases) - set(lowres))
        if missing:
            raise DatasetError(f"{dataset.folder / 'lowresTr'}: paired dataset misses the low-resolution scan of "
                               f"case(s) {', '.join(missing[:5])}; add them or remove lowresTr")
    mods = dataset.modalities
    per_case = max(SAMPLES_PER_CASE, SAMPLES_TOTAL // len(cases))
    return [(n, (n, [str(f) for f in files], mods, [str(f) for f in lowres.get(n, [])] or None, i, per_case))
            for i, (n, files) in enumerate(sorted(cases.items()))]


def _still_valid(fp: Dict[str, Any], dataset: RawDataset, jobs: List[Tuple[str, tuple]]) -> Optional[str]:
    """``None`` when a stored fingerprint matches the raw dataset, else the reason it does not."""
    if fp.get("fingerprint_version") != FINGERPRINT_VERSION:
        return "it was written by another version of AutoSR"
    if fp.get("channel_names") != dataset.channel_names:
        return "the channel names changed"
    if sorted(fp.get("cases", {})) != [n for n, _ in jobs]:
        return "the list of cases changed"
    for name, args in jobs:
        if fp["cases"][name].get("source") != file_signature(args[1]):
            return f"the files of case {name!r} changed"
    return None


def largest_first(jobs: List[Tuple[Any, tuple]]) -> List[Tuple[Any, tuple]]:
    """Largest cases first, so parallel workers finish together."""
    return sorted(jobs, key=lambda j: -sum(Path(f).stat().st_size for f in j[1][1]))


def extract_many(items: Sequence[Tuple[os.PathLike | str, os.PathLike | str]], num_processes: int = 1,
                 clean: bool = False) -> List[Dict[str, Any]]:
    """Fingerprints of several ``(raw dataset folder, output folder)`` pairs; the cases of all of
    them share one pool of ``num_processes`` workers. Stored fingerprints that still match are
    reused unless ``clean``. Each fingerprint is written (atomically) only once complete."""
    import json
    from autosr.preprocessing.parallel import run_cases

    out: List[Optional[Dict[str, Any]]] = [None] * len(items)
    todo, jobs = [], []
    for i, (folder, out_folder) in enumerate(items):
        dataset = RawDataset.open(folder)
        case_jobs = _case_jobs(dataset)
        path = Path(out_folder) / FINGERPRINT_FILE
        if path.is_file() and not clean:
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
                reason = _still_valid(old, dataset, case_jobs)
            except (json.JSONDecodeError, KeyError, TypeError, OSError) as exc:
                reason = f"it cannot be read ({exc})"
            if reason is None:
                logger.info("Reusing %s (use --clean to recompute)", path)
                out[i] = old
                continue
            logger.info("Recomputing %s: %s", path, reason)
        todo.append((i, dataset, path))
        jobs += [((i, name), args) for name, args in case_jobs]
    if jobs:
        logger.info("Fingerprinting %d case(s) of %s with %d process(es)", len(jobs),
                    ", ".join(d.name for _, d, _ in todo), num_processes)
        results = run_cases(case_fingerprint, largest_first(jobs), num_processes, desc="fingerprint")
        for i, dataset, path in todo:
            mine = {name: r for (j, name), r in results.items() if j == i}
            fp = summarize(dataset, {n: r[0] for n, r in mine.items()}, {n: r[1] for n, r in mine.items()})
            write_json_atomic(fp, path)
            out[i] = fp
    return out  # type: ignore[return-value]


def extract(dataset_folder: os.PathLike | str, out_folder: os.PathLike | str, num_processes: int = 1,
            clean: bool = False) -> Dict[str, Any]:
    """Compute (or reuse) the fingerprint of the raw dataset in ``dataset_folder``; write it to ``out_folder``."""
    return extract_many([(dataset_folder, out_folder)], num_processes, clean)[0]


__all__ = ["extract", "extract_many", "case_fingerprint", "summarize", "FINGERPRINT_FILE", "nifti_slice_axis", "file_signature"]
