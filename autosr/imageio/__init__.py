"""Image I/O that never loses geometry.

``read_image(path)`` → ``(array, Geometry)`` for a file or a DICOM-series folder;
``write_image(array, geometry, path)`` writes atomically; ``read_case(files)`` stacks the
channel files of one case into ``(C, *spatial)`` after checking they share shape and geometry;
``image_from_sitk(img)`` / ``image_to_sitk(array, geometry)`` convert in-memory SimpleITK images.
Arrays are in SimpleITK numpy order (``(z, y, x)``), see :mod:`autosr.imageio.geometry`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Tuple

import numpy as np

from autosr.errors import ImageReadError
from autosr.imageio.geometry import Geometry, orientation_code
from autosr.imageio.sitk_io import (FILE_ENDINGS, DicomSeriesReader, SimpleITKReaderWriter, check_complete,
                                    file_ending, image_from_sitk, image_to_sitk, is_image_file, list_dicom_series,
                                    read_header)

__all__ = ["Geometry", "read_image", "write_image", "read_case", "reader_for", "file_ending", "is_image_file",
           "list_dicom_series", "orientation_code", "FILE_ENDINGS",
           "check_complete", "read_header", "DicomSeriesReader", "image_from_sitk", "image_to_sitk"]


def reader_for(path: os.PathLike | str):
    """The reader class instance for a path: a DICOM-series reader for folders, else by file ending."""
    p = Path(path)
    if p.is_dir():
        return DicomSeriesReader()
    if file_ending(p) in SimpleITKReaderWriter.endings:
        return SimpleITKReaderWriter()
    raise ImageReadError(f"{path}: not a supported image (endings: {', '.join(FILE_ENDINGS)}, "
                         f"or a folder holding a DICOM series)")


def read_image(path: os.PathLike | str) -> Tuple[np.ndarray, Geometry]:
    """Read one image (or DICOM series folder); returns the array in its original dtype and its geometry.

    Every image AutoSR reads comes through here; refused with :class:`ImageReadError` naming the
    file: unreadable or truncated files, 4D and vector images, unknown spacing, NaN/Inf voxels,
    DICOM series that are not one evenly spaced stack (see :mod:`autosr.imageio.sitk_io`).
    """
    return reader_for(path).read(path)


def write_image(array: np.ndarray, geometry: Geometry, path: os.PathLike | str) -> None:
    """Write ``array`` (numpy order) with ``geometry`` to ``path`` atomically (format from the ending)."""
    if file_ending(path) not in SimpleITKReaderWriter.endings or file_ending(path) == ".dcm":
        raise ValueError(f"{path}: cannot write this format; use .nii.gz, .nii, .nrrd, .mha, .mhd or .img")
    SimpleITKReaderWriter().write(array, geometry, path)


def read_case(files: Sequence[os.PathLike | str], atol: float = 1e-3) -> Tuple[np.ndarray, Geometry]:
    """Read the channel files of one case into ``(C, *spatial)`` (float32 if dtypes differ).

    Every channel must share shape, spacing, origin and direction; a mismatch names both files.
    """
    arrays, geoms = [], []
    for f in files:
        a, g = read_image(f)
        if arrays:
            if a.shape != arrays[0].shape:
                raise ImageReadError(f"{f}: shape {a.shape} differs from {files[0]} {arrays[0].shape}; "
                                     f"all channels of a case must share one grid (resample them first)")
            if not g.is_close(geoms[0], atol=atol):
                raise ImageReadError(f"{f}: geometry (spacing/origin/direction) differs from {files[0]}; "
                                     f"all channels of a case must share one grid")
        arrays.append(a)
        geoms.append(g)
    if not arrays:
        raise ImageReadError("no channel files given")
    dtype = arrays[0].dtype if all(a.dtype == arrays[0].dtype for a in arrays) else np.float32
    return np.stack([a.astype(dtype, copy=False) for a in arrays]), geoms[0]
