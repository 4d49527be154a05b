"""End to end on tiny synthetic datasets: raw → plan_and_preprocess → autosr_train (CLI, in-process)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from autosr.commands.train import main
from autosr.checkpoint import load_generator
from tests.training.helpers import TINY

RUN = "MetaSRTrainer__autosrPlans__2d_cpu"
REPO = Path(__file__).resolve().parents[2]
EXTENDING = (REPO / "documentation" / "extending.md").read_text(encoding="utf-8")


def train_cli(*args, steps=6, warmup=3, **extra):
    overrides = {**TINY, **extra}
    argv = [*map(str, args), "-c", "2d_cpu", "--steps", str(steps), "--warmup_steps", str(warmup), "--device", "cpu"]
    for k, v in overrides.items():
        argv += ["-o", f"{k}={json.dumps(v)}"]
    return main(argv)


def test_training_writes_a_complete_model_folder(env):
    assert train_cli(1, 0) == 0
    run = env / "Dataset001_One" / RUN
    fold = run / "fold_0"
    for name in ("plans.json", "dataset.json"):
        assert (run / name).is_file()
    for name in ("checkpoint_latest.pth", "checkpoint_best.pth", "checkpoint_final.pth", "training_log.txt",
                 "progress.png", "validation.json", "training_config.json"):
        assert (fold / name).is_file(), name
    ckpt = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert ckpt["step"] == 6 and ckpt["phase"] == "gan" and ckpt["generator_config"]["name"] == "MetaSR"
    assert ckpt["identity"]["dataset_name"] == "Dataset001_One" and ckpt["identity"]["num_channels"] == 1
    assert ckpt["configuration"]["network"]["width"] == 8 and "critic" in ckpt and "optimizer_c" in ckpt
    log = (fold / "training_log.txt").read_text(encoding="utf-8")
    assert "overrides:" in log and '"network.width": 8' in log
    assert "perceptual loss" in log  # never silent about the VGG loss
    s_max = ckpt["identity"]["scale_max"]
    expected = [s for s in (1.5, 2, 2.5, 3, 3.5, 4) if s <= s_max]
    for s in expected:
        assert f"x{s:g} " in log
    assert json.loads((fold / "training_config.json").read_text(encoding="utf-8"))["overrides"]["network.depth"] == 2
    model, _ = load_generator(fold, "cpu")
    assert model(torch.rand(1, 1, 8, 9), 2.5).shape == (1, 1, 20, 22)
    # --val_only validates the final checkpoint again, without training.
    (fold / "validation.json").unlink()
    assert main(["1", "0", "-c", "2d_cpu", "--val_only", "--device", "cpu"]) == 0
    results = json.loads((fold / "validation.json").read_text(encoding="utf-8"))
    assert results["checkpoint"] == "checkpoint_final.pth"
    assert {f"{s:g}" for s in expected} <= set(results["results"])
    assert all(float(k) <= s_max for k in results["results"])


def test_interrupted_run_resumes_to_identical_weights(env):
    assert train_cli(1, 0, "--deterministic") == 0
    helper = "tests.training.helpers:InterruptingTrainer"
    assert train_cli(1, 0, "--deterministic", "-tr", helper) == 130  # like Ctrl-C after 3 steps
    fold = env / "Dataset001_One" / "InterruptingTrainer__autosrPlans__2d_cpu" / "fold_0"
    assert torch.load(fold / "checkpoint_latest.pth", weights_only=True)["step"] == 3
    assert not (fold / "checkpoint_final.pth").exists()
    assert main(["1", "0", "-c", "2d_cpu", "-tr", helper, "--c", "--device", "cpu"]) == 0
    a = torch.load(env / "Dataset001_One" / RUN / "fold_0" / "checkpoint_final.pth", weights_only=True)
    b = torch.load(fold / "checkpoint_final.pth", weights_only=True)
    for part in ("generator", "critic"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k}"
    assert "continuing from" in (fold / "training_log.txt").read_text(encoding="utf-8")


def test_transfer_learning_reinitialises_channel_layers(env, capsys):
    assert train_cli(1, 0, steps=2, warmup=2) == 0
    pre = env / "Dataset001_One" / RUN / "fold_0" / "checkpoint_final.pth"
    assert train_cli(2, 0, "--pretrained_weights", pre, steps=2, warmup=1) == 0
    log = (env / "Dataset002_Two" / RUN / "fold_0" / "training_log.txt").read_text(encoding="utf-8")
    assert "NOTICE" in log and "re-initialised" in log and "Dataset001_One" in log
    # The same checkpoint without --pretrained_weights (here: as the fold's latest) is refused.
    fold = env / "Dataset002_Two" / RUN / "fold_0"
    shutil.copyfile(pre, fold / "checkpoint_latest.pth")
    capsys.readouterr()
    assert main(["2", "0", "-c", "2d_cpu", "--c", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "does not belong to this run" in err and "--pretrained_weights" in err


def test_paired_mode_trains_on_the_real_low_resolution_scans(env):
    assert train_cli(4, 0, steps=2, warmup=1) == 0
    fold = env / "Dataset004_Paired" / RUN / "fold_0"
    ckpt = torch.load(fold / "checkpoint_final.pth", weights_only=True)
    assert ckpt["configuration"]["degradation"]["mode"] == "paired" and ckpt["step"] == 2
    # validated on the real LR scans, at their scale only
    assert set(json.loads((fold / "validation.json").read_text(encoding="utf-8"))["results"]) == {"2"}


@pytest.mark.parametrize("dataset, name, mode", [(4, "Dataset004_Paired", "paired"), (1, "Dataset001_One", "synthetic")])
def test_the_mesr_system_trains_on_real_pairs_and_on_synthetic_lr(env, dataset, name, mode):
    """MESR (EDSR-lite + Meta-Upscale without biases, L1) on a lowresTr dataset trains on the real pairs; on
    another, on the planned synthetic LR; its model predicts and evaluates (real pairs scored when there are)."""
    from autosr.commands.evaluate import main as evaluate_main
    from autosr.inference.predictor import Predictor
    assert train_cli(dataset, 0, "--system", "MESR", steps=3, warmup=3) == 0
    folder = env / name / f"{RUN}__MESR"
    ckpt = torch.load(folder / "fold_0" / "checkpoint_final.pth", weights_only=True)
    assert ckpt["configuration"]["degradation"]["mode"] == mode
    assert ckpt["generator_config"]["bias"] is False and not any(k.endswith(".bias") for k in ckpt["generator"])
    assert [e["name"] for e in ckpt["losses_effective"]] == ["L1Loss"]
    pred = Predictor.from_model_folder(folder, folds=("0",), device="cpu", progress=False)
    assert pred.super_resolve(np.random.rand(1, 1, 16, 18).astype(np.float32), 2).shape == (1, 1, 32, 36)
    assert evaluate_main(["-d", str(dataset), "-f", "0", "--system", "MESR", "-s", "2", "--max_slices", "2",
                          "--device", "cpu"]) == 0
    summary = json.loads((folder / "fold_0" / "evaluation_val" / "summary.json").read_text(encoding="utf-8"))
    assert ("model (real LR)" in summary["methods"]) == (mode == "paired")
    assert (summary["paired_cases"] > 0) == (mode == "paired")


def fake_vgg19(path):
    """A torchvision-format VGG19 checkpoint of constant weights; stride-0 tensors keep the file tiny."""
    from autosr.networks.vgg import vgg19_features
    state = {f"features.{k}": torch.full((1,), 0.01).expand(v.shape) for k, v in vgg19_features().state_dict().items()}
    torch.save(state, path)
    return path


def test_perceptual_loss_with_a_weights_file(env, tmp_path):
    weights = fake_vgg19(tmp_path / "vgg19.pth")
    assert train_cli(1, 0, "--perceptual", "on", "--vgg_weights", weights, steps=2, warmup=1) == 0
    fold = env / "Dataset001_One" / RUN / "fold_0"
    assert "perceptual loss: VGG19 conv2_2" in (fold / "training_log.txt").read_text(encoding="utf-8")
    ckpt = torch.load(fold / "checkpoint_final.pth", weights_only=True)
    planned = {e["name"]: e["weight"] for e in ckpt["configuration"]["training"]["losses"]}
    assert {e["name"]: e["weight"] for e in ckpt["losses_effective"]} == planned and planned["PerceptualLoss"] > 0
    assert "perc" in ckpt["history"]["train"][-1]


def test_missing_vgg_weights_with_auto_runs_without_it_and_says_so(env, capsys):
    assert train_cli(1, 0, "--perceptual", "auto", steps=2, warmup=1) == 0
    fold = env / "Dataset001_One" / RUN / "fold_0"
    assert "perceptual loss DISABLED: VGG19 weights not found" in (fold / "training_log.txt").read_text(encoding="utf-8")
    assert "perceptual loss DISABLED" in capsys.readouterr().err  # on the console too
    used = torch.load(fold / "checkpoint_final.pth", weights_only=True)["losses_effective"]
    assert [e["name"] for e in used] == ["L1Loss", "WGANGP"]


def test_missing_vgg_weights_without_auto_is_a_clear_error(env, capsys, tmp_path):
    assert train_cli(1, 0, "--perceptual", "on", steps=2, warmup=1) == 1
    assert "--perceptual on needs VGG19 weights" in capsys.readouterr().err
    assert train_cli(1, 0, "--vgg_weights", tmp_path / "nowhere.pth", steps=2, warmup=1) == 1
    assert "nowhere.pth" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["99", "0"], "not found"),
    (["1", "7"], "fold 7 is not in"),
    (["1", "x"], "fold 'x'"),
    (["3", "0"], "not preprocessed"),
    (["1", "0", "-tr", "NoSuchTrainer"], "unknown trainer"),
    (["1", "0", "-o", "training.no_such_key=1"], "unknown key"),
])
def test_bad_input_gives_one_clear_message(env, capsys, args, message):
    assert main([*args, "-c", "2d_cpu", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("autosr_train: error:") and message in err and "Traceback" not in err


def test_corrupt_checkpoint_is_reported_on_continue(env, capsys):
    fold = env / "Dataset001_One" / RUN / "fold_0"
    fold.mkdir(parents=True)
    (fold / "checkpoint_latest.pth").write_bytes(b"\x00" * 64)
    assert main(["1", "0", "-c", "2d_cpu", "--c", "--device", "cpu"]) == 1
    assert "corrupt" in capsys.readouterr().err


def test_ctrl_c_saves_a_checkpoint_and_exits_130(env):
    """A real SIGINT with a background data worker: the step finishes, checkpoint_latest is written."""
    overrides = {**TINY, "training.num_workers": 1, "training.val_every": 0, "training.checkpoint_every": 0,
                 "training.perceptual": "off"}
    cmd = [sys.executable, "-m", "autosr.commands.train", "1", "0", "-c", "2d_cpu", "--device", "cpu",
           "--steps", "100000"] + [a for k, v in overrides.items() for a in ("-o", f"{k}={json.dumps(v)}")]
    environ = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    log = env / "Dataset001_One" / RUN / "fold_0" / "training_log.txt"
    proc = subprocess.Popen(cmd, cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
    try:
        deadline = time.time() + 90
        while not (log.is_file() and "[warmup]" in log.read_text(encoding="utf-8")):  # training steps are running
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() else "timeout"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out[-2000:]
    ckpt = torch.load(log.parent / "checkpoint_latest.pth", weights_only=True)
    assert ckpt["step"] >= 50 and "continue with --c" in log.read_text(encoding="utf-8")


def test_single_axis_training_needs_and_uses_a_per_axis_network(env, capsys):
    """Batches refining one axis train a per-axis Meta-Upscale, which then refines (1, 4) as well as 2.5."""
    single = {"scales.single_axis_probability": 0.5, "scales.single_axis_max": 4.0}
    assert train_cli(1, 0, **single, **{"network.per_axis_scale": False}) == 1
    err = capsys.readouterr().err
    assert "needs network.per_axis_scale true" in err and "Traceback" not in err
    assert train_cli(1, 0, steps=8, warmup=8, **single, **{"network.per_axis_scale": True}) == 0
    env_results = Path(os.environ["AUTOSR_RESULTS"])
    ckpt = next(env_results.glob(f"*/{RUN}/fold_0/checkpoint_final.pth"))
    net, _ = load_generator(ckpt, "cpu")
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        assert net(x, (1, 4)).shape == (1, 1, 12, 40) and net(x, 2.5).shape == (1, 1, 30, 25)


@pytest.mark.parametrize("body,upsampler", [("SRResNet", "SubPixel"), ("RDN", "MetaUpscale")])
def test_another_body_and_upsampler_train_and_predict(env, body, upsampler):
    """-o network.body / network.upsampler: the trainer and the predictor need nothing more (blind: the
    acquisition codes need EDSR-lite's modulated blocks)."""
    from autosr.inference.predictor import Predictor
    one_axis = {"scales.single_axis_probability": 0.0} if upsampler == "SubPixel" else {}  # ×4 at most
    if one_axis:
        assert train_cli(1, 0, **{"network.upsampler": upsampler}) == 1  # up to 6 on one axis: refused, clearly
    assert train_cli(1, 0, **one_axis, **{"network.body": body, "network.upsampler": upsampler,
                                          "network.acquisitions": [],
                                          "degradation.told_probability": 0.0,
                                          "network.body_args": {"growth": 4, "layers": 2} if body == "RDN" else {}}) == 0
    run = env / "Dataset001_One" / RUN
    pred = Predictor.from_model_folder(run, folds=(0,), device="cpu", progress=False)
    assert type(pred.networks[0].body).__name__.startswith(body)
    x = np.random.default_rng(0).random((2, 1, 20, 22)).astype(np.float32)
    assert pred.super_resolve(x, 1.5).shape == (2, 1, 30, 33)  # the tiny dataset plans s_max 2


@pytest.mark.parametrize("objective", ["WGANGP", "WGAN", "VanillaGAN", "RaGAN"])
def test_each_adversarial_objective_runs_a_gan_phase(env, objective):
    """training.losses: MIASSR Fig. 8's four objectives each train a GAN phase with finite losses."""
    losses = [{"name": "L1Loss", "weight": 1}, {"name": objective, "weight": 0.01}]
    assert train_cli(1, 0, steps=8, warmup=2, **{"training.losses": losses}) == 0
    fold = env / "Dataset001_One" / RUN / "fold_0"
    log = (fold / "training_log.txt").read_text(encoding="utf-8")
    assert f"GAN phase (1·L1Loss + 0.01·{objective})" in log and "discarded" not in log and "nan" not in log.lower()
    ckpt = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert ckpt["configuration"]["training"]["losses"][1]["name"] == objective
    assert {"l1", "adv", "d", "g"} <= set(ckpt["history"]["train"][-1])


def test_a_loss_weight_is_set_by_name_and_a_users_loss_is_built(env, tmp_path):
    """-o training.losses.NAME.weight=…, and a module:Class loss (documentation/extending.md's) counted from the
    first step with its own argument."""
    code = re.search(r"# /home/me/losses/edges.py\n(.*?)```", EXTENDING, re.S).group(1)
    (tmp_path / "edges.py").write_text(code, encoding="utf-8")
    losses = [{"name": "L1Loss", "weight": 1}, {"name": f"{tmp_path / 'edges.py'}:GradientLoss", "weight": 0.5,
                                                 "order": 1}]
    assert train_cli(1, 0, steps=3, warmup=3, **{"training.losses": losses, "training.losses.L1Loss.weight": 0.5}) == 0
    ckpt = torch.load(env / "Dataset001_One" / RUN / "fold_0" / "checkpoint_final.pth", weights_only=True)
    assert [(e["name"].rsplit(":", 1)[-1], e["weight"]) for e in ckpt["losses_effective"]] == [
        ("L1Loss", 0.5), ("GradientLoss", 0.5)]
    assert {"l1", "gradientloss"} <= set(ckpt["history"]["train"][-1])


@pytest.mark.parametrize("losses, message", [
    ([{"name": "L1Loss", "weight": 1}, {"name": "LSGAN", "weight": 0.001}],
     "training.losses[1] (LSGAN): unknown loss 'LSGAN'"),
    ([{"name": "L1Loss", "weight": 1}, {"name": "WGAN", "weight": 1}, {"name": "RaGAN", "weight": 1}],
     "a second adversarial objective (WGAN is the first)"),
    ([{"name": "WGANGP", "weight": 1}], "no loss counts from the first step"),
    ([{"name": "L1Loss", "weight": 1, "power": 2}], "unexpected keyword argument(s) ['power']"),
    ([{"name": "L1Loss"}], "training.losses must be a list of loss objects {name, weight, phase?, …}: [0] is missing "
                           "weight"),
])
def test_bad_losses_are_refused_before_anything_is_written(env, capsys, losses, message):
    assert train_cli(1, 0, **{"training.losses": losses}) == 1
    assert message in capsys.readouterr().err
    assert not (env / "Dataset001_One" / RUN).exists()


def test_a_papers_system_trains_in_its_own_model_folder(env, capsys, tmp_path):
    """--system Meta-SRResNet: its body over the planned configuration (scaled down on CPU, trained blind), in
    MetaSRTrainer__autosrPlans__2d_cpu__Meta-SRResNet; autosr_predict -d … --system finds it."""
    from autosr.commands.predict import main as predict_main
    from autosr.imageio import Geometry, write_image
    argv = ["1", "0", "-c", "2d_cpu", "--steps", "4", "--warmup_steps", "2", "--device", "cpu",
            "--system", "Meta-SRResNet", "-o", "network.width=8", "-o", "network.depth=1"]
    assert main(argv) == 0
    fold = env / "Dataset001_One" / f"{RUN}__Meta-SRResNet" / "fold_0"
    ckpt = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    cfg = ckpt["generator_config"]
    assert cfg["body"] == "SRResNet" and cfg["width"] == 8 and cfg.get("acquisitions") == []
    assert json.loads((fold / "training_config.json").read_text())["system"] == "Meta-SRResNet"
    assert "system Meta-SRResNet" in (fold / "training_log.txt").read_text(encoding="utf-8")
    write_image(np.random.default_rng(0).random((3, 20, 20)).astype(np.float32),
                Geometry((1.0, 1.0, 3.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1)), tmp_path / "in" / "a_0000.nii.gz")
    assert predict_main(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-s", "1.5", "-d", "1",
                         "--system", "Meta-SRResNet", "--disable_progress_bar"]) == 0
    capsys.readouterr()
    # a fixed-scale system: a model per integer scale, trained at integer scales only
    assert main(["1", "0", "-c", "2d_cpu", "--steps", "2", "--device", "cpu", "--system", "EDSR",
                 "-o", "network.width=8", "-o", "network.depth=1"]) == 0
    ckpt = torch.load(env / "Dataset001_One" / f"{RUN}__EDSR" / "fold_0" / "checkpoint_final.pth", weights_only=True)
    assert ckpt["generator_config"]["name"] == "PerScale" and ckpt["configuration"]["scales"]["step"] == 1
    assert {k.split(".")[1] for k in ckpt["generator"]} == {str(k) for k in ckpt["generator_config"]["scales"]}
    assert "one model per integer scale" in capsys.readouterr().err
    assert main(["1", "0", "--system", "Nope"]) == 1
    assert "unknown system 'Nope'; systems: MIASSR" in capsys.readouterr().err
