"""DatasetWriter: atomic creation, refusal to overwrite, replacement only once complete."""
from __future__ import annotations

import json

import pytest

from autosr.dataset_conversion.sources import ImageSource
from autosr.dataset_conversion.writer import CaseSpec, DatasetWriter, write_dataset
from autosr.errors import DatasetError, ProblemsError
from autosr.integrity import check_dataset
from tests.conversion.util import no_leftovers, write_scan


def _cases(tmp_path, n=2):
    return [CaseSpec(f"c{i}", [ImageSource(write_scan(tmp_path / "src" / f"c{i}.nii.gz", seed=i))]) for i in range(n)]


def test_write_dataset_creates_valid_dataset(tmp_path, autosr_folders):
    folder = write_dataset(_cases(tmp_path), 5, "Demo", ["T2"], metadata={"license": "CC0", "note": "kept"})
    assert folder == autosr_folders["raw"] / "Dataset005_Demo"
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["numTraining"] == 2 and info["channel_names"] == {"0": "T2"} and info["note"] == "kept"
    assert info["sources"]["c0"]["images"][0]["path"].endswith("c0.nii.gz")
    assert check_dataset(folder) == []
    assert [p.name for p in autosr_folders["raw"].iterdir()] == ["Dataset005_Demo"]  # no temporary left


def test_refuses_existing_and_same_id(tmp_path, autosr_folders):
    write_dataset(_cases(tmp_path), 5, "Demo", ["T2"])
    with pytest.raises(DatasetError, match="already exists; pass --overwrite"):
        write_dataset(_cases(tmp_path), 5, "Demo", ["T2"])
    with pytest.raises(DatasetError, match="id 005 is already used by Dataset005_Demo"):
        write_dataset(_cases(tmp_path), 5, "Other", ["T2"])


def test_overwrite_replaces_only_when_complete(tmp_path, autosr_folders):
    folder = write_dataset(_cases(tmp_path, 1), 5, "Demo", ["T2"])
    before = (folder / "dataset.json").read_text(encoding="utf-8")
    bad = _cases(tmp_path, 2) + [CaseSpec("broken", [ImageSource(tmp_path / "src" / "missing.nii.gz")])]
    with pytest.raises(ProblemsError, match="nothing was written"):
        write_dataset(bad, 5, "Demo", ["T2"], overwrite=True)
    assert (folder / "dataset.json").read_text(encoding="utf-8") == before  # the old dataset is intact
    assert [p.name for p in autosr_folders["raw"].iterdir()] == ["Dataset005_Demo"]
    write_dataset(_cases(tmp_path, 2), 5, "Demo", ["T2"], overwrite=True)
    assert json.loads((folder / "dataset.json").read_text(encoding="utf-8"))["numTraining"] == 2
    assert [p.name for p in autosr_folders["raw"].iterdir()] == ["Dataset005_Demo"]


def test_interruption_leaves_nothing(tmp_path, autosr_folders):
    with pytest.raises(KeyboardInterrupt):
        with DatasetWriter(7, "Cut", ["T2"]) as writer:
            writer.add_case(_cases(tmp_path, 1)[0])
            raise KeyboardInterrupt
    assert no_leftovers(autosr_folders["raw"])


def test_problems_are_collected_over_all_cases(tmp_path, autosr_folders):
    garbage = tmp_path / "src" / "garbage.nii.gz"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"no image")
    cases = [CaseSpec("a", [ImageSource(garbage)]),
             CaseSpec("b", [ImageSource(write_scan(tmp_path / "src" / "b.nii.gz"))]),
             CaseSpec("b", [ImageSource(write_scan(tmp_path / "src" / "b2.nii.gz"))]),
             CaseSpec("bad name", [ImageSource(write_scan(tmp_path / "src" / "c.nii.gz"))])]
    with pytest.raises(ProblemsError) as err:
        write_dataset(cases, 3, "X", ["T2"])
    assert len(err.value.problems) == 3
    assert "garbage.nii.gz: cannot be read" in err.value.problems[0]
    assert "used twice" in err.value.problems[1] and "may only hold" in err.value.problems[2]
    assert no_leftovers(autosr_folders["raw"])


def test_bad_options(tmp_path):
    with pytest.raises(DatasetError, match="cannot be written"):
        DatasetWriter(1, "X", ["T2"], file_ending=".dcm")
    with pytest.raises(DatasetError, match="test fraction"):
        write_dataset(_cases(tmp_path), 1, "X", ["T2"], test_fraction=1.5)
