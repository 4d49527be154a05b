"""Writing small synthetic DICOM series with SimpleITK (for reader and converter tests)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk


def write_dicom_series(folder: Path, volume: np.ndarray, spacing_xyz: Sequence[float] = (0.8, 0.8, 2.0),
                       origin: Sequence[float] = (-50.0, -60.0, 10.0), series_uid: str = "1.2.826.0.1.3680043.2.1125.1",
                       series_number: int = 1, modality: str = "CT", prefix: str = "IM") -> Path:
    """Write ``volume`` (z, y, x; int16) as one axial DICOM file per slice into ``folder``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(volume.shape[0]):
        sl = sitk.GetImageFromArray(np.ascontiguousarray(volume[k].astype(np.int16)))
        sl.SetSpacing(tuple(spacing_xyz[:2]))
        pos = (origin[0], origin[1], origin[2] + k * spacing_xyz[2])
        tags = {
            "0008|0060": modality,
            "0020|000d": "1.2.826.0.1.3680043.2.1125.99",     # StudyInstanceUID
            "0020|000e": series_uid,                            # SeriesInstanceUID
            "0020|0011": str(series_number),                    # SeriesNumber
            "0008|0018": f"{series_uid}.{k + 1}",              # SOPInstanceUID
            "0020|0013": str(k + 1),                            # InstanceNumber
            "0020|0032": "\\".join(f"{v:.4f}" for v in pos),   # ImagePositionPatient
            "0020|0037": "1\\0\\0\\0\\1\\0",                   # ImageOrientationPatient (axial, LPS)
            "0018|0050": f"{spacing_xyz[2]:.4f}",               # SliceThickness
            "0028|0030": f"{spacing_xyz[1]:.4f}\\{spacing_xyz[0]:.4f}",  # PixelSpacing (row, column)
        }
        for key, value in tags.items():
            sl.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{prefix}{k + 1:04d}.dcm"))
        writer.Execute(sl)
    return folder
