"""Multi-channel conversion: one sub-folder per case, channel k = the file whose name holds keyword k.

Example (``../shared/data/brats2013_deepmedic``)::

    pat0005/Flair_subtrMeanDivStd.nii.gz  T1c_subtrMeanDivStd.nii.gz  brainmask.nii.gz  ...
    → convert_multichannel(root, 2, "BraTSmini", channels=["flair", "t1c"], channel_names=["FLAIR", "T1c"])

Matching is case-insensitive on the file name; files that match no keyword (masks, labels,
licence texts) are ignored. A keyword matching no file, or several files (unless exactly one
holds it as a whole token, see :func:`match_keyword`), is a problem naming the case folder.
A keyword may also name a sub-folder holding a DICOM series. With ``lowres_channels``, the
files matching those keywords in the same folder become the paired low-resolution scans
(``lowresTr``, MESR's CBCT→CT setting).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from autosr.errors import DatasetError, ProblemsError
from autosr.imageio import list_dicom_series

from autosr.dataset_conversion.sources import (ImageSource, dicom_tags, image_files, match_keyword, sanitize,
                                               unique)
from autosr.dataset_conversion.writer import CaseSpec, check_target, merged_metadata, write_dataset


def _candidates(folder: Path) -> List[Path]:
    """Image files directly in ``folder`` and its sub-folders (which may hold a DICOM series)."""
    dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    return image_files(folder, recursive=False) + dirs


def _pick(folder: Path, keyword: str, problems: List[str], exclude: Sequence[str] = ()) -> Optional[ImageSource]:
    """The one image in ``folder`` matching ``keyword`` (and none of ``exclude``); None after a problem."""
    files = [p for p in _candidates(folder) if not any(x.lower() in p.name.lower() for x in exclude)]
    hits = match_keyword(files, keyword)
    if len(hits) != 1:
        listing = ", ".join(p.name for p in hits) if hits else "none of " + (", ".join(p.name for p in files) or "no image files")
        problems.append(f"{folder}: keyword {keyword!r} matches {len(hits)} images ({listing}); it must match "
                        f"exactly one file name per case folder: use a longer keyword")
        return None
    hit = hits[0]
    if hit.is_file():
        return ImageSource(hit)
    series = list_dicom_series(hit, recursive=True)
    if len(series) != 1:
        problems.append(f"{hit}: matched keyword {keyword!r} but holds {len(series)} DICOM series; a channel folder "
                        f"must hold exactly one series")
        return None
    uid, dicom_files = series[0]
    return ImageSource(hit, tuple(dicom_files), uid, dicom_tags(dicom_files))


def find_cases(input_dir: Path, channels: Sequence[str],
               lowres_channels: Optional[Sequence[str]] = None) -> List[CaseSpec]:
    """One :class:`CaseSpec` per sub-folder of ``input_dir``; all keyword problems raised together."""
    folders = sorted(d for d in input_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise DatasetError(f"{input_dir}: no case sub-folders; the multichannel layout needs one folder per case "
                           f"holding one file per channel")
    problems: List[str] = []
    names = unique([sanitize(d.name) for d in folders])
    cases = []
    for name, folder in zip(names, folders):
        # files of the low-res keywords are not high-res candidates: "ct" must not also pick "cbct"
        images = [_pick(folder, kw, problems, exclude=lowres_channels or ()) for kw in channels]
        lowres = [_pick(folder, kw, problems) for kw in lowres_channels] if lowres_channels else None
        if all(images) and (lowres is None or all(lowres)):
            cases.append(CaseSpec(name, list(images), lowres=list(lowres) if lowres else None))
    if problems:
        raise ProblemsError(f"{input_dir}: {len(problems)} problem(s) matching channel keywords; nothing was written",
                            problems)
    return cases


def convert_multichannel(input_dir: os.PathLike | str, dataset_id: int, name: str, channels: Sequence[str], *,
                         channel_names: Optional[Sequence[str]] = None,
                         lowres_channels: Optional[Sequence[str]] = None, file_ending: str = ".nii.gz",
                         test_fraction: float = 0.0, overwrite: bool = False, raw_root: Optional[Path] = None,
                         metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Convert ``input_dir/{case}/`` folders into a dataset with one channel per keyword in ``channels``."""
    root = Path(input_dir)
    check_target(dataset_id, name, raw_root, overwrite)  # fail before scanning the input
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; the multichannel layout needs one sub-folder per case")
    if not channels:
        raise DatasetError("the multichannel layout needs --channels, one keyword per channel (e.g. flair t1c)")
    if len({c.lower() for c in channels}) != len(channels):
        raise DatasetError(f"channel keywords {list(channels)} repeat a keyword; give each channel its own")
    names = list(channel_names) if channel_names else [c.upper() if c.lower() == "ct" else c for c in channels]
    if len(names) != len(channels):
        raise DatasetError(f"{len(names)} channel name(s) {names} for {len(channels)} keyword(s) {list(channels)}; "
                           f"give one name per keyword")
    if lowres_channels and len(lowres_channels) != len(channels):
        raise DatasetError(f"--lowres_channels needs one keyword per channel ({len(channels)}), got {len(lowres_channels)}")
    cases = find_cases(root, channels, lowres_channels)
    meta = merged_metadata({"description": f"converted from {root} by autosr_convert (multichannel layout, "
                                           f"keywords {', '.join(channels)})"}, metadata)
    return write_dataset(cases, dataset_id, name, names, file_ending=file_ending, overwrite=overwrite,
                         raw_root=raw_root, test_fraction=test_fraction, metadata=meta)
