"""BraTS (multi-modal glioma MRI, MIASSR's 4-channel set) from its published layouts.

::

    MICCAI_BraTS_2018_Data_Training/HGG/Brats18_2013_2_1/Brats18_2013_2_1_{t1,t1ce,t2,flair,seg}.nii.gz
    BraTS2021_Training_Data/BraTS2021_00000/BraTS2021_00000_{t1,t1ce,t2,flair,seg}.nii.gz
    BraTS 2023: BraTS-GLI-00000-000/BraTS-GLI-00000-000-{t1n,t1c,t2w,t2f,seg}.nii.gz

Channels: 0 T1, 1 T1ce, 2 T2, 3 FLAIR. The segmentation (``seg``) is a label map, not a scan,
and is left out. Cases are found at any depth by their FLAIR file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from autosr.errors import ProblemsError

from autosr.dataset_conversion.sources import ImageSource, sanitize, unique
from autosr.dataset_conversion.writer import CaseSpec, convert_layout

CHANNEL_NAMES = ("T1", "T1ce", "T2", "FLAIR")
#: (separator, suffixes in channel order) of the naming schemes: up to 2021, and 2023
SCHEMES = (("_", ("t1", "t1ce", "t2", "flair")), ("-", ("t1n", "t1c", "t2w", "t2f")))
ENDINGS = (".nii.gz", ".nii")


def find_cases(input_dir: Path) -> List[CaseSpec]:
    """One case per FLAIR file; every other modality must sit beside it with the same prefix."""
    problems: List[str] = []
    found = []
    for sep, suffixes in SCHEMES:
        for ending in ENDINGS:
            for flair in sorted(input_dir.rglob(f"*{sep}{suffixes[-1]}{ending}")):
                prefix = flair.name[: -len(f"{sep}{suffixes[-1]}{ending}")]
                files = [flair.parent / f"{prefix}{sep}{s}{ending}" for s in suffixes]
                missing = [f.name for f in files if not f.is_file()]
                if missing:
                    problems.append(f"{flair.parent}: case {prefix} lacks {', '.join(missing)}; BraTS cases need "
                                    f"all four modalities (t1, t1ce, t2, flair)")
                    continue
                found.append((prefix, files))
    if problems:
        raise ProblemsError(f"{input_dir}: {len(problems)} incomplete BraTS case(s); nothing was written", problems)
    names = unique([sanitize(prefix) for prefix, _ in found])
    return [CaseSpec(n, [ImageSource(f) for f in files]) for n, (_, files) in zip(names, found)]


def convert_brats(input_dir: os.PathLike | str, dataset_id: int, name: str = "BraTS", *,
                  file_ending: str = ".nii.gz", test_fraction: float = 0.0, overwrite: bool = False,
                  raw_root: Optional[Path] = None, metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Convert a BraTS training folder into a 4-channel dataset (T1, T1ce, T2, FLAIR)."""
    return convert_layout(input_dir, dataset_id, name, CHANNEL_NAMES, find_cases,
                          expect="the BraTS training data folder",
                          nothing_found="no BraTS cases found (looked for *_flair.nii.gz / *-t2f.nii.gz at any depth)",
                          defaults={"description": "BraTS multi-modal glioma MRI (T1, T1ce, T2, FLAIR)",
                                    "license": "CC BY-NC-SA (BraTS data terms)",
                                    "reference": "Menze et al., IEEE TMI 34, 2015; Bakas et al., arXiv:1811.02629"},
                          file_ending=file_ending, test_fraction=test_fraction, overwrite=overwrite,
                          raw_root=raw_root, metadata=metadata)
