"""Dataset integrity check: every problem of a raw dataset in one pass, one line each.

``check_dataset(folder)`` returns the problems (empty list: the dataset is fine);
``verify_dataset(folder)`` raises :class:`~autosr.errors.ProblemsError` listing them. Each line
names the file and says what to do. Checked:

- ``dataset.json``: present, valid JSON, required keys, ``channel_names`` / ``file_ending`` /
  ``numTraining`` well formed, no path that points outside the dataset folder (``name`` is optional,
  and nnU-Net v2's ``labels`` and ``labelsTr/`` are accepted and not checked: SR uses the images only);
- file names follow ``{case}_{CCCC}{file_ending}``, channel indices exist, every case has every channel;
- ``numTraining`` equals the number of cases in ``imagesTr``; no case is in both ``imagesTr`` and ``imagesTs``;
- each image is readable and complete, 2D or 3D, one scalar per voxel, free of NaN/Inf;
- the channels of a case share shape, spacing, origin and direction;
- paired low-resolution scans (``lowresTr``) exist for every training case and cover the same
  physical region as the high-resolution scan.

Each image is checked by the reader every command uses (:func:`autosr.imageio.read_image`):
headers first, so a 4D or vector image is reported without loading it, then the voxels once
for NaN/Inf (``read_voxels=False`` skips that for a quick look; truncation is still caught
from file sizes).
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from autosr.dataset import CASE_FILE_RE, REQUIRED_KEYS, SPLIT_FOLDERS, split_case_file
from autosr.errors import AutoSRError, ProblemsError
from autosr.imageio import Geometry, file_ending, read_header, read_image

#: Side files written with the image (MetaImage data, Analyze/NIfTI pairs): not separate cases.
COMPANIONS: Dict[str, Tuple[str, ...]] = {".mhd": (".raw", ".zraw"), ".nhdr": (".raw", ".raw.gz"),
                                          ".img": (".hdr",), ".hdr": (".img",)}
#: dataset.json keys whose values are file or folder paths inside the dataset (nnU-Net / MSD styles).
#: ``sources`` is deliberately absent: it records where the data came from, outside the dataset.
PATH_KEYS = ("paired_lowres", "training", "test", "validation", "dataset")
SPACING_RTOL = 1e-5
ORIGIN_ATOL_MM = 1e-3
DIRECTION_ATOL = 1e-4


@dataclass(frozen=True)
class ImageInfo:
    """What the check needs to know about one image file (shape in numpy order)."""

    path: Path
    shape: Tuple[int, ...]
    geometry: Geometry


def check_dataset(folder: os.PathLike | str, read_voxels: bool = True, progress: bool = True) -> List[str]:
    """All problems of the raw dataset in ``folder``, one line each; ``[]`` when it is fine."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder}: dataset folder does not exist; create it with autosr_convert (documentation/data.md)"]
    problems: List[str] = []
    info = _check_json(folder, problems)
    ending = info.get("file_ending") if isinstance(info.get("file_ending"), str) else None
    ending = ending if ending and ending.startswith(".") else _guess_ending(folder)
    if ending is None:
        problems.append(f"{folder}: no image files found and no usable file_ending in dataset.json; "
                        f"put the training scans in imagesTr/ as {{case}}_0000.nii.gz")
        return problems
    n_channels = _channel_count(info)
    splits: Dict[str, Dict[str, Dict[int, Path]]] = {}
    for split in SPLIT_FOLDERS:
        if (folder / split).is_dir():
            splits[split] = _scan_split(folder / split, ending, n_channels, problems)
    if "imagesTr" not in splits:
        problems.append(f"{folder / 'imagesTr'}: missing; put the training scans there as "
                        f"{{case}}_{{CCCC}}{ending}")
    n_channels = n_channels or 1 + max((c for s in splits.values() for ch in s.values() for c in ch), default=0)
    for split, cases in splits.items():
        for case, chans in cases.items():
            for c in range(n_channels):
                if c not in chans:
                    problems.append(f"{folder / split / f'{case}_{c:04d}{ending}'}: missing (case {case!r} has "
                                    f"channels {sorted(chans)} of {n_channels}); add this channel file or remove the case")
    train = splits.get("imagesTr", {})
    for case in sorted(set(train) & set(splits.get("imagesTs", {}))):
        problems.append(f"{folder / 'imagesTs' / f'{case}_0000{ending}'}: case {case!r} is also in imagesTr; a test "
                        f"case must not be trained on: remove or rename it in one of the two folders")
    n_train = info.get("numTraining")
    if isinstance(n_train, int) and not isinstance(n_train, bool) and n_train != len(train):
        problems.append(f"{folder / 'dataset.json'}: numTraining is {n_train} but imagesTr holds {len(train)} "
                        f"case(s); set numTraining to {len(train)}")
    paired = bool(info.get("paired_lowres")) or "lowresTr" in splits
    if info.get("paired_lowres") and "lowresTr" not in splits:
        problems.append(f"{folder / 'lowresTr'}: missing although dataset.json sets paired_lowres; add the "
                        f"low-resolution scans there as {{case}}_{{CCCC}}{ending}, or set paired_lowres to false")
    lowres = splits.get("lowresTr", {})
    if paired:
        for case in sorted(set(train) - set(lowres)):
            problems.append(f"{folder / 'lowresTr' / f'{case}_0000{ending}'}: missing; every training case "
                            f"needs its low-resolution scan in a paired dataset")
        for case in sorted(set(lowres) - set(train)):
            problems.append(f"{folder / 'lowresTr' / f'{case}_0000{ending}'}: has no training case {case!r} "
                            f"in imagesTr; add the high-resolution scan or remove this file")
    _check_images(folder, splits, n_channels, read_voxels, progress, problems)
    return problems


