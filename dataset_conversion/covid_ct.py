"""COVID-CT ("CT Images in COVID-19", TCIA; MIASSR's CT set) from its published DICOM layout.

::

    CT Images in COVID-19/volume-covid19-A-0003/12-18-2004-NA-CT CHEST-12345/3.000000-NA-67890/1-001.dcm

One case per DICOM series, named after the patient folder (the first folder level under the
input); a patient with several series gets ``_s{SeriesNumber}`` suffixes. NIfTI volumes of the
same collection (``volume-covid19-A-0003.nii.gz``, as redistributed later) are taken as well.
The channel is ``CT``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional


from autosr.dataset_conversion.sources import (ImageSource, find_sources, sanitize, series_suffixes,
                                               strip_ending, unique)
from autosr.dataset_conversion.writer import CaseSpec, convert_layout


def _patient(src: ImageSource, root: Path) -> str:
    parts = src.path.relative_to(root).parts
    if not parts:
        return root.name
    return strip_ending(parts[0]) if len(parts) == 1 and not src.is_dicom else parts[0]


def find_cases(input_dir: Path) -> List[CaseSpec]:
    """One case per series / volume; names from the patient folder, deterministic."""
    sources = sorted(find_sources(input_dir), key=lambda s: (str(s.path), s.series_uid or ""))
    patients = [sanitize(_patient(s, input_dir)) for s in sources]
    return [CaseSpec(n, [s]) for n, s in zip(unique(series_suffixes(patients, sources)), sources)]


def convert_covid_ct(input_dir: os.PathLike | str, dataset_id: int, name: str = "COVIDCT", *,
                     file_ending: str = ".nii.gz", test_fraction: float = 0.0, overwrite: bool = False,
                     raw_root: Optional[Path] = None, metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Convert a TCIA "CT Images in COVID-19" download (one folder per patient) into a CT dataset."""
    return convert_layout(input_dir, dataset_id, name, ["CT"], find_cases,
                          expect="the folder holding one sub-folder per patient",
                          nothing_found="no DICOM series or NIfTI volumes found",
                          defaults={"description": "CT Images in COVID-19 (TCIA), chest CT",
                                    "license": "TCIA data usage policy (CC BY 4.0)",
                                    "reference": "An et al., CT Images in COVID-19 [Data set], TCIA, 2020"},
                          file_ending=file_ending, test_fraction=test_fraction, overwrite=overwrite,
                          raw_root=raw_root, metadata=metadata)
