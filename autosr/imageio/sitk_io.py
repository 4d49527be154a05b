"""Readers and writers built on SimpleITK: NIfTI, NRRD, MetaImage, Analyze and DICOM series."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import SimpleITK as sitk

from autosr.errors import ImageReadError
from autosr.imageio.geometry import Geometry

FILE_ENDINGS: Tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".img", ".hdr", ".dcm")


def file_ending(path: os.PathLike | str) -> str:
    """The image ending of a file name (``.nii.gz`` counts as one ending); ``""`` if unknown."""
    name = Path(path).name.lower()
    for ending in FILE_ENDINGS:
        if name.endswith(ending):
            return ending
    return ""


def is_image_file(path: os.PathLike | str) -> bool:
    return Path(path).is_file() and file_ending(path) != ""


def _geometry(img: sitk.Image) -> Geometry:
    return Geometry(tuple(img.GetSpacing()), tuple(img.GetOrigin()), tuple(img.GetDirection()))


def _from_sitk(img: sitk.Image, source: str) -> Tuple[np.ndarray, Geometry]:
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"{source}: has {img.GetNumberOfComponentsPerPixel()} components per voxel "
                             f"(vector/RGB image); AutoSR needs one scalar image per channel file")
    arr = sitk.GetArrayFromImage(img)
    return arr, _geometry(img)


class SimpleITKReaderWriter:
    """Single-file formats SimpleITK reads and writes (NIfTI, NRRD, MetaImage, Analyze, DICOM file)."""

    endings = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".img", ".hdr", ".dcm")

    def read(self, path: os.PathLike | str) -> Tuple[np.ndarray, Geometry]:
        path = str(path)
        if not os.path.isfile(path):
            raise ImageReadError(f"{path}: file does not exist")
        try:
            img = sitk.ReadImage(path)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
            raise ImageReadError(f"{path}: cannot be read as an image ({first}); "
                                 f"check that the file is complete and in a supported format") from None
        return _from_sitk(img, path)

    def write(self, array: np.ndarray, geometry: Geometry, path: os.PathLike | str) -> None:
        if array.ndim != geometry.ndim:
            raise ValueError(f"{path}: array has {array.ndim} dimensions but geometry has {geometry.ndim}")
        img = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=False)
        img.SetSpacing(geometry.spacing)
        img.SetOrigin(geometry.origin)
        img.SetDirection(geometry.direction)
        _atomic_write(img, Path(path))


def _atomic_write(img: sitk.Image, path: Path) -> None:
    """Write into a hidden temporary folder beside ``path``, then rename into place.

    A whole folder (not a temporary file name) keeps multi-file formats (``.mhd`` + ``.raw``,
    ``.hdr`` + ``.img``) pointing at their final names, and a crash leaves no partial file
    under the final name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".autosr-partial-", dir=path.parent))
    try:
        sitk.WriteImage(img, str(tmp / path.name), useCompression=path.name.lower().endswith(".gz"))
        produced = sorted(tmp.iterdir(), key=lambda p: p.name == path.name)  # header/main file last
        for f in produced:
            os.replace(f, path.parent / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def list_dicom_series(folder: os.PathLike | str, recursive: bool = True) -> List[Tuple[str, List[str]]]:
    """DICOM series under ``folder`` as ``(SeriesInstanceUID, sorted file names)``, told apart by UID."""
    folder = Path(folder)
    dirs = [folder] + ([d for d in sorted(folder.rglob("*")) if d.is_dir()] if recursive else [])
    found: Dict[str, List[str]] = {}
    for d in dirs:
        reader = sitk.ImageSeriesReader()
        for uid in reader.GetGDCMSeriesIDs(str(d)) or ():
            files = list(reader.GetGDCMSeriesFileNames(str(d), uid))
            found.setdefault(uid, []).extend(files)
    return sorted(found.items())


class DicomSeriesReader:
    """A folder holding one DICOM series (any transfer syntax GDCM decodes, JPEG 2000 included)."""

    def read(self, folder: os.PathLike | str, series_uid: str | None = None) -> Tuple[np.ndarray, Geometry]:
        folder = str(folder)
        series = list_dicom_series(folder, recursive=False)
        if not series:
            raise ImageReadError(f"{folder}: no DICOM series found in this folder")
        if series_uid is None and len(series) > 1:
            uids = ", ".join(uid for uid, _ in series)
            raise ImageReadError(f"{folder}: holds {len(series)} DICOM series ({uids}); "
                                 f"convert it with autosr_convert, which splits series into cases")
        files = dict(series)[series_uid] if series_uid else series[0][1]
        return self.read_files(files, source=folder)

    def read_files(self, files: Sequence[str], source: str = "") -> Tuple[np.ndarray, Geometry]:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(list(files))
        try:
            img = reader.Execute()
        except RuntimeError as exc:
            raise ImageReadError(f"{source or files[0]}: DICOM series cannot be read "
                                 f"({str(exc).strip().splitlines()[-1]})") from None
        return _from_sitk(img, source or files[0])
