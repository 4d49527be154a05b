"""Finding the images to convert: image files and DICOM series, and naming cases after them."""
from __future__ import annotations

import logging
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
import SimpleITK as sitk

from autosr.errors import DatasetError
from autosr.imageio import DicomSeriesReader, Geometry, file_ending, list_dicom_series, read_image
from autosr.imageio.sitk_io import quiet_itk

logger = logging.getLogger(__name__)

#: Endings that never hold a scan of their own (DICOM is found by content, not by ending).
_SKIP_ENDINGS = (".dcm",)


@dataclass(frozen=True)
class ImageSource:
    """One image to convert: a file, or a DICOM series (its files, told apart by SeriesInstanceUID)."""

    path: Path
    dicom_files: Tuple[str, ...] = ()
    series_uid: Optional[str] = None
    tags: Dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_dicom(self) -> bool:
        return bool(self.dicom_files)

    def read(self) -> Tuple[np.ndarray, Geometry]:
        """The array (numpy order, original dtype) and geometry; :class:`ImageReadError` if unreadable."""
        if self.is_dicom:
            return DicomSeriesReader().read_files(self.dicom_files, source=str(self.path))
        return read_image(self.path)

    def record(self) -> Dict[str, object]:
        """Where the image came from, for the ``sources`` key of dataset.json."""
        out: Dict[str, object] = {"path": os.path.abspath(self.path)}  # absolute: provenance must not depend on cwd
        if self.is_dicom:
            out.update(series_instance_uid=self.series_uid or "", num_files=len(self.dicom_files))
        return out

    def describe(self) -> str:
        return f"{self.path} (DICOM series {self.series_uid or 'without UID'})" if self.is_dicom else str(self.path)


def dicom_tags(files: Sequence[str], keys: Iterable[str] = ("0008|0060", "0020|0011", "0008|103e")) -> Dict[str, str]:
    """A few header tags of a series' first file (Modality, SeriesNumber, SeriesDescription)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    try:
        with quiet_itk():
            reader.ReadImageInformation()
    except RuntimeError:
        return {}
    return {k: reader.GetMetaData(k).strip() for k in keys if reader.HasMetaDataKey(k)}


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def image_files(root: Path, recursive: bool = True) -> List[Path]:
    """Image files under ``root`` (sorted), one per scan: an Analyze/NIfTI pair counts once (its ``.img``)."""
    candidates = sorted(root.rglob("*") if recursive else root.iterdir())
    files = [p for p in candidates if p.is_file() and not _hidden(p, root)
             and file_ending(p) and file_ending(p) not in _SKIP_ENDINGS]
    names = {str(p) for p in files}
    return [p for p in files if not (file_ending(p) == ".hdr" and str(p.with_suffix(".img")) in names)]


def find_sources(root: os.PathLike | str, recursive: bool = True) -> List[ImageSource]:
    """Every image under ``root``: image files, and DICOM series (found by content, any file name)."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: input does not exist; give a file or a folder of images / DICOM series")
    if root.is_file():
        if not file_ending(root):
            raise DatasetError(f"{root}: not an image file this converter reads (.nii.gz, .nii, .nrrd, .mha, "
                               f".mhd, .img/.hdr, or a folder holding DICOM series)")
        return [ImageSource(root)]
    sources = []
    dicom_member: Set[str] = set()
    for uid, files in list_dicom_series(root, recursive=recursive):
        if _hidden(Path(files[0]), root):
            continue
        dicom_member.update(os.path.normpath(f) for f in files)
        sources.append(ImageSource(Path(files[0]).parent, tuple(files), uid, dicom_tags(files)))
    images = [p for p in image_files(root, recursive) if os.path.normpath(str(p)) not in dicom_member]
    sources += [ImageSource(p) for p in images]
    _log_skipped(root, recursive, dicom_member | {os.path.normpath(str(p)) for p in images})
    return sources


#: Files that belong to an image written in several files (MetaImage data, Analyze header).
_COMPANION_ENDINGS = (".raw", ".zraw", ".raw.gz", ".hdr")


def _log_skipped(root: Path, recursive: bool, used: Set[str]) -> None:
    """One line naming the files that are neither images nor DICOM (DICOMDIR, notes, viewer files): skipped."""
    files = sorted(root.rglob("*") if recursive else root.iterdir())
    skipped = [p for p in files if p.is_file() and not _hidden(p, root) and os.path.normpath(str(p)) not in used
               and not p.name.lower().endswith(_COMPANION_ENDINGS)]
    if skipped:
        shown = ", ".join(str(p.relative_to(root)) for p in skipped[:5]) + (" …" if len(skipped) > 5 else "")
        logger.warning("%s: skipped %d file(s) that are neither images nor DICOM: %s", root, len(skipped), shown)


