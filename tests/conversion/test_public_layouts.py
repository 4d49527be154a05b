"""Converters for the papers' datasets, on tiny fake trees that use the real published names."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from autosr.dataset_conversion import convert_acdc, convert_brats, convert_covid_ct, convert_oasis
from autosr.errors import DatasetError, ProblemsError
from autosr.integrity import check_dataset
from tests.conversion.util import assert_same_image, no_leftovers, snapshot, write_scan
from tests.imageio.dicom_util import write_dicom_series
from tests.synthetic import phantom

SMALL = (4, 12, 10)


def _names(folder, split="imagesTr"):
    return sorted(p.name for p in (folder / split).iterdir())


def _analyze(path, seed):
    """An Analyze 7.5 pair (.hdr + .img) as OASIS ships it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.transpose(phantom(SMALL, seed=seed), (2, 1, 0))  # nibabel stores x, y, z
    nib.AnalyzeImage(data, np.diag([1.0, 1.0, 1.0, 1.0])).to_filename(str(path))


def test_oasis(tmp_path, autosr_folders):
    root = tmp_path / "oasis"
    for disc, subj in (("disc1", "0001"), ("disc1", "0002"), ("disc2", "0042")):
        t88 = root / disc / f"OAS1_{subj}_MR1" / "PROCESSED" / "MPRAGE" / "T88_111"
        _analyze(t88 / f"OAS1_{subj}_MR1_mpr_n4_anon_111_t88_masked_gfc.img", int(subj))
        _analyze(t88 / f"OAS1_{subj}_MR1_mpr_n4_anon_111_t88_gfc.img", 0)  # unmasked: not taken
        _analyze(root / disc / f"OAS1_{subj}_MR1" / "RAW" / f"OAS1_{subj}_MR1_mpr-1_anon.img", 0)
    # a repeat session of the same subject must not be taken (it would leak across splits)
    _analyze(root / "disc1" / "OAS1_0001_MR2" / "PROCESSED" / "MPRAGE" / "T88_111" /
             "OAS1_0001_MR2_mpr_n4_anon_111_t88_masked_gfc.img", 9)
    before = snapshot(root)
    folder = convert_oasis(root, 11)
    assert snapshot(root) == before
    assert folder.name == "Dataset011_OASIS1" and check_dataset(folder) == []
    assert _names(folder) == ["OAS1_0001_MR1_0000.nii.gz", "OAS1_0002_MR1_0000.nii.gz", "OAS1_0042_MR1_0000.nii.gz"]
    assert json.loads((folder / "dataset.json").read_text(encoding="utf-8"))["channel_names"] == {"0": "T1"}
    assert_same_image(root / "disc2" / "OAS1_0042_MR1" / "PROCESSED" / "MPRAGE" / "T88_111" /
                      "OAS1_0042_MR1_mpr_n4_anon_111_t88_masked_gfc.img", folder / "imagesTr" / "OAS1_0042_MR1_0000.nii.gz")
    with pytest.raises(DatasetError, match="no OASIS-1 images found"):
        convert_oasis(tmp_path / "oasis" / "disc1" / "OAS1_0001_MR1" / "RAW", 12)


def test_brats_2018_and_2023_naming(tmp_path, autosr_folders):
    root = tmp_path / "brats"
    for i, case in enumerate(("Brats18_2013_2_1", "Brats18_TCIA01_131_1")):
        d = root / "MICCAI_BraTS_2018_Data_Training" / "HGG" / case
        for j, mod in enumerate(("t1", "t1ce", "t2", "flair", "seg")):
            write_scan(d / f"{case}_{mod}.nii.gz", shape=SMALL, seed=10 * i + j)
    d = root / "BraTS2023" / "BraTS-GLI-00000-000"
    for j, mod in enumerate(("t1n", "t1c", "t2w", "t2f", "seg")):
        write_scan(d / f"BraTS-GLI-00000-000-{mod}.nii.gz", shape=SMALL, seed=50 + j)
    folder = convert_brats(root, 21)
    assert check_dataset(folder) == []
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["channel_names"] == {"0": "T1", "1": "T1ce", "2": "T2", "3": "FLAIR"} and info["numTraining"] == 3
    assert len(_names(folder)) == 12
    case = "Brats18_TCIA01_131_1"
    src = root / "MICCAI_BraTS_2018_Data_Training" / "HGG" / case
    assert_same_image(src / f"{case}_t1ce.nii.gz", folder / "imagesTr" / f"{case}_0001.nii.gz")
    assert_same_image(src / f"{case}_flair.nii.gz", folder / "imagesTr" / f"{case}_0003.nii.gz")
    assert_same_image(d / "BraTS-GLI-00000-000-t2w.nii.gz", folder / "imagesTr" / "BraTS-GLI-00000-000_0002.nii.gz")