def verify_dataset(folder: os.PathLike | str, read_voxels: bool = True, progress: bool = True) -> None:
    """Raise :class:`ProblemsError` (all problems, one line each) unless the dataset is fine."""
    problems = check_dataset(folder, read_voxels=read_voxels, progress=progress)
    if problems:
        raise ProblemsError(f"dataset {folder} has {len(problems)} problem(s); fix them and run "
                            f"autosr_verify_dataset again", problems)


# --------------------------------------------------------------------------- dataset.json

def _check_json(folder: Path, problems: List[str]) -> Dict[str, Any]:
    """Check ``dataset.json`` key by key (every problem, not only the first); return what was read."""
    path = folder / "dataset.json"
    if not path.is_file():
        problems.append(f"{path}: missing; write one with the keys {', '.join(REQUIRED_KEYS)} (documentation/data.md)")
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: not valid JSON ({exc}); fix the syntax")
        return {}
    if not isinstance(info, dict):
        problems.append(f"{path}: must hold a JSON object {{\"channel_names\": ..., ...}}")
        return {}
    for key in REQUIRED_KEYS:
        if key not in info:
            problems.append(f"{path}: missing key {key!r}; add it (required: {', '.join(REQUIRED_KEYS)})")
    ch = info.get("channel_names")
    if "channel_names" in info and (not isinstance(ch, dict) or not ch
                                    or sorted(ch) != sorted(str(i) for i in range(len(ch)))):
        problems.append(f"{path}: channel_names must map \"0\", \"1\", ... to names, e.g. "
                        f"{{\"0\": \"FLAIR\", \"1\": \"T1c\"}}; got {ch!r}")
    fe = info.get("file_ending")
    if "file_ending" in info and not (isinstance(fe, str) and fe.startswith(".") and len(fe) > 1):
        problems.append(f"{path}: file_ending must start with a dot, e.g. \".nii.gz\"; got {fe!r}")
    n = info.get("numTraining")
    if "numTraining" in info and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        problems.append(f"{path}: numTraining must be a whole number (the number of cases in imagesTr); got {n!r}")
    for key in PATH_KEYS:
        if key in info:
            for value in _strings(info[key]):
                if _escapes(folder, value):
                    problems.append(f"{path}: {key} holds the path {value!r}, which points outside the dataset "
                                    f"folder; give paths relative to {folder.name}/ without '..'")
    return info


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a JSON value (paths may sit in lists of dicts, as in MSD ``training``)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _escapes(folder: Path, value: str) -> bool:
    if Path(value).is_absolute() or value.startswith("~"):
        return True
    root = folder.resolve()
    target = (folder / value).resolve()
    return target != root and root not in target.parents


