"""autosr_benchmark on a tiny synthetic dataset: trains what is missing, evaluates every system alike, writes the table
and plots, resumes, and refuses bad system names before anything runs."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from autosr.checkpoint import save_checkpoint

from autosr.commands.benchmark import main as benchmark_main
from tests.synthetic import make_raw_dataset

TINY = {"training.val_every": 10 ** 6, "training.checkpoint_every": 2, "training.num_workers": 0,
        "training.perceptual": "off", "training.val_max_slices": 2, "network.width": 8, "network.depth": 1,
        "network.mlp_hidden": 16, "patch.batch_size": 2}
ARGS = ["-d", "1", "-f", "0", "-c", "2d_cpu", "--steps", "4", "-s", "2", "2.5", "--max_slices", "2",
        "--device", "cpu", *[a for k, v in TINY.items() for a in ("-o", f"{k}={json.dumps(v)}")]]


@pytest.fixture()
def planned(tmp_path, monkeypatch):
    from autosr.preprocessing.api import plan_and_preprocess
    for k in ("raw", "preprocessed", "results"):
        (tmp_path / k).mkdir()
        monkeypatch.setenv(f"AUTOSR_{k.upper()}", str(tmp_path / k))
    make_raw_dataset(tmp_path / "raw", n_cases=4, shape=(4, 40, 44), spacing_xyz=(0.8, 0.8, 3.0))
    plan_and_preprocess(1)
    return tmp_path / "results" / "Dataset001_Synth"


def test_benchmark_trains_evaluates_alike_writes_the_table_and_resumes(planned, capsys):
    assert benchmark_main([*ARGS, "--systems", "MIASSR", "EDSR"]) == 0
    out = planned / "benchmark_2d_cpu_fold0"
    for name in ("benchmark.csv", "benchmark.md", "psnr_vs_scale.png", "psnr_vs_parameters.png"):
        assert (out / name).is_file(), name
    df = pd.read_csv(out / "benchmark.csv")
    assert list(df["system"]) == ["bicubic", "MIASSR", "EDSR"]
    assert list(df.columns[:4]) == ["system", "psnr", "ssim", "nrmse"] and {"psnr_x2", "psnr_x2.5"} <= set(df.columns)
    learned = df.set_index("system").loc[["MIASSR", "EDSR"]]
    assert (learned["steps"] == 4).all() and (learned["train_minutes"] > 0).all()
    assert learned.loc["EDSR", "models"] == 3 and learned.loc["MIASSR", "models"] == 1
    assert learned.loc["EDSR", "paper_parameters_M"] > 100  # EDSR's three 43 M models at the paper's size
    # The same slices, LR and scales for every system: the bicubic rows of the two evaluations are identical.
    rows = {s: pd.read_csv(out / "systems" / s / "metrics_per_slice.csv") for s in ("MIASSR", "EDSR")}
    bic = [r[r["method"] == "bicubic"].reset_index(drop=True) for r in rows.values()]
    pd.testing.assert_frame_equal(bic[0], bic[1])
    printed = capsys.readouterr().out
    assert "| bicubic |" in printed and "MIASSR Table 1" in printed  # the table and the paper-size counts

    # Run again: both systems are kept (not retrained); an interrupted one continues from its latest checkpoint.
    edsr = planned / "MetaSRTrainer__autosrPlans__2d_cpu__EDSR" / "fold_0"
    before = (edsr / "checkpoint_final.pth").stat().st_mtime_ns
    miassr = planned / "MetaSRTrainer__autosrPlans__2d_cpu__MIASSR" / "fold_0"
    (miassr / "checkpoint_final.pth").unlink()  # as if stopped after its step-2 checkpoint
    latest = torch.load(miassr / "checkpoint_latest.pth", weights_only=True)
    save_checkpoint({**latest, "step": 2}, miassr / "checkpoint_latest.pth")
    assert benchmark_main([*ARGS, "--systems", "MIASSR", "EDSR"]) == 0
    assert (edsr / "checkpoint_final.pth").stat().st_mtime_ns == before
    log = (miassr / "training_log.txt").read_text(encoding="utf-8")
    assert "at step 2 (warmup phase)" in log and "step 4/4" in log.split("continuing from")[-1]
    assert torch.load(miassr / "checkpoint_final.pth", weights_only=True)["step"] == 4


@pytest.mark.parametrize("argv, message", [
    (["--systems", "MIASSR", "NoSuchNet"], "unknown system 'NoSuchNet'"),
    (["--systems", "MIASSR", "--adversarial"], "--adversarial chooses the systems itself"),
])
def test_bad_systems_are_refused_before_anything_runs(planned, capsys, argv, message):
    assert benchmark_main([*ARGS, *argv]) == 1
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in planned.iterdir()) == [] if planned.exists() else True


def test_help_lists_every_system(capsys):
    from autosr.systems import SYSTEMS
    with pytest.raises(SystemExit):
        benchmark_main(["--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, at hyphens too
    assert all(name in text for name in SYSTEMS) and "SYSTEM+VARIANT" in text
