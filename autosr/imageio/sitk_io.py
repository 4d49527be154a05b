"""Readers and writers built on SimpleITK: NIfTI, NRRD, MetaImage, Analyze and DICOM series."""
from __future__ import annotations

import contextlib
import errno
import gzip
import os
import re
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np
import SimpleITK as sitk

from autosr.dataset import pid_tag
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


def _geometry(img: sitk.Image | sitk.ImageFileReader) -> Geometry:
    return Geometry(tuple(img.GetSpacing()), tuple(img.GetOrigin()), tuple(img.GetDirection()))


def _from_sitk(img: sitk.Image, source: str) -> Tuple[np.ndarray, Geometry]:
    """Array and geometry of a read DICOM series (files are checked from their header, see :func:`read_header`)."""
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"{source}: has {img.GetNumberOfComponentsPerPixel()} values per voxel (vector/RGB "
                             f"image); AutoSR needs one scalar image per channel")
    arr = sitk.GetArrayFromImage(img)
    refuse_nonfinite(source, arr)
    return arr, _geometry(img)


def image_from_sitk(img: sitk.Image, source: str = "image") -> Tuple[np.ndarray, Geometry]:
    """Array (numpy order, pixel dtype) and geometry of an in-memory SimpleITK image, with the reader's checks.

    :class:`ImageReadError` naming ``source``: not 2D or 3D, a vector/RGB image, NaN/Inf voxels.
    """
    if img.GetDimension() not in (2, 3):
        raise ImageReadError(f"{source}: image has {img.GetDimension()} dimensions (size {img.GetSize()}); "
                             f"AutoSR takes 2D or 3D images only")
    return _from_sitk(img, source)


def image_to_sitk(array: np.ndarray, geometry: Geometry) -> sitk.Image:
    """A SimpleITK image of ``array`` (numpy order; its dtype becomes the pixel type) placed by ``geometry``."""
    if array.ndim != geometry.ndim:
        raise ValueError(f"array has {array.ndim} dimensions but geometry has {geometry.ndim}")
    img = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=False)
    img.SetSpacing(geometry.spacing)
    img.SetOrigin(geometry.origin)
    img.SetDirection(geometry.direction)
    return img


def refuse_nonfinite(source: str, arr: np.ndarray) -> None:
    """Raise :class:`ImageReadError` naming ``source`` and the count if ``arr`` holds NaN/Inf voxels."""
    if not np.issubdtype(arr.dtype, np.inexact):
        return
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ImageReadError(f"{source}: holds {bad} NaN/Inf voxel(s) of {arr.size}; replace them (e.g. with the "
                             f"background value) and write the file again")


def read_header(path: str) -> sitk.ImageFileReader:
    """An ITK reader that has read ``path``'s header only (no voxels), checked for what AutoSR can use.

    Refuses, before any voxel is allocated: unreadable headers, 4D and vector images, a NIfTI
    without spacing, and a header claiming more voxel bytes than the file can hold.
    """
    reader = _header_reader(path, "cannot be read as an image ({}); check that the file is complete and in a "
                                  "supported format")
    dim, size = reader.GetDimension(), tuple(reader.GetSize())
    if dim not in (2, 3):
        raise ImageReadError(f"{path}: image has {dim} dimensions (size {size}); AutoSR takes 2D or 3D images "
                             f"only: split it into 3D volumes, one case each")
    if reader.GetNumberOfComponents() != 1:
        raise ImageReadError(f"{path}: has {reader.GetNumberOfComponents()} values per voxel (vector/RGB image); "
                             f"AutoSR needs one scalar image per channel file")
    if file_ending(path) in _NIFTI_FAMILY:
        check_nifti_spacing(path)
    check_complete(path, reader)
    return reader


