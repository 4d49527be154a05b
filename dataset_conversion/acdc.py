"""ACDC (cine cardiac MRI, MIASSR's transfer-learning set) from its published layout.

::

    database/training/patient001/patient001_frame01.nii.gz    (end-diastole)
    database/training/patient001/patient001_frame12.nii.gz    (end-systole)
    database/training/patient001/patient001_frame01_gt.nii.gz (labels: left out)
    database/training/patient001/patient001_4d.nii.gz         (whole cine series, 4D: left out)
    database/testing/patient101/...

Each frame is one case (``patient001_frame01``); frames under a ``testing`` folder go to imagesTs.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional


from autosr.dataset_conversion.sources import ImageSource
from autosr.dataset_conversion.writer import CaseSpec, convert_layout

_FRAME = re.compile(r"^(patient\d+)_frame\d+\.nii(\.gz)?$")


def find_cases(input_dir: Path) -> List[CaseSpec]:
    """One case per ``patient*/patient*_frame*.nii.gz`` (ground truth and 4D files excluded by the pattern)."""
    cases = []
    for p in sorted(input_dir.rglob("patient*_frame*.nii*")):
        m = _FRAME.match(p.name)
        if not m or p.parent.name != m.group(1):
            continue
        split = "imagesTs" if "testing" in (q.lower() for q in p.relative_to(input_dir).parts[:-1]) else "imagesTr"
        cases.append(CaseSpec(p.name.split(".nii")[0], [ImageSource(p)], split))
    return cases


def convert_acdc(input_dir: os.PathLike | str, dataset_id: int, name: str = "ACDC", *,
                 file_ending: str = ".nii.gz", test_fraction: float = 0.0, overwrite: bool = False,
                 raw_root: Optional[Path] = None, metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Convert the ACDC ``database`` folder (or its ``training``/``testing`` part) into a cine-MR dataset."""
    return convert_layout(input_dir, dataset_id, name, ["cineMR"], find_cases,
                          expect="the ACDC database folder",
                          nothing_found="no ACDC frames found (looked for patient*/patient*_frame*.nii.gz at any depth)",
                          defaults={"description": "ACDC cine cardiac MRI, ED and ES frames",
                                    "license": "ACDC challenge terms (non-commercial research)",
                                    "reference": "Bernard et al., IEEE TMI 37(11), 2018"},
                          file_ending=file_ending, test_fraction=test_fraction, overwrite=overwrite,
                          raw_root=raw_root, metadata=metadata)
