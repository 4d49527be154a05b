"""Multi-channel conversion: one folder per case, channels picked by file-name keywords."""
from __future__ import annotations

import json

import numpy as np
import pytest

from autosr.dataset_conversion import convert_multichannel
from autosr.dataset_conversion.sources import match_keyword
from autosr.errors import DatasetError, ProblemsError
from autosr.imageio import Geometry, write_image
from autosr.integrity import check_dataset
from tests.conversion.util import assert_same_image, no_leftovers, snapshot, write_scan
from tests.synthetic import RAS


def _brats_like(root, cases=("pat0005", "pat0006")):
    """deepmedic's layout: Flair_…, T1c_…, plus masks, labels and a licence file that are not channels."""
    for i, case in enumerate(cases):
        d = root / case
        write_scan(d / "Flair_subtrMeanDivStd.nii.gz", seed=i, dtype=np.float32, direction=RAS)
        write_scan(d / "T1c_subtrMeanDivStd.nii.gz", seed=10 + i, dtype=np.float32, direction=RAS)
        write_scan(d / "brainmask.nii.gz", seed=20 + i, direction=RAS)
        write_scan(d / "OTMultiClass.nii.gz", seed=30 + i, direction=RAS)
        (d / "License_CC_BY_NC_SA_3.0.txt").write_text("licence", encoding="utf-8")
    return root


def test_keywords_pick_channels_case_insensitively(tmp_path, autosr_folders):
    src = _brats_like(tmp_path / "in")
    before = snapshot(src)
    folder = convert_multichannel(src, 2, "BraTSmini", ["FLAIR", "t1c"], channel_names=["FLAIR", "T1c"])
    assert snapshot(src) == before
    assert check_dataset(folder) == []
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == [
        "pat0005_0000.nii.gz", "pat0005_0001.nii.gz", "pat0006_0000.nii.gz", "pat0006_0001.nii.gz"]
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["channel_names"] == {"0": "FLAIR", "1": "T1c"} and info["numTraining"] == 2
    assert_same_image(src / "pat0006" / "T1c_subtrMeanDivStd.nii.gz", folder / "imagesTr" / "pat0006_0001.nii.gz")


def test_keyword_matching_zero_or_several_files(tmp_path, autosr_folders):
    src = _brats_like(tmp_path / "in")
    with pytest.raises(ProblemsError) as err:
        convert_multichannel(src, 2, "X", ["flair", "t2", "nii"])
    problems = err.value.problems
    assert len(problems) == 4  # t2 and nii fail in both case folders
    assert any(str(src / "pat0005") in p and "'t2' matches 0 images" in p for p in problems)
    assert any(str(src / "pat0006") in p and "'nii' matches 4 images" in p for p in problems)
    assert no_leftovers(autosr_folders["raw"])


def test_whole_token_match_resolves_t1_vs_t1ce(tmp_path):
    files = [tmp_path / n for n in ("Brats_t1.nii.gz", "Brats_t1ce.nii.gz", "Brats_T2.nii.gz")]
    assert match_keyword(files, "t1") == [files[0]]
    assert match_keyword(files, "T1CE") == [files[1]]
    assert match_keyword(files, "brats") == files  # still ambiguous


def test_channel_grid_mismatch_is_a_problem(tmp_path, autosr_folders):
    src = _brats_like(tmp_path / "in", cases=("a",))
    write_scan(src / "a" / "T1c_subtrMeanDivStd.nii.gz", shape=(4, 12, 13), dtype=np.float32, direction=RAS)
    with pytest.raises(ProblemsError, match="shape"):
        convert_multichannel(src, 1, "X", ["flair", "t1c"])
    assert no_leftovers(autosr_folders["raw"])


def test_paired_lowres_channels(tmp_path, autosr_folders):
    src = tmp_path / "in"
    for i, case in enumerate(("p1", "p2")):
        g = Geometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), RAS)
        write_image(np.full((3, 20, 20), i, np.int16), g, src / case / "pCT.nii.gz")
        lr_sp = (2.5, 2.5, 2.0)
        lr_origin = tuple(np.asarray(g.origin) + g.direction_matrix @ ((np.asarray(lr_sp) - g.spacing) / 2))
        write_image(np.full((3, 8, 8), i, np.int16), Geometry(lr_sp, lr_origin, RAS), src / case / "CBCT.nii.gz")
    folder = convert_multichannel(src, 3, "Pelvis", ["ct"], lowres_channels=["cbct"])
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["paired_lowres"] is True and info["channel_names"] == {"0": "CT"}
    assert sorted(p.name for p in (folder / "lowresTr").iterdir()) == ["p1_0000.nii.gz", "p2_0000.nii.gz"]
    assert check_dataset(folder) == []
    # a low-res scan of another region is refused at conversion
    write_image(np.zeros((3, 8, 8), np.int16), Geometry((2.5, 2.5, 2.0), (40.0, 0.0, 0.0), RAS),
                src / "p2" / "CBCT.nii.gz")
    with pytest.raises(ProblemsError, match="same region"):
        convert_multichannel(src, 4, "Pelvis2", ["ct"], lowres_channels=["cbct"])
    with pytest.raises(DatasetError, match="lowresTs"):
        convert_multichannel(src, 4, "Pelvis2", ["ct"], lowres_channels=["cbct"], test_fraction=0.5)


def test_option_errors(tmp_path, autosr_folders):
    src = _brats_like(tmp_path / "in")
    with pytest.raises(DatasetError, match="one name per keyword"):
        convert_multichannel(src, 1, "X", ["flair", "t1c"], channel_names=["FLAIR"])
    with pytest.raises(DatasetError, match="repeat"):
        convert_multichannel(src, 1, "X", ["flair", "FLAIR"])
    with pytest.raises(DatasetError, match="no case sub-folders"):
        convert_multichannel(src / "pat0005", 1, "X", ["flair"])


def test_real_brats_cases(shared_data, autosr_folders):
    src = shared_data / "brats2013_deepmedic"
    folder = convert_multichannel(src, 3, "BraTSmini", ["flair", "t1c"], channel_names=["FLAIR", "T1c"])
    assert check_dataset(folder) == []
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == [
        "pat0005_0000.nii.gz", "pat0005_0001.nii.gz", "pat0006_0000.nii.gz", "pat0006_0001.nii.gz"]
    assert_same_image(src / "pat0005" / "Flair_subtrMeanDivStd.nii.gz", folder / "imagesTr" / "pat0005_0000.nii.gz")
