"""Raw AutoSR datasets built from ../shared/data (the development scans), for tests and benchmarks.

NIfTI scans are symlinked (no copy); DICOM series and single DICOM slices are read with
``autosr.imageio`` and written as ``.nii.gz``. Independent of the dataset converter on purpose.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from autosr.imageio import Geometry, read_image, write_image

# name: (id, {channel: name}, {case: [source per channel]})
DEV_DATASETS: Dict[str, Tuple[int, Dict[str, str], Dict[str, List[str]]]] = {
    "TorchioT2": (101, {"0": "T2"}, {"fpg": ["torchio_fpg/t2.nii.gz"]}),
    "BraTS": (102, {"0": "FLAIR", "1": "T1c"},
              {p: [f"brats2013_deepmedic/{p}/Flair_subtrMeanDivStd.nii.gz",
                   f"brats2013_deepmedic/{p}/T1c_subtrMeanDivStd.nii.gz"] for p in ("pat0005", "pat0006")}),
    "CStar": (103, {"0": "T1", "1": "T2", "2": "FLAIR"},
              {"stroke": ["cstar_stroke/T1.nii.gz", "cstar_stroke/T2.nii.gz", "cstar_stroke/FLAIR.nii.gz"]}),
    "TotalSegCT": (104, {"0": "CT"}, {"abdomen": ["totalsegmentator/example_ct.nii.gz"],
                                       "abdomen_sm": ["totalsegmentator/example_ct_sm.nii.gz"],
                                       "aorta": ["totalsegmentator/aorta_report/ct_cropped.nii.gz"],
                                       "pulmonary": ["totalsegmentator/pulmonary_report/ct_cropped.nii.gz"]}),
    "AbdomenMR": (105, {"0": "MR"}, {"abdomen": ["totalsegmentator/example_mr_sm.nii.gz"]}),
    "MNI": (106, {"0": "T1"}, {"mni152": ["nilearn_mni152/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"]}),
    "CTDicom": (107, {"0": "CT"}, {"chest": ["totalsegmentator/example_ct_dicom"]}),
    "CardiacMR": (108, {"0": "MR"}, {"heart": ["seg3d_cardiac_mri"]}),
    "Slice2DCT": (109, {"0": "CT"}, {"ct_small": ["pydicom_testfiles/CT_small.dcm"]}),
}
CT_DATASETS = ("TotalSegCT", "CTDicom", "Slice2DCT")


def _ending(sources: Dict[str, List[str]]) -> str:
    """``.nii.gz`` when every source is one (symlinked); else ``.nii`` (converted, fast to write)."""
    return ".nii.gz" if all(s.endswith(".nii.gz") for files in sources.values() for s in files) else ".nii"


def _place(src: Path, dst: Path) -> None:
    if src.is_file() and src.name.endswith(".nii.gz"):
        os.symlink(src, dst)
        return
    arr, geom = read_image(src)
    if arr.ndim == 3 and arr.shape[0] == 1:      # a single DICOM slice is a 2D image
        arr = arr[0]
        geom = Geometry(geom.spacing[:2], geom.origin[:2], (geom.direction[0], geom.direction[1],
                                                           geom.direction[3], geom.direction[4]))
    write_image(arr, geom, dst)


def build_dev_dataset(shared: Path, raw_root: Path, name: str, cases: Optional[Sequence[str]] = None) -> Path:
    """Write ``Dataset{id}_{name}`` under ``raw_root`` from ``shared``; returns its folder."""
    ident, channels, case_sources = DEV_DATASETS[name]
    folder = Path(raw_root) / f"Dataset{ident:03d}_{name}"
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    chosen = {c: s for c, s in case_sources.items() if cases is None or c in cases}
    ending = _ending(chosen)
    for case, sources in chosen.items():
        for ch, src in enumerate(sources):
            dst = folder / "imagesTr" / f"{case}_{ch:04d}{ending}"
            if not dst.exists():
                _place(Path(shared) / src, dst)
    info = {"name": name, "description": "development scans from ../shared/data (see SOURCES.md there)",
            "channel_names": channels, "file_ending": ending, "numTraining": len(chosen)}
    (folder / "dataset.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return folder


def build_dev_datasets(shared: Path, raw_root: Path, names: Optional[Sequence[str]] = None) -> Dict[str, Path]:
    return {n: build_dev_dataset(shared, raw_root, n) for n in (names or DEV_DATASETS)}


def dataset_ref(name: str) -> str:
    return f"Dataset{DEV_DATASETS[name][0]:03d}_{name}"


def numpy_axis_of_largest_spacing(spacing_xyz: Sequence[float]) -> int:
    return len(spacing_xyz) - 1 - int(np.argmax(spacing_xyz))
