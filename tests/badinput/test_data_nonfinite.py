"""Issue 9: NaN/Inf voxels are refused wherever an image enters AutoSR, naming the file and the count, without a flag."""
from __future__ import annotations

import numpy as np
import pytest

from autosr.commands import convert, evaluate, plan, predict
from autosr.imageio import Geometry, read_image, write_image
from tests.badinput.util import run_refused
from tests.inference.helpers import make_model_folder
from tests.synthetic import LPS, make_raw_dataset, phantom

GEOM = Geometry((1.0, 1.0, 3.0), (0.0, 0.0, 0.0), LPS)


def _with_nan(path, shape=(4, 24, 28), nan=2, inf=1) -> None:
    """A float phantom at ``path`` with ``nan`` NaN and ``inf`` Inf voxels (``nan + inf`` in all)."""
    arr = phantom(shape).astype(np.float32)
    arr.flat[:nan] = np.nan
    arr.flat[nan:nan + inf] = np.inf
    write_image(arr, GEOM, path)


@pytest.mark.parametrize("ending", [".nii.gz", ".nrrd", ".mha"])
def test_convert_refuses_nan(tmp_path, autosr_folders, capsys, ending):
    src = tmp_path / "scans"
    write_image(phantom((4, 24, 28)).astype(np.float32), GEOM, src / f"good{ending}")
    _with_nan(src / f"bad{ending}")
    run_refused(convert.main, ["-i", str(src), "-d", "5", "--name", "Nan"], capsys,
                culprits=[f"bad{ending}: holds 3 NaN/Inf voxel(s)"], watch=[src, autosr_folders["raw"]])


def test_plan_and_preprocess_refuses_nan_without_verify_flag(autosr_folders, capsys):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=3, shape=(4, 24, 28))
    bad = folder / "imagesTr" / "case001_0000.nii.gz"
    _with_nan(bad, nan=4, inf=0)
    run_refused(plan.main, ["-d", "1", "-np", "1"], capsys, culprits=[f"{bad}: holds 4 NaN/Inf voxel(s)"],
                watch=[autosr_folders["raw"], autosr_folders["preprocessed"]])


def test_preprocess_alone_refuses_nan_added_after_planning(autosr_folders, capsys):
    """Planned on clean data, then a case gains NaN: autosr_preprocess reads it again and refuses."""
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=3, shape=(4, 24, 28))
    assert plan.main(["-d", "1", "-np", "1", "--no_pp"]) == 0
    bad = folder / "imagesTr" / "case002_0000.nii.gz"
    _with_nan(bad, shape=(4, 40, 48), nan=1, inf=1)
    run_refused(plan.preprocess_main, ["-d", "1", "-np", "1"], capsys, culprits=[f"{bad}: holds 2 NaN/Inf voxel(s)"],
                watch=[autosr_folders["raw"], autosr_folders["preprocessed"] / folder.name / "autosrPlans_2d_cpu"])


@pytest.mark.parametrize("ending", [".nii.gz", ".nrrd"])
def test_predict_refuses_nan_input(tmp_path, autosr_folders, capsys, ending):
    model = make_model_folder(autosr_folders["results"])
    scan, out = tmp_path / "in" / f"scan_0000{ending}", tmp_path / "out"
    _with_nan(scan)
    run_refused(predict.main, ["-i", str(scan), "-o", str(out), "-s", "2", "-m", str(model), "-f", "0",
                               "-npp", "0", "--device", "cpu"], capsys,
                culprits=[f"scan_0000{ending}: holds 3 NaN/Inf voxel(s)"], watch=[scan.parent, out])


def test_evaluate_refuses_nan_prediction(tmp_path, capsys):
    ref, pred = tmp_path / "hr", tmp_path / "sr"
    write_image(phantom((4, 24, 28)).astype(np.float32), GEOM, ref / "c0_0000.nii.gz")
    _with_nan(pred / "c0_0000.nrrd")
    run_refused(evaluate.main, ["-ref", str(ref), "-pred", str(pred)], capsys,
                culprits=["c0_0000.nrrd: holds 3 NaN/Inf voxel(s)"], watch=[ref, pred, tmp_path / "sr_evaluation"])


def test_float_nifti_without_nan_reads_as_itk_does(tmp_path):
    """The nibabel path (one read, NaN kept) gives ITK's array for big-endian and float64 files too."""
    import nibabel as nib
    import SimpleITK as sitk

    arr = np.random.default_rng(0).random((7, 6, 5)).astype(">f8")
    nib.save(nib.Nifti1Image(arr, np.diag([0.5, 0.7, 2.0, 1.0])), str(tmp_path / "be.nii"))
    ours, geom = read_image(tmp_path / "be.nii")
    itk = sitk.ReadImage(str(tmp_path / "be.nii"))
    np.testing.assert_array_equal(ours, sitk.GetArrayFromImage(itk))
    assert ours.dtype == np.float64 and ours.dtype.isnative and geom.spacing == itk.GetSpacing()
