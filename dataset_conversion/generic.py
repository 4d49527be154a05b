"""Generic conversion: a folder of image files and/or DICOM series → one single-channel case each.

Files are found recursively by ending (.nii.gz, .nii, .nrrd, .mha, .mhd, Analyze .img/.hdr);
DICOM series by content (any file name), several series in one folder told apart by
SeriesInstanceUID. Cases are named after the file (without ending) or the DICOM folder,
sanitised, and dataset.json records under ``sources`` where each case came from.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from autosr.errors import DatasetError

from autosr.dataset_conversion.sources import ImageSource, case_names, find_sources
from autosr.dataset_conversion.writer import CaseSpec, check_target, merged_metadata, write_dataset

logger = logging.getLogger(__name__)

MODALITIES = ("CT", "MR")


def detect_modality(sources: Sequence[ImageSource]) -> Optional[str]:
    """``"CT"``/``"MR"`` when every DICOM series says so in its Modality tag; None otherwise."""
    tags = {s.tags.get("0008|0060", "").upper() for s in sources if s.is_dicom}
    if len(tags) == 1 and next(iter(tags)) in MODALITIES and all(s.is_dicom for s in sources):
        return next(iter(tags))
    return None


def channel_name_for(sources: Sequence[ImageSource], channel_name: Optional[str], modality: Optional[str]) -> str:
    """The one channel name: given, else ``--modality``, else the DICOM Modality tag, else MR."""
    if channel_name:
        return channel_name
    if modality:
        if modality.upper() not in MODALITIES:
            raise DatasetError(f"modality {modality!r} is not known; use CT or MR")
        return modality.upper()
    found = detect_modality(sources)
    if found:
        return found
    logger.info("no --modality or --channel_names given; naming the channel MR (use --modality CT for CT scans)")
    return "MR"


def convert_generic(input_path: os.PathLike | str, dataset_id: int, name: str, *,
                    channel_name: Optional[str] = None, modality: Optional[str] = None,
                    file_ending: str = ".nii.gz", test_fraction: float = 0.0, overwrite: bool = False,
                    raw_root: Optional[Path] = None, metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Convert every image file / DICOM series under ``input_path`` into a single-channel dataset."""
    root = Path(input_path)
    check_target(dataset_id, name, raw_root, overwrite)  # fail before scanning the input
    sources = find_sources(root)
    if not sources:
        raise DatasetError(f"{root}: no image files or DICOM series found (looked recursively for .nii.gz, "
                           f".nii, .nrrd, .mha, .mhd, .img/.hdr and DICOM files)")
    names = case_names(sources, root)
    channel = channel_name_for(sources, channel_name, modality)
    cases = [CaseSpec(n, [s]) for n, s in zip(names, sources)]
    meta = merged_metadata({"description": f"converted from {root} by autosr_convert (generic layout)"}, metadata)
    return write_dataset(cases, dataset_id, name, [channel], file_ending=file_ending, overwrite=overwrite,
                         raw_root=raw_root, test_fraction=test_fraction, metadata=meta)