def _channel_count(info: Dict[str, Any]) -> int:
    ch = info.get("channel_names")
    return len(ch) if isinstance(ch, dict) else 0


def _guess_ending(folder: Path) -> Optional[str]:
    """The most common image ending in ``imagesTr`` (to go on checking when dataset.json lacks one)."""
    endings = Counter(file_ending(p) for p in (folder / "imagesTr").glob("*") if file_ending(p))
    return endings.most_common(1)[0][0] if endings else None


# --------------------------------------------------------------------------- file names

def _scan_split(split_dir: Path, ending: str, n_channels: int, problems: List[str]) -> Dict[str, Dict[int, Path]]:
    """``{case: {channel: path}}`` of one split folder; names that break the rule become problems."""
    cases: Dict[str, Dict[int, Path]] = {}
    entries = sorted(p for p in split_dir.iterdir() if not p.name.startswith("."))  # .partial files of writers
    names = {p.name for p in entries}
    for p in entries:
        if p.is_dir():
            problems.append(f"{p}: is a folder; {split_dir.name}/ holds image files only (convert DICOM series "
                            f"with autosr_convert)")
            continue
        parsed = split_case_file(p.name, ending)
        if parsed is None:
            if _is_companion(p.name, names, ending):
                continue
            other = file_ending(p)
            if other and other != ending:
                problems.append(f"{p}: ending {other} differs from file_ending {ending} in dataset.json; "
                                f"convert the file or fix file_ending (one ending per dataset)")
            else:
                problems.append(f"{p}: name does not match {{case}}_{{CCCC}}{ending} (e.g. brain001_0000{ending}); "
                                f"rename it, or move it out of {split_dir.name}/")
            continue
        case, channel = parsed
        if n_channels and channel >= n_channels:
            problems.append(f"{p}: channel {channel:04d} but dataset.json declares {n_channels} channel(s) "
                            f"(0000..{n_channels - 1:04d}); rename it or add the channel to channel_names")
            continue
        cases.setdefault(case, {})[channel] = p
    return cases


def _is_companion(name: str, names: set, ending: str) -> bool:
    for side in COMPANIONS.get(ending, ()):
        if name.endswith(side) and CASE_FILE_RE.match(name[: -len(side)]) and name[: -len(side)] + ending in names:
            return True
    return False


# --------------------------------------------------------------------------- images

def inspect_image(path: Path, read_voxels: bool = True) -> Tuple[Optional[ImageInfo], List[str]]:
    """Checks of one file by the reader every command uses (header only unless ``read_voxels``): ``(info or None, problems)``."""
    try:
        if read_voxels:
            arr, geometry = read_image(path)
            shape = tuple(arr.shape)
        else:
            reader = read_header(str(path))
            geometry = Geometry(tuple(reader.GetSpacing()), tuple(reader.GetOrigin()), tuple(reader.GetDirection()))
            shape = tuple(reversed(reader.GetSize()))
    except AutoSRError as exc:
        return None, [str(exc)]
    return ImageInfo(path, shape, geometry), []


