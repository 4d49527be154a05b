"""Build the two dev datasets of the robustness benchmark from ``../shared/data`` into ``$AUTOSR_RAW``.

- ``Dataset101_DevMR`` (MR): training C-STAR T1, T2, FLAIR, the MNI152 T1 template, BraTS pat0005
  FLAIR and T1c; held out (``imagesTs``): BraTS pat0006 T1c and FLAIR (another subject).
- ``Dataset102_DevCT`` (CT): the TotalSegmentator chest CT DICOM series, its upper 14 slices for
  training and its lower 5 held out (one 2 mm slice left out between them).
- ``Dataset103_DevMRThick`` (MR, thick slices only): the six training volumes of ``Dataset101`` as
  4 mm thick-slice stacks (each slice the mean of 4 consecutive 1 mm slices along z, geometry
  kept consistent), so the planner trains self-supervised; the held-out scans of ``Dataset101``
  test it (``benchmarks/bench_through_plane.py``).

Then, e.g.::

    autosr_plan_and_preprocess -d 101 102
    autosr_train 101 all -c 2d_cpu                                   # robust (planned distribution)
    AUTOSR_RESULTS=... autosr_train 101 all -c 2d_cpu -o degradation.families=[]   # the single recipe
    python benchmarks/bench_robustness.py --model old=... --model new=... --scan .../imagesTs/...
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Dict

import SimpleITK as sitk

MR_TRAIN = {"cstar_t1": "cstar_stroke/T1.nii.gz", "cstar_t2": "cstar_stroke/T2.nii.gz",
            "cstar_flair": "cstar_stroke/FLAIR.nii.gz",
            "mni152": "nilearn_mni152/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
            "brats5_flair": "brats2013_deepmedic/pat0005/Flair_subtrMeanDivStd.nii.gz",
            "brats5_t1c": "brats2013_deepmedic/pat0005/T1c_subtrMeanDivStd.nii.gz"}
MR_TEST = {"brats6_t1c": "brats2013_deepmedic/pat0006/T1c_subtrMeanDivStd.nii.gz",
           "brats6_flair": "brats2013_deepmedic/pat0006/Flair_subtrMeanDivStd.nii.gz"}
CT_SERIES = "totalsegmentator/example_ct_dicom"


def write_dataset(raw: Path, did: int, name: str, channel: str, train: Dict[str, sitk.Image],
                  test: Dict[str, sitk.Image]) -> Path:
    root = raw / f"Dataset{did:03d}_{name}"
    for sub, cases in (("imagesTr", train), ("imagesTs", test)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for case, image in cases.items():
            sitk.WriteImage(image, str(root / sub / f"{case}_0000.nii.gz"))
    (root / "dataset.json").write_text(json.dumps(
        {"name": name, "channel_names": {"0": channel}, "file_ending": ".nii.gz", "numTraining": len(train),
         "license": "per scan: ../shared/data/SOURCES.md"}, indent=1), encoding="utf-8")
    return root


#: Slice thickness (in 1 mm slices) of the thick-slice training stacks of ``Dataset103_DevMRThick``.
THICK_FACTOR = 4


def thick(image: sitk.Image, f: int) -> sitk.Image:
    """Thick slices along z: each the mean of ``f`` consecutive slices, spacing ×f, origin at their centre."""
    from bench_through_plane import thicken  # benchmarks run as scripts: their folder is on sys.path
    from autosr.imageio import Geometry
    arr = sitk.GetArrayFromImage(image)
    out, geom = thicken(arr, Geometry(image.GetSpacing(), image.GetOrigin(), image.GetDirection()), f)
    result = sitk.GetImageFromArray(out)
    result.SetSpacing(geom.spacing)
    result.SetOrigin(geom.origin)
    result.SetDirection(geom.direction)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--raw", type=Path, default=Path(os.environ.get("AUTOSR_RAW", "autosr_raw")))
    args = p.parse_args()

    def read(rel: str) -> sitk.Image:
        return sitk.Cast(sitk.ReadImage(str(args.data / rel)), sitk.sitkFloat32)

    print(write_dataset(args.raw, 101, "DevMR", "MR", {k: read(v) for k, v in MR_TRAIN.items()},
                        {k: read(v) for k, v in MR_TEST.items()}))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(args.data / CT_SERIES)))
    ct = reader.Execute()
    print(write_dataset(args.raw, 102, "DevCT", "CT", {"ct_upper": ct[:, :, :14]}, {"ct_lower": ct[:, :, 15:]}))
    print(write_dataset(args.raw, 103, "DevMRThick", "MR", {k: thick(read(v), THICK_FACTOR) for k, v in MR_TRAIN.items()},
                        {}))


if __name__ == "__main__":
    main()