def _header_reader(path: str, problem: str) -> sitk.ImageFileReader:
    """An ITK reader that has read ``path``'s header; ``problem`` (with ``{}`` for ITK's reason) if it cannot."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        # Analyze (.img/.hdr, e.g. OASIS) makes ITK print a deprecation warning on every read
        with quiet_itk():
            reader.ReadImageInformation()
    except RuntimeError as exc:
        raise ImageReadError(f"{path}: " + problem.format(_last_line(exc))) from None
    return reader


def _execute(reader: "sitk.ImageFileReader | sitk.ImageSeriesReader", source: str, problem: str) -> sitk.Image:
    """Read the voxels; ``problem`` (with ``{}`` for ITK's reason) if ITK cannot."""
    try:
        with quiet_itk():
            return reader.Execute()
    except RuntimeError as exc:
        raise ImageReadError(f"{source}: " + problem.format(_last_line(exc))) from None


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else "unknown error"


class SimpleITKReaderWriter:
    """Single-file formats SimpleITK reads and writes (NIfTI, NRRD, MetaImage, Analyze, DICOM file)."""

    endings = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".img", ".hdr", ".dcm")

    def read(self, path: os.PathLike | str) -> Tuple[np.ndarray, Geometry]:
        """Array (numpy order, stored dtype) and geometry; :class:`ImageReadError` for anything unusable.

        Headers are checked before voxels are read (see :func:`read_header`); NaN/Inf voxels are
        refused (for float NIfTI counted by nibabel, as ITK's NIfTI reader turns them into 0).
        """
        path = str(path)
        if not os.path.isfile(path):
            raise ImageReadError(f"{path}: file does not exist")
        reader = read_header(path)
        # float NIfTI: read (or at least checked for NaN/Inf) by nibabel
        arr = _nifti_float_voxels(path, reader) if file_ending(path) in _NIFTI_FAMILY else None
        if arr is None:
            img = _execute(reader, path, "voxel data cannot be read ({}); replace the file with a complete copy")
            arr = sitk.GetArrayFromImage(img)
            refuse_nonfinite(path, arr)
        return arr, _geometry(reader)

    def write(self, array: np.ndarray, geometry: Geometry, path: os.PathLike | str) -> None:
        if array.ndim != geometry.ndim:
            raise ValueError(f"{path}: array has {array.ndim} dimensions but geometry has {geometry.ndim}")
        _atomic_write(image_to_sitk(array, geometry), Path(path))


