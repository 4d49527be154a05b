"""Generic conversion: image files and DICOM series, found recursively, one single-channel case each."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from autosr.dataset_conversion import convert_generic
from autosr.errors import DatasetError, ProblemsError
from autosr.integrity import check_dataset
from tests.conversion.util import assert_same_image, no_leftovers, snapshot, write_scan
from tests.imageio.dicom_util import write_dicom_series
from tests.synthetic import RAS, oblique_direction, phantom


@pytest.fixture
def mixed(tmp_path):
    """Files of several formats and orientations, nested folders with a name clash, two DICOM series in one folder."""
    src = tmp_path / "in"
    write_scan(src / "brain T2.nii.gz", seed=1)
    write_scan(src / "knee.nrrd", seed=2, direction=RAS)
    write_scan(src / "site_a" / "scan.mha", seed=3, direction=oblique_direction())
    write_scan(src / "site_b" / "scan.mha", seed=4, dtype=np.float32)
    write_scan(src / "old" / "oasis_like.img", seed=5)
    write_dicom_series(src / "dicom" / "study", phantom((3, 10, 12), seed=6, modality="CT"), series_uid="1.2.3.1",
                       series_number=3, prefix="A")
    write_dicom_series(src / "dicom" / "study", phantom((4, 10, 12), seed=7, modality="CT"), series_uid="1.2.3.2",
                       series_number=5, prefix="B")
    (src / "README.txt").write_text("not an image", encoding="utf-8")
    (src / ".cache").mkdir()
    write_scan(src / ".cache" / "hidden.nii.gz")
    return src


def test_generic_conversion(mixed, autosr_folders):
    before = snapshot(mixed)
    folder = convert_generic(mixed, 4, "Mixed")
    assert snapshot(mixed) == before  # the source is only read
    assert check_dataset(folder) == []
    files = sorted(p.name for p in (folder / "imagesTr").iterdir())
    assert files == ["brain_T2_0000.nii.gz", "knee_0000.nii.gz", "oasis_like_0000.nii.gz", "site_a_scan_0000.nii.gz",
                     "site_b_scan_0000.nii.gz", "study_s3_0000.nii.gz", "study_s5_0000.nii.gz"]
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["numTraining"] == 7 and info["channel_names"] == {"0": "MR"}
    assert info["sources"]["site_a_scan"]["images"][0]["path"] == str(mixed / "site_a" / "scan.mha")
    assert info["sources"]["study_s5"]["images"][0]["series_instance_uid"] == "1.2.3.2"
    for name, src in [("knee", "knee.nrrd"), ("site_a_scan", "site_a/scan.mha"), ("site_b_scan", "site_b/scan.mha")]:
        assert_same_image(mixed / src, folder / "imagesTr" / f"{name}_0000.nii.gz")


def test_case_names_are_deterministic(mixed, autosr_folders):
    a = sorted(p.name for p in (convert_generic(mixed, 1, "A") / "imagesTr").iterdir())
    b = sorted(p.name for p in (convert_generic(mixed, 2, "B") / "imagesTr").iterdir())
    assert a == b


def test_ct_dicom_gets_channel_ct(tmp_path, autosr_folders):
    vol = phantom((3, 10, 12), modality="CT")
    write_dicom_series(tmp_path / "ct_series", vol)
    folder = convert_generic(tmp_path / "ct_series", 1, "CT")
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["channel_names"] == {"0": "CT"}
    from autosr.imageio import read_image
    arr, g = read_image(folder / "imagesTr" / "ct_series_0000.nii.gz")
    np.testing.assert_array_equal(arr, vol)
    np.testing.assert_allclose(g.spacing, (0.8, 0.8, 2.0), atol=1e-5)
    folder = convert_generic(tmp_path / "ct_series", 2, "AsMR", modality="mr")
    assert json.loads((folder / "dataset.json").read_text(encoding="utf-8"))["channel_names"] == {"0": "MR"}


def test_test_fraction(tmp_path, autosr_folders):
    for i in range(5):
        write_scan(tmp_path / "in" / f"s{i}.nii.gz", shape=(2, 8, 8), seed=i)
    folder = convert_generic(tmp_path / "in", 1, "Split", test_fraction=0.4)
    assert len(list((folder / "imagesTs").iterdir())) == 2 and len(list((folder / "imagesTr").iterdir())) == 3
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["numTraining"] == 3 and info["numTest"] == 2
    assert check_dataset(folder) == []


def test_bad_inputs_leave_nothing(tmp_path, autosr_folders):
    src = tmp_path / "in"
    write_scan(src / "good.nii.gz")
    (src / "truncated.nii").write_bytes(write_scan(tmp_path / "t.nii").read_bytes()[:-100])
    nan = np.ones((3, 6, 6), np.float32)
    nan[1, 2, 3] = np.nan
    nib.save(nib.Nifti1Image(nan, np.eye(4)), str(src / "nan.nii.gz"))
    nib.save(nib.Nifti1Image(np.zeros((6, 6, 3, 2), np.int16), np.eye(4)), str(src / "cine.nii.gz"))
    with pytest.raises(ProblemsError) as err:
        convert_generic(src, 1, "Bad")
    problems = err.value.problems
    assert len(problems) == 3
    assert any("truncated.nii: file is truncated" in p for p in problems)
    assert any("nan.nii.gz: holds 1 NaN/Inf" in p for p in problems)
    assert any("cine.nii.gz" in p and "4 dimensions" in p for p in problems)
    assert no_leftovers(autosr_folders["raw"])


def test_empty_or_missing_input(tmp_path, autosr_folders):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files or DICOM series found"):
        convert_generic(tmp_path / "empty", 1, "E")
    with pytest.raises(DatasetError, match="input does not exist"):
        convert_generic(tmp_path / "nothing", 1, "E")


def test_real_ct_dicom_and_anisotropic_mr(shared_data, autosr_folders):
    ct = convert_generic(shared_data / "totalsegmentator" / "example_ct_dicom", 1, "ChestCT")
    assert json.loads((ct / "dataset.json").read_text(encoding="utf-8"))["channel_names"] == {"0": "CT"}
    assert check_dataset(ct) == []
    assert_same_image(shared_data / "totalsegmentator" / "example_ct_dicom", ct / "imagesTr" / "example_ct_dicom_0000.nii.gz")
    t2 = convert_generic(shared_data / "torchio_fpg" / "t2.nii.gz", 2, "BrainT2")
    assert check_dataset(t2) == []
    assert_same_image(shared_data / "torchio_fpg" / "t2.nii.gz", t2 / "imagesTr" / "t2_0000.nii.gz")
