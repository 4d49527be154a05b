"""Readers and writers built on SimpleITK: NIfTI, NRRD, MetaImage, Analyze and DICOM series."""
from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

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
            # Analyze (.img/.hdr, e.g. OASIS) makes ITK print a deprecation warning on every read
            with quiet_itk() if file_ending(path) in (".img", ".hdr") else contextlib.nullcontext():
                img = sitk.ReadImage(path)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
            raise ImageReadError(f"{path}: cannot be read as an image ({first}); "
                                 f"check that the file is complete and in a supported format") from None
        check_complete(path)
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


_NIFTI_FAMILY = (".nii", ".nii.gz", ".img", ".hdr")


def check_complete(path: os.PathLike | str) -> None:
    """Raise :class:`ImageReadError` if a NIfTI/Analyze file holds fewer voxel bytes than its header declares.

    ITK's NIfTI reader silently pads a truncated ``.nii``/``.nii.gz`` (an interrupted copy or
    download) with garbage, so this is checked here. MetaImage and NRRD readers already fail.
    Cheap: a size comparison, and for ``.gz`` the 4-byte gzip size trailer (a full decompression
    only when the trailer cannot decide, e.g. multi-member gzip files).
    """
    ending = file_ending(path)
    if ending not in _NIFTI_FAMILY:
        return
    import nibabel as nib  # nibabel parses NIfTI-1/-2 and Analyze headers of every variant; ITK hides the offset

    try:
        proxy = nib.load(str(path)).dataobj  # the array proxy knows where the voxels start in the file
        offset = int(proxy.offset)
        nbytes = int(np.prod(proxy.shape, dtype=np.int64)) * np.dtype(proxy.dtype).itemsize
    except Exception:  # nibabel cannot judge this header: ITK already read it, so do not second-guess
        return
    data_file = Path(path).with_suffix(".img") if ending == ".hdr" else Path(path)
    expected = offset + nbytes
    if ending == ".nii.gz":
        actual = _gzip_size(data_file, expected)
        what = "the compressed data breaks off early" if actual < 0 else f"{actual} of {expected} bytes"
    else:
        actual = data_file.stat().st_size if data_file.is_file() else 0
        what = f"{actual} of {expected} bytes"
    if actual < expected:
        raise ImageReadError(f"{data_file}: file is truncated ({what}); "
                             f"copy or download it again (an interrupted transfer leaves such files)")


def _gzip_size(path: Path, expected: int) -> int:
    """Uncompressed size of a gzip file, or -1 if its stream breaks off before the end."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() >= 4:
            f.seek(-4, os.SEEK_END)
            if struct.unpack("<I", f.read(4))[0] == expected % 2 ** 32:
                return expected  # ISIZE trailer matches: the stream was written to its end
    total = 0
    try:
        with gzip.open(path, "rb") as g:
            while chunk := g.read(1 << 20):
                total += len(chunk)
    except (EOFError, OSError, zlib.error):
        return -1
    return total


def count_nonfinite(path: os.PathLike | str) -> int:
    """Number of NaN/Inf voxels stored in an image file (reads all voxels; checks completeness first).

    NIfTI/Analyze files are read with nibabel: ITK's NIfTI reader (niftilib) silently replaces
    NaN and Inf with 0, so ``read_image`` cannot see them. Other formats keep them in ITK.
    Raises :class:`ImageReadError` if the file cannot be read.
    """
    check_complete(path)
    if file_ending(path) in _NIFTI_FAMILY:
        import nibabel as nib

        try:
            data = np.asarray(nib.load(str(path)).dataobj.get_unscaled())
        except Exception as exc:  # zlib/CRC errors, short reads: any failure means the voxels are unusable
            raise ImageReadError(f"{path}: voxel data cannot be read ({exc}); replace the file with a "
                                 f"complete copy") from None
    else:
        data, _ = SimpleITKReaderWriter().read(path)
    if not np.issubdtype(data.dtype, np.inexact):
        return 0
    return int(data.size - np.count_nonzero(np.isfinite(data)))


@contextlib.contextmanager
def quiet_itk() -> Iterator[None]:
    """Silence ITK's global warnings (GDCM prints "No Series were found" for every non-DICOM folder)."""
    was = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(was)


def list_dicom_series(folder: os.PathLike | str, recursive: bool = True) -> List[Tuple[str, List[str]]]:
    """DICOM series under ``folder`` as ``(SeriesInstanceUID, sorted file names)``, told apart by UID.

    Files sharing a UID in several folders form one series. An empty UID (anonymised data) is
    not an identity, so such series stay apart, one per folder.
    """
    folder = Path(folder)
    dirs = [folder] + ([d for d in sorted(folder.rglob("*")) if d.is_dir()] if recursive else [])
    found: Dict[Tuple[str, str], List[str]] = {}
    with quiet_itk():
        for d in dirs:
            reader = sitk.ImageSeriesReader()
            for uid in reader.GetGDCMSeriesIDs(str(d)) or ():
                files = list(reader.GetGDCMSeriesFileNames(str(d), uid))
                found.setdefault((uid, "" if uid else str(d)), []).extend(files)
    return sorted((uid, files) for (uid, _), files in found.items())


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
