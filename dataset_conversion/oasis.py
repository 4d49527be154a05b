"""OASIS-1 (cross-sectional brains, MIASSR's single-modality set) from its published layout.

::

    disc1/OAS1_0001_MR1/PROCESSED/MPRAGE/T88_111/OAS1_0001_MR1_mpr_n4_anon_111_t88_masked_gfc.img (+ .hdr)

The brain-masked, atlas-registered, gain-field-corrected T88_111 image is the one MIASSR used.
Only ``_MR1`` sessions are taken: ``_MR2`` is a repeat scan of the same subject days later, and
keeping both would put one brain on both sides of a train/test split.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Optional

from autosr.errors import DatasetError

from autosr.dataset_conversion.sources import ImageSource
from autosr.dataset_conversion.writer import CaseSpec, convert_layout

PATTERN = "OAS1_*_MR1/PROCESSED/MPRAGE/T88_111/*_t88_masked_gfc.img"
_SESSION = re.compile(r"^OAS1_\d{4}_MR1$")


def find_cases(input_dir: Path) -> list[CaseSpec]:
    """One case per ``OAS1_xxxx_MR1`` session (searched at any depth, e.g. under disc1/, disc2/)."""
    hits = sorted(p for p in input_dir.rglob(PATTERN) if _SESSION.match(p.parents[3].name))
    by_session: Dict[str, list] = {}
    for p in hits:
        by_session.setdefault(p.parents[3].name, []).append(p)
    cases = []
    for session, files in sorted(by_session.items()):
        if len(files) > 1:
            raise DatasetError(f"{files[0].parent}: holds {len(files)} *_t88_masked_gfc.img images for {session}; "
                               f"keep one")
        cases.append(CaseSpec(session, [ImageSource(files[0])]))
    return cases


def convert_oasis(input_dir: os.PathLike | str, dataset_id: int, name: str = "OASIS1", *,
                  file_ending: str = ".nii.gz", test_fraction: float = 0.0, overwrite: bool = False,
                  raw_root: Optional[Path] = None, metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Convert an OASIS-1 download (the ``disc*`` folders, or one of them) into a T1 dataset."""
    return convert_layout(input_dir, dataset_id, name, ["T1"], find_cases,
                          expect="the folder holding the OASIS-1 disc* folders",
                          nothing_found=f"no OASIS-1 images found (looked for {PATTERN} at any depth)",
                          defaults={"description": "OASIS-1 cross-sectional T1 (T88_111 brain-masked, gain-field corrected)",
                                    "license": "OASIS data use agreement (https://www.oasis-brains.org)",
                                    "reference": "Marcus et al., J Cogn Neurosci 19(9), 2007"},
                          file_ending=file_ending, test_fraction=test_fraction, overwrite=overwrite,
                          raw_root=raw_root, metadata=metadata)
