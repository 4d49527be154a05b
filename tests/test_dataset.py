"""dataset.json reading, the {case}_{CCCC} naming rule and the RawDataset view."""
from __future__ import annotations

import json

import pytest

from autosr.dataset import RawDataset, load_dataset_json, modality_of, split_case_file, write_json_atomic
from autosr.errors import DatasetError
from tests.synthetic import make_raw_dataset


def _write(folder, **info):
    folder.mkdir(parents=True, exist_ok=True)
    base = {"name": "X", "channel_names": {"0": "T2"}, "file_ending": ".nii.gz", "numTraining": 0}
    base.update(info)
    (folder / "dataset.json").write_text(json.dumps({k: v for k, v in base.items() if v is not None}), encoding="utf-8")
    return folder


def test_split_case_file():
    assert split_case_file("brain_0001.nii.gz", ".nii.gz") == ("brain", 1)
    assert split_case_file("IM_0001_0000.nii.gz", ".nii.gz") == ("IM_0001", 0)
    assert split_case_file("brain_1.nii.gz", ".nii.gz") is None
    assert split_case_file("brain_0001.nii", ".nii.gz") is None
    assert split_case_file("_0000.nii.gz", ".nii.gz") is None


def test_modality_of():
    assert modality_of("CT") == "CT" and modality_of(" ct ") == "CT"
    assert modality_of("FLAIR") == "MR" and modality_of("CBCT") == "MR"
    for nnunet_name in ("noNorm", "zscore", "rescale_to_0_1", "T2", "ADC"):  # nnU-Net's normalisation names
        assert modality_of(nnunet_name) == "MR"


def test_unknown_keys_are_kept(tmp_path):
    folder = _write(tmp_path / "d", sources={"a": 1}, my_note="kept", paired_lowres=False)
    info = load_dataset_json(folder)
    assert info["my_note"] == "kept" and info["sources"] == {"a": 1}


@pytest.mark.parametrize("key", ["channel_names", "file_ending", "numTraining"])
def test_missing_required_key(tmp_path, key):
    folder = _write(tmp_path / "d", **{key: None})
    with pytest.raises(DatasetError, match=rf"dataset.json: missing key\(s\) {key}"):
        load_dataset_json(folder)


@pytest.mark.parametrize("folder, name", [("Dataset004_Hippocampus", "Hippocampus"),
                                          ("Dataset120_Road.Seg-2", "Road.Seg-2"), ("my_scans", "my_scans")])
def test_name_is_optional(tmp_path, folder, name):
    """nnU-Net v2's dataset.json has no name: the folder's name after DatasetXXX_ is used."""
    assert load_dataset_json(_write(tmp_path / folder, name=None))["name"] == name
    assert load_dataset_json(_write(tmp_path / "Dataset001_X", name="Given"))["name"] == "Given"


def test_nnunet_labels_are_accepted_and_ignored(tmp_path, caplog):
    import logging
    folder = _write(tmp_path / "Dataset005_Prostate", name=None, labels={"background": 0, "PZ": 1, "TZ": 2},
                    regions_class_order=[1, 2], overwrite_image_reader_writer="SimpleITKIO", licence="CC-BY-SA 4.0")
    (folder / "labelsTr").mkdir()
    with caplog.at_level(logging.DEBUG, logger="autosr.dataset"):
        info = load_dataset_json(folder)
    assert info["labels"]["TZ"] == 2 and info["licence"] == "CC-BY-SA 4.0"
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "labels, regions_class_order, labelsTr/ ignored" in caplog.records[0].getMessage()


@pytest.mark.parametrize("info, message", [
    ({"channel_names": {"flair": "FLAIR"}}, "channel_names must map"),   # non-numeric key: no ValueError
    ({"channel_names": {"0": "A", "2": "B"}}, "channel_names must map"),
    ({"file_ending": "nii.gz"}, "must start with a dot"),
    ({"numTraining": "3"}, "numTraining must be a whole number"),
])
def test_malformed_values(tmp_path, info, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset_json(_write(tmp_path / "d", **info))


def test_missing_and_invalid_json(tmp_path):
    with pytest.raises(DatasetError, match="dataset.json: missing"):
        load_dataset_json(tmp_path)
    (tmp_path / "dataset.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_dataset_json(tmp_path)


def test_raw_dataset_view(autosr_folders):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=2, shape=(3, 8, 8), test_cases=1,
                              channel_names={"0": "CT", "1": "T1"})
    ds = RawDataset.open(folder)
    assert ds.name == "Dataset001_Synth" and ds.channel_names == ["CT", "T1"] and ds.modalities == ["CT", "MR"]
    assert list(ds.cases()) == ["case000", "case001"] and list(ds.cases("imagesTs")) == ["case1000"]
    assert not ds.paired
    (folder / "imagesTr" / "case001_0001.nii.gz").unlink()
    with pytest.raises(DatasetError, match="case001_0001.nii.gz"):
        ds.cases()
    with pytest.raises(DatasetError, match="does not exist"):
        RawDataset.open(folder / "nope")


def test_write_json_atomic_leaves_no_temporary(tmp_path):
    write_json_atomic({"a": 1}, tmp_path / "sub" / "x.json")
    assert json.loads((tmp_path / "sub" / "x.json").read_text(encoding="utf-8")) == {"a": 1}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.json"]