def sanitize(name: str) -> str:
    """A case/dataset-safe name: letters, digits, '-' and '_' only (other runs become '_')."""
    clean = re.sub(r"[^A-Za-z0-9-]+", "_", name).strip("_-")
    return clean or "case"


def strip_ending(name: str) -> str:
    ending = file_ending(name)
    return name[: -len(ending)] if ending else name


def unique(names: Sequence[str]) -> List[str]:
    """Make names unique in order: the second ``a`` becomes ``a_2`` (deterministic)."""
    seen: Dict[str, int] = {}
    taken = set(names)
    out = []
    for n in names:
        if n not in seen:
            seen[n] = 1
            out.append(n)
            continue
        k = seen[n] + 1
        while f"{n}_{k}" in taken:
            k += 1
        seen[n] = k
        taken.add(f"{n}_{k}")
        out.append(f"{n}_{k}")
    return out


def case_names(sources: Sequence[ImageSource], root: Path) -> List[str]:
    """Deterministic case names from file names (without ending) or DICOM folder names.

    The short name (file stem, folder name) is used when it is unique; otherwise the path
    relative to ``root``; several series in one folder get ``_s{SeriesNumber}``.
    """
    root = Path(root)

    def rel(src: ImageSource) -> List[str]:
        base = root if root.is_dir() else root.parent
        try:
            parts = list(src.path.relative_to(base).parts)
        except ValueError:
            parts = [src.path.name]
        if not parts or parts == ["."]:
            parts = [root.name]
        if not src.is_dicom:
            parts[-1] = strip_ending(parts[-1])
        return parts

    short = [sanitize(rel(s)[-1]) for s in sources]
    full = [sanitize("_".join(rel(s))) for s in sources]
    # a short name is ambiguous only if different paths share it (series of one folder are split below)
    paths_of: Dict[str, Set[Path]] = {}
    for n, src in zip(short, sources):
        paths_of.setdefault(n, set()).add(src.path)
    names = [s if len(paths_of[s]) == 1 else f for s, f in zip(short, full)]
    return unique(series_suffixes(names, sources))


def series_suffixes(names: Sequence[str], sources: Sequence[ImageSource]) -> List[str]:
    """Tell apart DICOM series that got one name (several series in one folder).

    Suffix ``_s{SeriesNumber}`` when that separates them, else the first file's name.
    """
    out = list(names)
    groups: Dict[str, List[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(n, []).append(i)
    for n, idx in groups.items():
        dicom = [i for i in idx if sources[i].is_dicom]
        if len(idx) < 2 or not dicom:
            continue
        numbers = [sources[i].tags.get("0020|0011", "") for i in dicom]
        if all(numbers) and len(set(numbers)) == len(numbers):
            suffixes = [f"s{sanitize(x)}" for x in numbers]
        else:
            suffixes = [sanitize(strip_ending(Path(sources[i].dicom_files[0]).name)) for i in dicom]
        for i, suf in zip(dicom, suffixes):
            out[i] = f"{n}_{suf}"
    return out


def pick_test_cases(names: Sequence[str], fraction: float, seed: int = 0) -> Set[str]:
    """A seeded, order-independent choice of ``round(fraction * n)`` test cases (at least one stays for training)."""
    if not 0.0 <= fraction < 1.0:
        raise DatasetError(f"test fraction {fraction} must be in [0, 1), e.g. 0.2 keeps 20% of the cases for testing")
    ordered = sorted(names)
    n_test = min(int(round(fraction * len(ordered))), max(len(ordered) - 1, 0))
    random.Random(seed).shuffle(ordered)
    return set(ordered[:n_test])


def match_keyword(candidates: Sequence[Path], keyword: str) -> List[Path]:
    """Files whose name contains ``keyword`` (case-insensitive).

    When several contain it, those holding it as a whole token (bounded by non-alphanumerics,
    so ``t1`` in ``x_t1.nii.gz`` but not in ``x_t1ce.nii.gz``) win if that leaves a single one.
    """
    kw = keyword.lower()
    hits = [p for p in candidates if kw in p.name.lower()]
    if len(hits) > 1:
        token = re.compile(rf"(?<![a-z0-9]){re.escape(kw)}(?![a-z0-9])")
        whole = [p for p in hits if token.search(p.name.lower())]
        if len(whole) == 1:
            return whole
    return hits
