"""The real pipeline: synthetic raw dataset → plan_and_preprocess → a few training steps → evaluate and predict."""
from __future__ import annotations

import json

import numpy as np
import pytest

from autosr.commands.evaluate import main as evaluate_main
from autosr.commands.predict import main as predict_main
from autosr.imageio import read_image
from tests.synthetic import make_raw_dataset

TINY = {"training.val_every": 10 ** 6, "training.checkpoint_every": 10 ** 6, "training.num_workers": 0,
        "training.perceptual": "off", "training.val_max_slices": 2, "network.width": 8, "network.depth": 1,
        "network.mlp_hidden": 16}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny trained fold (module-scoped: the pipeline runs once for these tests)."""
    import torch
    from autosr.preprocessing.api import plan_and_preprocess
    from autosr.training.api import train
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared CPUs: one thread avoids spin-wait contention
    root = tmp_path_factory.mktemp("pipeline")
    mp = pytest.MonkeyPatch()
    for k in ("raw", "preprocessed", "results"):
        (root / k).mkdir()
        mp.setenv(f"AUTOSR_{k.upper()}", str(root / k))
    raw = make_raw_dataset(root / "raw", n_cases=5, shape=(5, 40, 44), spacing_xyz=(0.8, 0.8, 3.0), test_cases=1)
    plan_and_preprocess(1)
    train(1, 0, configuration="2d_cpu", device="cpu", overrides=TINY, steps=20, warmup_steps=20)
    torch.set_num_threads(threads)
    yield root, raw
    mp.undo()


def test_evaluate_trained_model(trained, monkeypatch, capsys):
    root, _ = trained
    for k in ("raw", "preprocessed", "results"):
        monkeypatch.setenv(f"AUTOSR_{k.upper()}", str(root / k))
    assert evaluate_main(["-d", "1", "-f", "0", "-s", "2", "3", "--max_slices", "2", "--device", "cpu"]) == 0
    out = root / "results" / "Dataset001_Synth" / "MetaSRTrainer__autosrPlans__2d_cpu" / "fold_0" / "evaluation_val"
    for name in ("metrics_per_slice.csv", "metrics_per_case.csv", "summary.json", "metrics_vs_scale.png",
                 "examples.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["scales"] == ["2", "3"] and summary["degradation"]["mode"] == "synthetic"
    for key in ("2", "3"):  # a bicubic-skip model after 20 steps is still close to bicubic
        m, b = (summary["per_scale"][key][k]["psnr"]["mean"] for k in ("model", "bicubic"))
        assert 15 < b < 60 and abs(m - b) < 3
    assert "results in" in capsys.readouterr().out


def test_predict_with_trained_model(trained, tmp_path, monkeypatch):
    root, raw = trained
    for k in ("raw", "preprocessed", "results"):
        monkeypatch.setenv(f"AUTOSR_{k.upper()}", str(root / k))
    src = raw / "imagesTs" / "case1000_0000.nii.gz"
    assert predict_main(["-i", str(raw / "imagesTs"), "-o", str(tmp_path), "-s", "2.5", "-d", "1", "-f", "0",
                         "--disable_progress_bar"]) == 0
    lr, lr_geom = read_image(src)
    sr, sr_geom = read_image(tmp_path / "case1000_0000.nii.gz")
    assert sr.shape == (5, 100, 110)
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape), lr_geom.fov_corners(lr.shape), atol=1e-3)
    assert abs(float(sr.mean()) - float(lr.mean())) < 0.1 * float(lr.mean())  # original units, not [0, 1]


def test_landmark_with_trained_model(trained, tmp_path, monkeypatch):
    """A bright sphere's centre (mm) stays put within 0.1 input voxel after SR at 2.5 by the trained model."""
    from autosr.imageio import Geometry, write_image
    from tests.inference.test_geometry import centroid_mm, sphere_volume
    from tests.synthetic import oblique_direction
    root, _ = trained
    for k in ("raw", "preprocessed", "results"):
        monkeypatch.setenv(f"AUTOSR_{k.upper()}", str(root / k))
    spacing = (3.0, 0.8, 0.8)
    vol = sphere_volume((5, 40, 44), (2.0, 18.4, 21.7), 3.5, spacing)
    geom = Geometry(tuple(reversed(spacing)), (-10.0, 4.0, 2.0), oblique_direction(15.0))
    write_image(vol, geom, tmp_path / "in" / "sphere_0000.nii.gz")
    assert predict_main(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-s", "2.5", "-d", "1",
                         "--disable_progress_bar"]) == 0
    sr, sr_geom = read_image(tmp_path / "out" / "sphere_0000.nii.gz")
    shift = np.linalg.norm(centroid_mm(sr, sr_geom, 200.0) - centroid_mm(vol, geom, 200.0))
    assert shift < 0.1 * 0.8, shift