def _atomic_write(img: sitk.Image, path: Path) -> None:
    """Write into a hidden temporary folder beside ``path``, then rename into place.

    A whole folder (not a temporary file name) keeps multi-file formats (``.mhd`` + ``.raw``,
    ``.hdr`` + ``.img``) pointing at their final names, and a crash leaves no partial file
    under the final name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".autosr-partial-{pid_tag()}-", dir=path.parent))
    try:
        sitk.WriteImage(img, str(tmp / path.name), useCompression=path.name.lower().endswith(".gz"))
        _check_written(tmp / path.name, path)
        produced = sorted(tmp.iterdir(), key=lambda p: p.name == path.name)  # header/main file last
        for f in produced:
            os.replace(f, path.parent / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_written(written: Path, path: Path) -> None:
    """Raise an :class:`OSError` naming ``path`` if ITK left the file empty or incomplete.

    ITK's writers do not always report a failed write (a full disk leaves an empty or short file).
    """
    complete = written.stat().st_size > 0
    if complete:
        try:
            check_complete(written)
        except ImageReadError:
            complete = False
    if not complete:
        code = errno.ENOSPC if shutil.disk_usage(written.parent).free < (1 << 20) else errno.EIO
        raise OSError(code, os.strerror(code), str(path))


_NIFTI_FAMILY = (".nii", ".nii.gz", ".img", ".hdr")
#: Deflate (gzip/zlib) never expands one compressed byte into more than 1032 bytes (all-zero
#: volumes reach ~1025 with ITK): a little above, as a bound that never refuses a real file.
_MAX_DEFLATE_RATIO = 1100


def check_nifti_spacing(path: os.PathLike | str) -> None:
    """Refuse a NIfTI/Analyze header whose spacing is unknown: pixdim ≤ 0 (or not a number) on an axis.

    ITK takes the spacing from pixdim alone (not from the qform/sform) and silently reads such an
    axis as 1 mm. A positive pixdim without qform/sform is a valid "scanner-less" image and is kept.
    """
    import nibabel as nib
    from nibabel.openers import ImageOpener

    header_file = Path(path).with_suffix(".hdr") if file_ending(path) == ".img" else Path(path)
    try:
        with ImageOpener(str(header_file)) as f:
            block = f.read(nib.Nifti2Header.sizeof_hdr)
        # the raw header: nib.load would already have replaced a zero pixdim by 1
        klass = next((k for k in (nib.Nifti2Header, nib.Nifti1Header) if k.may_contain_header(block)),
                     nib.AnalyzeHeader)
        hdr = klass(block[:klass.sizeof_hdr], check=False)
        shape = hdr.get_data_shape()[:3]
        pixdim = [float(v) for v in hdr["pixdim"][1:1 + len(shape)]]
    except Exception:  # nibabel cannot parse this header: ITK already did, so do not second-guess it
        return
    # an axis of one voxel has no spacing to speak of
    if any(n > 1 and not (np.isfinite(d) and d > 0) for n, d in zip(shape, pixdim)):
        raise ImageReadError(f"{path}: voxel spacing unknown (pixdim {pixdim[:3]}), which would be read as 1 mm; "
                             f"write the file again with its real voxel size in pixdim")


def check_complete(path: os.PathLike | str, reader: sitk.ImageFileReader | None = None) -> None:
    """Raise :class:`ImageReadError` if a file holds fewer voxel bytes than its header declares.

    Checked from sizes, before any voxel is allocated: a truncated file (an interrupted copy or
    download; ITK's NIfTI reader would pad it with garbage) or a header claiming far more voxels
    than the file holds (which would make the reader allocate gigabytes first). NIfTI/Analyze:
    exact, for ``.gz`` from the gzip size trailer (a streamed decompression only when the trailer
    cannot decide). MetaImage/NRRD: exact when raw, a deflate bound when compressed; other
    encodings and formats are left to the reader. ``reader``: the header reader, if already open.
    """
    if file_ending(path) in _NIFTI_FAMILY:
        _check_nifti_complete(path)
        return
    layout = _data_layout(Path(path))
    if layout is None:
        return
    data_file, offset, compressed = layout
    if not data_file.is_file():
        raise ImageReadError(f"{data_file}: missing; the header {path} keeps its voxels there")
    if reader is None:
        reader = read_header(str(path))
    probe = sitk.Image([1] * reader.GetDimension(), reader.GetPixelID())
    expected = int(np.prod(reader.GetSize(), dtype=np.int64)) * sitk.GetArrayViewFromImage(probe).itemsize
    actual = data_file.stat().st_size - offset
    if (actual * _MAX_DEFLATE_RATIO if compressed else actual) < expected:
        where = "" if data_file == Path(path) else f" in {data_file.name}"
        raise ImageReadError(_truncated(Path(path), f"{max(actual, 0)} {'compressed ' if compressed else ''}bytes"
                                                    f"{where} for the {expected} its header declares", reader.GetSize()))


def _truncated(data_file: Path, what: str, size: Sequence[int]) -> str:
    return (f"{data_file}: file is truncated or its header is wrong ({what}, {' x '.join(map(str, size))} voxels); "
            f"copy or download it again (an interrupted transfer leaves such files)")


def _data_layout(path: Path) -> Tuple[Path, int, bool] | None:
    """``(file holding the voxels, offset of the voxels, compressed)`` of a MetaImage/NRRD file; None if unknown."""
    ending = file_ending(path)
    if ending not in (".mha", ".mhd", ".nrrd", ".nhdr"):
        return None
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if ending in (".mha", ".mhd"):
        m = re.search(rb"^ElementDataFile\s*=[ \t]*(\S[^\r\n]*?)[ \t]*\r?\n", head, re.M)
        compressed = re.search(rb"^CompressedData\s*=\s*True", head, re.M | re.I) is not None
        if not m:
            return None
        name = m.group(1).decode("latin-1")
        if name.upper() == "LOCAL":
            return path, m.end(), compressed
    else:
        end = re.search(rb"\r?\n\r?\n", head)
        enc = re.search(rb"^encoding:\s*(\w+)", head, re.M)
        if end is None or enc is None or enc.group(1).lower() not in (b"raw", b"gzip", b"gz"):
            return None  # text, hex and bzip2 encodings: no simple size rule
        compressed = enc.group(1).lower() != b"raw"
        m = re.search(rb"^data ?file:[ \t]*(\S[^\r\n]*?)[ \t]*\r?$", head[:end.start() + 1], re.M)
        if m is None:
            return path, end.end(), compressed
        name = m.group(1).decode("latin-1")
    if "%" in name or name.upper().startswith("LIST") or " " in name:
        return None  # one file per slice: the reader checks those
    return path.parent / name, 0, compressed


def _check_nifti_complete(path: os.PathLike | str) -> None:
    import nibabel as nib  # nibabel parses NIfTI-1/-2 and Analyze headers of every variant; ITK hides the offset

    try:
        proxy = nib.load(str(path)).dataobj  # the array proxy knows where the voxels start in the file
        offset = int(proxy.offset)
        nbytes = int(np.prod(proxy.shape, dtype=np.int64)) * np.dtype(proxy.dtype).itemsize
    except Exception:  # nibabel cannot judge this header: ITK already read it, so do not second-guess
        return
    ending = file_ending(path)
    data_file = Path(path).with_suffix(".img") if ending == ".hdr" else Path(path)
    expected = offset + nbytes
    if ending == ".nii.gz":
        actual = _gzip_size(data_file, expected)
        what = "the compressed data breaks off early" if actual < 0 else f"{actual} of the {expected} bytes"
    else:
        actual = data_file.stat().st_size if data_file.is_file() else 0
        what = f"{actual} of the {expected} bytes"
    if actual < expected:
        raise ImageReadError(_truncated(data_file, what, tuple(proxy.shape)))


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


def _nifti_float_voxels(path: str, reader: sitk.ImageFileReader) -> np.ndarray | None:
    """The voxels of a float NIfTI file read once by nibabel, in ITK's numpy order; None: let ITK read them.

    ITK's NIfTI reader (niftilib) silently turns NaN and Inf into 0, so float files are read here
    and checked by the caller. Integer files cannot hold NaN. Files ITK would rescale
    (scl_slope/scl_inter) and Analyze files (whose orientation ITK may apply) are checked here
    and then read by ITK: rare, and the only case read twice.
    """
    import nibabel as nib

    try:
        img = nib.load(path, mmap=False)
        if not np.issubdtype(img.header.get_data_dtype(), np.floating):
            return None
        raw = np.asarray(img.dataobj.get_unscaled())
    except Exception as exc:  # zlib/CRC errors, short reads: any failure means the voxels are unusable
        raise ImageReadError(f"{path}: voxel data cannot be read ({exc}); replace the file with a "
                             f"complete copy") from None
    refuse_nonfinite(path, raw)
    slope, inter = img.header.get_slope_inter()
    shape = tuple(reversed(reader.GetSize()))
    if (file_ending(path) not in (".nii", ".nii.gz") or slope not in (None, 1.0) or inter not in (None, 0.0)
            or raw.size != int(np.prod(shape))):
        return None
    # nibabel's (x, y, z) is ITK's numpy (z, y, x); trailing axes of length 1 may differ
    return np.ascontiguousarray(raw.T.reshape(shape), dtype=raw.dtype.newbyteorder("="))


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
        """Read the files of one series as a volume, after checking they form one evenly spaced stack."""
        source = source or files[0]
        files = check_slices(files, source) if len(files) > 1 else list(files)
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        img = _execute(reader, source, "DICOM series cannot be read ({}); check that every file is a complete "
                                       "DICOM image")
        return _from_sitk(img, source)


#: Slice steps may differ by this much (mm, or this fraction of the step) from the median step.
SLICE_STEP_ATOL_MM = 0.01
SLICE_STEP_RTOL = 0.01


def _slice_header(path: str) -> Tuple[Tuple[int, ...], np.ndarray | None, np.ndarray | None]:
    """``(rows × columns, ImagePositionPatient, ImageOrientationPatient)`` of one DICOM file (None when absent)."""
    reader = _header_reader(path, "not a readable DICOM image ({}); move it out of the series folder or replace it")

    def vector(key: str, n: int) -> np.ndarray | None:
        try:
            v = np.array([float(x) for x in reader.GetMetaData(key).split("\\")], dtype=np.float64)
        except (RuntimeError, ValueError):  # tag absent or not numbers
            return None
        return v if v.size == n and np.all(np.isfinite(v)) else None

    return tuple(reader.GetSize()[:2]), vector("0020|0032", 3), vector("0020|0037", 6)


def check_slices(files: Sequence[str], source: str) -> List[str]:
    """The files of a DICOM series sorted along the slice normal; refuses anything but one evenly spaced stack.

    ITK stacks whatever it is given and takes the spacing from the first two slices, so a
    missing slice, a duplicate, mixed orientations or two series without UIDs in one folder
    would silently misplace slices (or end in ITK's "Size mismatch"). Refused with the positions
    found: image sizes, orientations (ImageOrientationPatient 0020|0037) and positions along
    the slice normal (ImagePositionPatient 0020|0032).
    """
    headers = [_slice_header(f) for f in files]
    sizes = sorted({h[0] for h in headers})
    if len(sizes) > 1:
        raise ImageReadError(f"{source}: mixes images of {len(sizes)} sizes ({', '.join('x'.join(map(str, s)) for s in sizes)}"
                             f"), so it holds more than one series; put each series in its own folder")
    lacking = [Path(f).name for f, h in zip(files, headers) if h[1] is None or h[2] is None]
    if lacking:
        raise ImageReadError(f"{source}: {len(lacking)} of {len(files)} files lack ImagePositionPatient or "
                             f"ImageOrientationPatient (e.g. {lacking[0]}), so the slice spacing is unknown; "
                             f"export the series with these tags")
    orientations = sorted({tuple(np.round(h[2], 3)) for h in headers})
    if len(orientations) > 1:
        raise ImageReadError(f"{source}: slices have {len(orientations)} orientations "
                             f"({'; '.join(_fmt_mm(o) for o in orientations)}), so it holds more than one series; "
                             f"put each series in its own folder")
    normal = np.cross(headers[0][2][:3], headers[0][2][3:])
    where = np.array([float(h[1] @ normal) for h in headers])
    order = np.argsort(where, kind="stable")
    pos = where[order]
    steps = np.diff(pos)
    step = float(np.median(steps))
    tol = max(SLICE_STEP_ATOL_MM, SLICE_STEP_RTOL * step)
    if np.any(steps <= tol):
        dup = sorted({round(float(p), 3) for p, d in zip(pos[1:], steps) if d <= tol})
        raise ImageReadError(f"{source}: {len(files)} slices but several at the same position(s) "
                             f"{_fmt_mm(dup[:6])} mm along the slice normal, so the folder holds a series twice or "
                             f"two series; keep one series per folder")
    odd = [k for k, d in enumerate(steps) if abs(d - step) > tol]
    if odd:
        found = ", ".join(f"{pos[k]:.4g} to {pos[k + 1]:.4g} ({steps[k]:.4g} mm)" for k in odd[:4])
        raise ImageReadError(f"{source}: slices are not evenly spaced along the slice normal: {len(files)} slices "
                             f"from {pos[0]:.4g} to {pos[-1]:.4g} mm, steps of {step:.4g} mm except {found}"
                             f"{' …' if len(odd) > 4 else ''}; a slice is missing or the series is irregular: "
                             f"export the complete series")
    return [files[k] for k in order]


def _fmt_mm(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