def test_brats_missing_modality(tmp_path, autosr_folders):
    d = tmp_path / "brats" / "BraTS2021_00000"
    for mod in ("t1", "t2", "flair"):
        write_scan(d / f"BraTS2021_00000_{mod}.nii.gz", shape=SMALL)
    with pytest.raises(ProblemsError, match="lacks BraTS2021_00000_t1ce.nii.gz"):
        convert_brats(tmp_path / "brats", 22)
    assert no_leftovers(autosr_folders["raw"])


def test_acdc(tmp_path, autosr_folders):
    root = tmp_path / "database"
    for split, pid, frames in (("training", "patient001", (1, 12)), ("training", "patient002", (1, 9)),
                               ("testing", "patient101", (1, 14))):
        d = root / split / pid
        for f in frames:
            write_scan(d / f"{pid}_frame{f:02d}.nii.gz", shape=(3, 12, 10), spacing=(1.5, 1.5, 10.0), seed=f)
            write_scan(d / f"{pid}_frame{f:02d}_gt.nii.gz", shape=(3, 12, 10), spacing=(1.5, 1.5, 10.0))
        nib.save(nib.Nifti1Image(np.zeros((10, 12, 3, 5), np.int16), np.eye(4)), str(d / f"{pid}_4d.nii.gz"))
        (d / "Info.cfg").write_text("ED: 1\nES: 12\n", encoding="utf-8")
    folder = convert_acdc(root, 31)
    assert check_dataset(folder) == []
    assert _names(folder) == ["patient001_frame01_0000.nii.gz", "patient001_frame12_0000.nii.gz",
                              "patient002_frame01_0000.nii.gz", "patient002_frame09_0000.nii.gz"]
    assert _names(folder, "imagesTs") == ["patient101_frame01_0000.nii.gz", "patient101_frame14_0000.nii.gz"]
    assert json.loads((folder / "dataset.json").read_text(encoding="utf-8"))["numTraining"] == 4


def test_covid_ct_tcia_layout(tmp_path, autosr_folders):
    root = tmp_path / "CT Images in COVID-19"
    study = root / "volume-covid19-A-0003" / "12-18-2004-NA-CT CHEST-12345"
    write_dicom_series(study / "3.000000-NA-67890", phantom((3, 10, 12), seed=1, modality="CT"),
                       series_uid="1.2.3.3", series_number=3)
    write_dicom_series(study / "5.000000-NA-67891", phantom((4, 10, 12), seed=2, modality="CT"),
                       series_uid="1.2.3.5", series_number=5)
    write_dicom_series(root / "volume-covid19-A-0011" / "01-01-2005-NA-CT-1" / "2.000000-NA-1",
                       phantom((3, 10, 12), seed=3, modality="CT"), series_uid="1.2.3.11", series_number=2)
    write_scan(root / "volume-covid19-A-0020.nii.gz", shape=(3, 10, 12), modality="CT")
    folder = convert_covid_ct(root, 41)
    assert check_dataset(folder) == []
    assert _names(folder) == ["volume-covid19-A-0003_s3_0000.nii.gz", "volume-covid19-A-0003_s5_0000.nii.gz",
                              "volume-covid19-A-0011_0000.nii.gz", "volume-covid19-A-0020_0000.nii.gz"]
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["channel_names"] == {"0": "CT"}
    assert info["sources"]["volume-covid19-A-0003_s5"]["images"][0]["series_instance_uid"] == "1.2.3.5"
    assert_same_image(study / "5.000000-NA-67891", folder / "imagesTr" / "volume-covid19-A-0003_s5_0000.nii.gz")
