"""Data folders from environment variables (with defaults) and dataset references by id or name."""
from __future__ import annotations

import logging

import pytest

from autosr import paths
from autosr.commands.convert import verify_main
from autosr.errors import DatasetError
from autosr.paths import dataset_name, list_datasets, preprocessed_dir, raw_dir, resolve_dataset, results_dir


def test_env_vars_name_the_folders(autosr_folders):
    assert raw_dir() == autosr_folders["raw"]
    assert preprocessed_dir() == autosr_folders["preprocessed"]
    assert results_dir() == autosr_folders["results"]
    assert raw_dir("/elsewhere") == paths.Path("/elsewhere")  # an explicit folder wins


def test_unset_vars_default_with_one_notice(tmp_path, monkeypatch, caplog):
    for var in ("AUTOSR_RAW", "AUTOSR_PREPROCESSED", "AUTOSR_RESULTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(paths, "_noticed", set())
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="autosr.paths"):
        for _ in range(3):
            assert raw_dir() == tmp_path / "autosr_data" / "raw"
            assert preprocessed_dir() == tmp_path / "autosr_data" / "preprocessed"
            assert results_dir() == tmp_path / "autosr_data" / "results"
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 3 and all("is not set" in n for n in notices)  # one per variable, not per call
    with pytest.raises(DatasetError, match="Datasets that exist: none"):
        resolve_dataset(1)  # folders missing: a clear error, never a crash


def test_resolve_by_id_and_name(autosr_folders):
    (autosr_folders["raw"] / "Dataset001_BrainMR").mkdir()
    (autosr_folders["preprocessed"] / "Dataset012_Knee").mkdir()
    for ref in (1, "1", "001", "Dataset001_BrainMR", "BrainMR"):
        assert resolve_dataset(ref) == "Dataset001_BrainMR"
    assert resolve_dataset(12) == "Dataset012_Knee"
    assert list_datasets(autosr_folders["raw"], autosr_folders["preprocessed"]) == ["Dataset001_BrainMR",
                                                                                   "Dataset012_Knee"]


def test_unknown_reference_lists_what_exists(autosr_folders):
    (autosr_folders["raw"] / "Dataset001_BrainMR").mkdir()
    (autosr_folders["raw"] / "not_a_dataset").mkdir()
    with pytest.raises(DatasetError, match=r"dataset '7' not found in .*Datasets that exist: Dataset001_BrainMR$"):
        resolve_dataset("7")
    with pytest.raises(DatasetError, match="not found"):
        resolve_dataset("Dataset001_Other")


def test_ambiguous_reference(autosr_folders):
    (autosr_folders["raw"] / "Dataset001_BrainMR").mkdir()
    (autosr_folders["results"] / "Dataset001_Heart").mkdir()
    with pytest.raises(DatasetError, match="ambiguous: it matches Dataset001_BrainMR, Dataset001_Heart"):
        resolve_dataset("001")
    assert resolve_dataset("Dataset001_Heart") == "Dataset001_Heart"


def test_dataset_name_rules():
    assert dataset_name(1, "BrainMR") == "Dataset001_BrainMR"
    with pytest.raises(DatasetError, match="out of range"):
        dataset_name(1000, "X")
    with pytest.raises(DatasetError, match="may only hold"):
        dataset_name(2, "bad name")


def test_cli_unknown_dataset_id(autosr_folders, capsys):
    (autosr_folders["raw"] / "Dataset003_CT").mkdir()
    assert verify_main(["-d", "9"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("autosr_verify_dataset: error: dataset '9' not found") and "Dataset003_CT" in err
    assert len(err.splitlines()) == 1