def compare_channels(first: ImageInfo, other: ImageInfo) -> Optional[str]:
    """One problem line if ``other`` is not on the grid of ``first`` (shape, spacing, origin, direction)."""
    a, b = first.geometry, other.geometry
    fix = "all channels of a case must share one grid: resample it onto"
    if other.shape != first.shape:
        return f"{other.path}: shape {other.shape} differs from {first.path.name} {first.shape}; {fix} {first.path.name}"
    if not np.allclose(b.spacing, a.spacing, rtol=SPACING_RTOL, atol=1e-6):
        return f"{other.path}: spacing {_fmt(b.spacing)} differs from {first.path.name} {_fmt(a.spacing)}; {fix} {first.path.name}"
    if not np.allclose(b.direction, a.direction, atol=DIRECTION_ATOL):
        return f"{other.path}: direction {_fmt(b.direction)} differs from {first.path.name} {_fmt(a.direction)}; {fix} {first.path.name}"
    if not np.allclose(b.origin, a.origin, atol=ORIGIN_ATOL_MM):
        return f"{other.path}: origin {_fmt(b.origin)} differs from {first.path.name} {_fmt(a.origin)}; {fix} {first.path.name}"
    return None


def fov_box(geometry: Geometry, shape: Sequence[int]) -> np.ndarray:
    """Axis-aligned physical box ``(2, ndim)`` (min, max in mm) around the field of view's outer corners."""
    corners = geometry.fov_corners(shape)
    return np.stack([corners.min(axis=0), corners.max(axis=0)])


def compare_region(hr: ImageInfo, lr: ImageInfo) -> Optional[str]:
    """One problem line unless the low-res scan covers the high-res scan's region (within one LR voxel)."""
    if lr.geometry.ndim != hr.geometry.ndim:
        return (f"{lr.path}: is {lr.geometry.ndim}D but its high-resolution scan {hr.path.name} is "
                f"{hr.geometry.ndim}D; store both with the same number of dimensions")
    box_hr, box_lr = fov_box(hr.geometry, hr.shape), fov_box(lr.geometry, lr.shape)
    # floor(n / s) LR voxels may stop short of the HR edge by less than one LR voxel
    tol = max(max(lr.geometry.spacing), max(hr.geometry.spacing)) + 1e-3
    gap = float(np.abs(box_hr - box_lr).max())
    if gap > tol:
        return (f"{lr.path}: covers {_box(box_lr)} mm but {hr.path.name} covers {_box(box_hr)} mm (off by "
                f"{gap:.2f} mm, more than one voxel); crop or resample the low-resolution scan to the same region")
    return None


def _check_images(folder: Path, splits: Dict[str, Dict[str, Dict[int, Path]]], n_channels: int,
                  read_voxels: bool, progress: bool, problems: List[str]) -> None:
    """Read every case once (tqdm over cases) and compare channels, and low-res with high-res."""
    order = [s for s in ("imagesTr", "lowresTr", "imagesTs") if s in splits]  # lowres needs the HR infos
    todo = [(split, case) for split in order for case in sorted(splits[split])]
    first_hr: Dict[str, ImageInfo] = {}
    for split, case in tqdm(todo, desc=f"checking {folder.name}", unit="case",
                            disable=True if not progress else None):
        infos: List[ImageInfo] = []
        for c in range(n_channels):
            path = splits[split][case].get(c)
            if path is None:
                continue  # already reported as missing
            info, found = inspect_image(path, read_voxels)
            problems.extend(found)
            if info is not None:
                infos.append(info)
        for other in infos[1:]:
            line = compare_channels(infos[0], other)
            if line:
                problems.append(line)
        if infos and split == "imagesTr":
            first_hr[case] = infos[0]
        if infos and split == "lowresTr" and case in first_hr:
            line = compare_region(first_hr[case], infos[0])
            if line:
                problems.append(line)


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _box(box: np.ndarray) -> str:
    return " x ".join(f"[{lo:.1f}, {hi:.1f}]" for lo, hi in zip(box[0], box[1]))
