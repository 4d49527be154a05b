"""Bad input: a clear message, exit code ≠ 0 and nothing half-written."""
from __future__ import annotations

import json

import numpy as np

from autosr.commands.plan import main
from autosr.imageio import Geometry, write_image
from tests.synthetic import make_raw_dataset


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


def _written(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_empty_dataset(autosr_folders, capsys):
    folder = autosr_folders["raw"] / "Dataset001_Empty"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "dataset.json").write_text(json.dumps({"name": "Empty", "channel_names": {"0": "T1"},
                                                     "file_ending": ".nii.gz", "numTraining": 0}))
    code, err = _run(capsys, "-d", "1", "-np", "1")
    assert code == 1 and "no training cases" in err and "imagesTr" in err
    assert _written(autosr_folders["preprocessed"] / folder.name) == []


def test_a_case_that_is_all_background(autosr_folders, capsys):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=2)
    write_image(np.zeros((6, 40, 48), np.int16), Geometry((1.0, 1.0, 3.0), (0.0,) * 3, (1, 0, 0, 0, 1, 0, 0, 0, 1)),
                folder / "imagesTr" / "case001_0000.nii.gz")
    code, err = _run(capsys, "-d", "1", "-np", "1")
    assert code == 1 and "case001" in err and "all background" in err
    assert _written(autosr_folders["preprocessed"] / folder.name) == []


def test_a_case_smaller_than_the_minimum_patch(autosr_folders, capsys):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=2, shape=(6, 40, 48))
    make_raw_dataset(autosr_folders["raw"], n_cases=1, shape=(6, 16, 20), name="Tmp", dataset_id=9)
    (autosr_folders["raw"] / "Dataset009_Tmp" / "imagesTr" / "case000_0000.nii.gz").rename(
        folder / "imagesTr" / "tiny_0000.nii.gz")
    code, err = _run(capsys, "-d", "1", "-np", "1")
    assert code == 1 and "tiny" in err and "minimum patch" in err
    written = _written(autosr_folders["preprocessed"] / folder.name)
    assert "autosrPlans.json" not in written and "autosrPlans_2d" not in written


def test_unknown_planner(autosr_folders, capsys):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=1)
    code, err = _run(capsys, "-d", "1", "-pl", "NoSuchPlanner")
    assert code == 1 and "NoSuchPlanner" in err and "DefaultPlanner" in err
    assert _written(autosr_folders["preprocessed"] / folder.name) == []


def test_broken_plans_file_is_not_overwritten(autosr_folders, capsys):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=1)
    assert _run(capsys, "-d", "1", "--no_pp", "-np", "1")[0] == 0
    path = autosr_folders["preprocessed"] / folder.name / "autosrPlans.json"
    path.write_text("{ not json", encoding="utf-8")
    code, err = _run(capsys, "-d", "1", "--no_pp", "-np", "1")
    assert code == 1 and "not valid JSON" in err and path.read_text(encoding="utf-8") == "{ not json"


def test_verify_dataset_integrity_lists_problems_first(autosr_folders, capsys):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=2)
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    info["numTraining"] = 5
    (folder / "dataset.json").write_text(json.dumps(info), encoding="utf-8")
    code, err = _run(capsys, "-d", "1", "-np", "1", "--verify_dataset_integrity")
    assert code == 1 and "numTraining" in err
    assert _written(autosr_folders["preprocessed"] / folder.name) == []
