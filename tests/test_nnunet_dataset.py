"""An nnU-Net v2 raw dataset, exactly as nnU-Net's documentation/dataset_format.md describes it, used as it is.

No ``name`` in dataset.json, a ``labels`` key, ``labelsTr/{case}.nii.gz`` label maps and ``imagesTs/``:
verify → plan and preprocess → train → predict, through the commands' ``main(argv)``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from autosr.commands.convert import verify_main
from autosr.commands.plan import main as plan_main
from autosr.commands.predict import main as predict_main
from autosr.commands.train import main as train_main
from autosr.dataset import RawDataset, load_dataset_json
from tests.synthetic import phantom

SHAPE = (12, 40, 40)                   # z, y, x
SPACING = (0.6, 0.6, 3.6)              # x, y, z (mm): thick slices, as in MSD prostate
#: dataset.json of nnU-Net's documentation (Dataset005_Prostate), with this test's case count.
NNUNET_JSON = {"channel_names": {"0": "T2", "1": "ADC"},
               "labels": {"background": 0, "PZ": 1, "TZ": 2},
               "numTraining": 3,
               "file_ending": ".nii.gz",
               "overwrite_image_reader_writer": "SimpleITKIO"}
#: A training run of seconds on one CPU thread.
TINY = {"patch.size": [24, 24], "patch.batch_size": 2, "network.width": 8, "network.depth": 1,
        "network.mlp_hidden": 16, "critic.num_blocks": 2, "critic.base_width": 4, "training.val_every": 10 ** 6,
        "training.checkpoint_every": 10 ** 6, "training.val_max_slices": 1, "training.num_workers": 0,
        "training.perceptual": "off", "scales.max": 2.0, "scales.step": 0.5}


def _write(arr: np.ndarray, path: Path) -> None:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(SPACING)
    img.SetOrigin((-12.0, -12.0, -20.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path), True)


def make_nnunet_dataset(raw_root: Path) -> Path:
    """``Dataset005_Prostate``: 3 training cases with label maps, 1 test case; two channels (T2, ADC)."""
    folder = raw_root / "Dataset005_Prostate"
    for i in range(4):
        case, split = f"prostate_{i:02d}", "imagesTr" if i < 3 else "imagesTs"
        t2, adc = phantom(SHAPE, seed=i), phantom(SHAPE, seed=100 + i)
        _write(t2, folder / split / f"{case}_0000.nii.gz")
        _write(adc, folder / split / f"{case}_0001.nii.gz")
        if split == "imagesTr":  # segmentation: {case}.nii.gz, integer classes 0, 1, 2
            labels = (t2 > 0).astype(np.uint8) + (t2 > 400).astype(np.uint8)
            _write(labels, folder / "labelsTr" / f"{case}.nii.gz")
    (folder / "dataset.json").write_text(json.dumps(NNUNET_JSON, indent=4), encoding="utf-8")
    return folder


def test_nnunet_dataset_json_is_read_as_it_is(autosr_folders, caplog):
    folder = make_nnunet_dataset(autosr_folders["raw"])
    with caplog.at_level(logging.DEBUG, logger="autosr"):
        info = load_dataset_json(folder)
    assert info["name"] == "Prostate"           # from Dataset005_Prostate
    assert info["labels"] == NNUNET_JSON["labels"]  # kept, not used
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("labels" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    ds = RawDataset.open(folder)
    assert ds.modalities == ["MR", "MR"] and sorted(ds.cases()) == ["prostate_00", "prostate_01", "prostate_02"]
    assert not json.loads((folder / "dataset.json").read_text(encoding="utf-8")).get("name")  # file untouched


def test_nnunet_dataset_end_to_end(autosr_folders, tmp_path, capsys):
    raw = make_nnunet_dataset(autosr_folders["raw"])
    assert verify_main(["-d", "5"]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert plan_main(["-d", "5", "-np", "1", "--verify_dataset_integrity"]) == 0
    pre = autosr_folders["preprocessed"] / "Dataset005_Prostate"
    fingerprint = json.loads((pre / "dataset_fingerprint.json").read_text(encoding="utf-8"))
    assert fingerprint["num_cases"] == 3 and fingerprint["channel_names"] == ["T2", "ADC"]

    argv = ["5", "0", "-c", "2d_cpu", "--steps", "3", "--warmup_steps", "2", "--device", "cpu"]
    for k, v in TINY.items():
        argv += ["-o", f"{k}={json.dumps(v)}"]
    assert train_main(argv) == 0
    fold = autosr_folders["results"] / "Dataset005_Prostate" / "MetaSRTrainer__autosrPlans__2d_cpu" / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file()

    out = tmp_path / "sr"
    assert predict_main(["-i", str(raw / "imagesTs"), "-o", str(out), "-s", "2", "-d", "5", "-f", "0",
                         "--device", "cpu", "--disable_progress_bar"]) == 0
    for channel in (0, 1):
        sr = sitk.ReadImage(str(out / f"prostate_03_{channel:04d}.nii.gz"))
        assert sitk.GetArrayFromImage(sr).shape == (12, 80, 80)   # in-plane ×2, the thick axis kept
        np.testing.assert_allclose(sr.GetSpacing(), (0.3, 0.3, 3.6), rtol=1e-6)
    assert not (out / "prostate_03.nii.gz").exists()


@pytest.mark.parametrize("channel", ["T2", "noNorm", "zscore", "rescale_to_0_1", "CT"])
def test_nnunet_channel_names_are_accepted(autosr_folders, channel):
    folder = make_nnunet_dataset(autosr_folders["raw"])
    info = dict(NNUNET_JSON, channel_names={"0": channel, "1": "ADC"})
    (folder / "dataset.json").write_text(json.dumps(info), encoding="utf-8")
    assert RawDataset.open(folder).modalities == ["CT" if channel == "CT" else "MR", "MR"]
    assert verify_main(["-d", "Prostate", "--headers_only"]) == 0
