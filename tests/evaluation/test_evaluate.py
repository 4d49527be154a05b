"""autosr_evaluate on a hand-built model and preprocessed data (fast), and -ref/-pred folder comparison."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from autosr.commands.evaluate import main
from autosr.evaluation.engine import EvaluationError
from autosr.evaluation.evaluate import compare_folders, evaluate_model
from autosr.imageio import Geometry, write_image
from tests.inference.helpers import make_model_folder
from tests.synthetic import make_raw_dataset, phantom

FILES = ("metrics_per_slice.csv", "metrics_per_case.csv", "summary.json", "metrics_vs_scale.png", "examples.png")


@pytest.fixture
def setup(autosr_folders):
    """Model folder + preprocessed val cases (phantoms normalised to [0, 1]) + raw test scans."""
    model = make_model_folder(autosr_folders["results"])
    pre = autosr_folders["preprocessed"] / "Dataset001_Synth"
    (pre / "autosrPlans_2d_cpu").mkdir(parents=True)
    cases = ["case000", "case001", "case002"]
    (pre / "splits_final.json").write_text(json.dumps([{"train": cases[:1], "val": cases[1:]}]), encoding="utf-8")
    for i, case in enumerate(cases):
        vol = phantom((4, 40, 44), seed=i).astype(np.float32)
        np.save(pre / "autosrPlans_2d_cpu" / f"{case}.npy", (vol / vol.max())[None])
        (pre / "autosrPlans_2d_cpu" / f"{case}.json").write_text(json.dumps({"case": case}), encoding="utf-8")
    make_raw_dataset(autosr_folders["raw"], n_cases=1, test_cases=2, shape=(3, 36, 40))
    return model


def test_evaluate_model_writes_every_file(setup, capsys):
    out = evaluate_model(1, 0, scales=(2, 3.5), baselines=("bicubic", "bilinear"), device="cpu")
    assert out == setup / "fold_0" / "evaluation_val"
    for name in FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    per_slice = pd.read_csv(out / "metrics_per_slice.csv")
    assert set(per_slice["method"]) == {"model", "bicubic", "bilinear"} and set(per_slice["case"]) == {"case001", "case002"}
    assert set(per_slice["scale"]) == {2.0, 3.5}
    assert len(per_slice) == 3 * 2 * per_slice.groupby(["case", "slice"]).ngroups
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["per_scale"]) == {"2", "3.5"} and set(summary["mean_over_scales"]) == {"model", "bicubic", "bilinear"}
    assert summary["split"] == "val" and summary["cases"] == 2
    assert all(v == "available" or v.startswith("unavailable (") for v in summary["perceptual"]["status"].values())
    # the untrained bicubic-skip model is bicubic up to tiny noise
    m, b = summary["per_scale"]["2"]["model"]["psnr"]["mean"], summary["per_scale"]["2"]["bicubic"]["psnr"]["mean"]
    assert abs(m - b) < 1.0
    assert "model PSNR" in capsys.readouterr().out


def test_cli_test_split_and_errors(setup, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["-d", "1", "-f", "0", "--split", "test", "-s", "2", "-o", str(out), "--device", "cpu",
                 "--max_slices", "2"]) == 0
    per_case = pd.read_csv(out / "metrics_per_case.csv")
    assert sorted(set(per_case["case"])) == ["case1000", "case1001"] and set(per_case["n_slices"]) <= {1, 2}
    assert "bicubic PSNR" in capsys.readouterr().out
    assert main(["-d", "1", "-f", "0", "-s", "5"]) == 1
    assert "--allow_extrapolation" in capsys.readouterr().err
    assert main(["-d", "1", "-f", "0", "--baselines", "lanczos"]) == 1
    assert "unknown baseline(s) lanczos" in capsys.readouterr().err
    assert main(["-d", "1"]) == 1
    assert "give -d DATASET -f FOLD" in capsys.readouterr().err


def test_compare_folders(tmp_path, capsys):
    ref, pred = tmp_path / "hr", tmp_path / "sr"
    geom = Geometry((0.5, 0.5, 3.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    rng = np.random.default_rng(0)
    for i in range(2):
        hr = phantom((4, 40, 40), seed=i).astype(np.float32)
        write_image(hr, geom, ref / f"c{i}_0000.nii.gz")
        write_image(hr + rng.normal(0, 10, hr.shape).astype(np.float32), geom, pred / f"c{i}_0000.nrrd")
    write_image(hr, geom, ref / "c9_0000.nii.gz")  # no prediction: skipped with a warning
    assert main(["-ref", str(ref), "-pred", str(pred)]) == 0
    out = tmp_path / "sr_evaluation"
    for name in FILES[:3] + ("examples.png",):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    st = summary["per_scale"]["n/a"]["sr"]["psnr"]
    assert 20 < st["mean"] < 60 and summary["missing_predictions"] == ["c9_0000"]
    write_image(hr[:, :20], geom, pred / "c1_0000.nrrd")
    with pytest.raises(EvaluationError, match="grid differs from the reference"):
        compare_folders(ref, pred, tmp_path / "x")
    assert main(["-ref", str(ref)]) == 1
    assert "give both -ref" in capsys.readouterr().err


def test_paired_dataset_uses_the_real_lr_too(autosr_folders):
    import torch
    from autosr.degradation import degrade
    make_model_folder(autosr_folders["results"], degradation_mode="paired")
    pre = autosr_folders["preprocessed"] / "Dataset001_Synth"
    (pre / "autosrPlans_2d_cpu").mkdir(parents=True)
    (pre / "splits_final.json").write_text(json.dumps([{"train": ["a"], "val": ["b"]}]), encoding="utf-8")
    vol = phantom((3, 40, 44), seed=3).astype(np.float32)
    vol = (vol / vol.max())[None]
    lr = degrade(torch.from_numpy(vol[0][:, None]), 2, sigma=1.2).numpy().transpose(1, 0, 2, 3)  # (1, S, 20, 22)
    np.save(pre / "autosrPlans_2d_cpu" / "b.npy", vol)
    np.save(pre / "autosrPlans_2d_cpu" / "b_lowres.npy", lr)
    (pre / "autosrPlans_2d_cpu" / "b.json").write_text(json.dumps(
        {"case": "b", "lowres": {"scale": [2.0, 2.0], "scale_fraction": ["2", "2"], "hr_offset": [0.0, 0.0]}}))
    out = evaluate_model(1, 0, scales=(2, 3), device="cpu")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["paired_cases"] == 1
    assert set(summary["per_scale"]["2"]) == {"model", "bicubic", "model (real LR)", "bicubic (real LR)"}
    assert set(summary["per_scale"]["3"]) == {"model", "bicubic"}


def test_degradation_all_gives_one_table_per_acquisition_family(setup, tmp_path, capsys):
    out = tmp_path / "ev_all"
    assert main(["-d", "1", "-f", "0", "-s", "2", "3", "-o", str(out), "--device", "cpu", "--max_slices", "2",
                 "--degradation", "all"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    # the model's plans are MR with the paper's recipe as reference: planned (= paper), antialiased and kspace
    labels = ["planned", "antialiased", "kspace"]
    assert list(summary["acquisitions"]) == labels
    assert summary["acquisitions"]["kspace"]["family"] == "kspace"
    assert set(summary["mean_over_scales"]) == {f"{m} [{a}]" for m in ("model", "bicubic")
                                                for a in labels}
    for a in labels:
        assert f"LR made by: {a}" in printed
    gains = printed.split("model - bicubic PSNR (dB)")[1].splitlines()
    assert [row.split()[0] for row in gains[1:4]] == labels
    # each family is its own LR: bicubic's PSNR differs between them
    b = [summary["per_scale"]["2"][f"bicubic [{a}]"]["psnr"]["mean"] for a in labels]
    assert len({round(v, 3) for v in b}) == 3
    assert main(["-d", "1", "-f", "0", "-s", "2", "-o", str(tmp_path / "x"), "--device", "cpu",
                 "--degradation", "jpeg"]) == 1
    assert "--degradation: unknown degradation 'jpeg'; choose planned, paper" in capsys.readouterr().err


def test_a_conditioned_model_is_told_each_acquisition_unless_blind(setup, tmp_path, autosr_folders):
    import torch
    net = {"name": "MetaSR", "width": 8, "depth": 1, "mlp_hidden": 16, "upsample_skip": "bicubic",
           "acquisitions": ["paper", "kspace"]}
    model = make_model_folder(autosr_folders["results"], net=net)  # replaces the setup's blind model
    path = model / "fold_0" / "checkpoint_final.pth"
    ckpt = torch.load(path, weights_only=True)
    ckpt["generator"]["film.weight"] = 0.5 * torch.randn_like(ckpt["generator"]["film.weight"])
    torch.save(ckpt, path)
    runs = {}
    for blind in (False, True):
        out = tmp_path / f"ev_{blind}"
        assert main(["-d", "1", "-f", "0", "-s", "2", "-o", str(out), "--device", "cpu", "--max_slices", "2",
                     "--degradation", "all"] + (["--blind"] if blind else [])) == 0
        runs[blind] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    # planned is the paper's recipe here; antialiased is a kind this model does not know: unknown
    assert runs[False]["model_told"] == {"planned": "paper", "antialiased": None, "kspace": "kspace"}
    assert runs[True]["model_told"] == {"planned": None, "antialiased": None, "kspace": None}
    psnr = {b: {a: r["per_scale"]["2"][f"model [{a}]"]["psnr"]["mean"] for a in ("planned", "antialiased", "kspace")}
            for b, r in runs.items()}
    assert psnr[False]["antialiased"] == pytest.approx(psnr[True]["antialiased"])  # told nothing either way
    assert psnr[False]["kspace"] != pytest.approx(psnr[True]["kspace"], abs=1e-6)


def test_bspline_baseline(setup, tmp_path):
    out = tmp_path / "ev_bs"
    assert main(["-d", "1", "-f", "0", "-s", "2.5", "-o", str(out), "--device", "cpu", "--max_slices", "2",
                 "--baselines", "bicubic", "bspline"]) == 0
    per = json.loads((out / "summary.json").read_text(encoding="utf-8"))["per_scale"]["2.5"]
    assert {"model", "bicubic", "bspline"} <= set(per)
    assert per["bspline"]["psnr"]["mean"] != pytest.approx(per["bicubic"]["psnr"]["mean"], abs=1e-3)


def test_thick_slices_per_axis(autosr_folders, tmp_path, capsys):
    """-s 1,1,f: thick slices along z with the plan's profile, restored through both orientations, against bicubic
    and B-spline; an untrained bicubic-skip model is close to bicubic."""
    from tests.inference.helpers import PER_AXIS_NET, PER_AXIS_SCALES
    make_model_folder(autosr_folders["results"], net=PER_AXIS_NET, scales=PER_AXIS_SCALES)
    pre = autosr_folders["preprocessed"] / "Dataset001_Synth"
    (pre / "autosrPlans_2d_cpu").mkdir(parents=True)
    (pre / "splits_final.json").write_text(json.dumps([{"train": ["a"], "val": ["b"]}]), encoding="utf-8")
    for i, case in enumerate(("a", "b")):
        vol = phantom((12, 40, 44), seed=i).astype(np.float32)
        np.save(pre / "autosrPlans_2d_cpu" / f"{case}.npy", (vol / vol.max())[None])
        (pre / "autosrPlans_2d_cpu" / f"{case}.json").write_text(json.dumps({"case": case}), encoding="utf-8")
    out = tmp_path / "thick"
    assert main(["-d", "1", "-f", "0", "-s", "2", "1,1,2", "1,1,3", "-o", str(out), "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for f in ("2", "3"):
        per = summary["per_scale"][f]
        assert {"model [thick]", "bicubic [thick]", "bspline [thick]"} <= set(per)
        assert abs(per["model [thick]"]["psnr"]["mean"] - per["bicubic [thick]"]["psnr"]["mean"]) < 1.0
    assert "model" in summary["per_scale"]["2"]  # the in-plane rows as well
    assert summary["thick"] == {"array axis 0": ["2", "3"]} and summary["slice_profile"]["profile"] == "boxcar"
    per_slice = pd.read_csv(out / "metrics_per_slice.csv")
    thick3 = per_slice[(per_slice["method"] == "model [thick]") & (per_slice["scale"] == 3.0)]
    assert thick3["slice"].max() < 12 and len(thick3) >= 6  # the restored thin slices (4 thick × 3)
    assert main(["-d", "1", "-f", "0", "-s", "2,2,1"]) == 1
    assert "one axis refined" in capsys.readouterr().err
    assert main(["-d", "1", "-f", "0", "-s", "1,1,9"]) == 1
    assert "above 6" in capsys.readouterr().err
