"""Hand-edited plans, bad -o overrides and training options: refused on load, one line, nothing written.

Every command that reads the plans (re-planning, preprocessing, training, prediction, evaluation)
validates them: each value's type and range, the rules between values (an LR patch of at least
``patch.min_lr_patch`` px at ``scales.max``) and the rules against the data (fingerprint).
"""
from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from autosr.commands.evaluate import main as evaluate_main
from autosr.commands.plan import main as plan_main
from autosr.commands.plan import preprocess_main
from autosr.commands.predict import main as predict_main
from autosr.commands.train import main as train_main
from autosr.plans import FIELD_RULES, SECTIONS, Configuration, PlansError
from tests.badinput.util import run_refused
from tests.synthetic import make_raw_dataset
from tests.training.helpers import TINY

DATASET = "Dataset001_One"
RUN = "MetaSRTrainer__autosrPlans__2d_cpu"
FAST = {**TINY, "training.perceptual": "off"}


def train_argv(*extra, steps=2, warmup=2, overrides=FAST):
    argv = ["1", "0", "-c", "2d_cpu", "--device", "cpu", "--steps", str(steps), "--warmup_steps", str(warmup)]
    for k, v in overrides.items():
        argv += ["-o", f"{k}={json.dumps(v)}"]
    return argv + [str(a) for a in extra]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A preprocessed one-channel dataset and a model trained on it for two steps, made once per module."""
    from autosr.preprocessing.api import plan_and_preprocess
    root = tmp_path_factory.mktemp("plans_refused")
    with pytest.MonkeyPatch.context() as mp:
        for k in ("raw", "preprocessed", "results"):
            (root / k).mkdir()
            mp.setenv(f"AUTOSR_{k.upper()}", str(root / k))
        make_raw_dataset(root / "raw", 1, "One", n_cases=3, shape=(6, 40, 48))
        plan_and_preprocess(DATASET, num_processes=1)
        assert train_main(train_argv()) == 0
    return root


@pytest.fixture
def data(template, autosr_folders):
    """This test's own copy of the template (raw, preprocessed, results)."""
    for k, folder in autosr_folders.items():
        shutil.copytree(template / k, folder, dirs_exist_ok=True)
    return autosr_folders


def plans_path(data) -> Path:
    return data["preprocessed"] / DATASET / "autosrPlans.json"


def fold(data) -> Path:
    return data["results"] / DATASET / RUN / "fold_0"


def edit_plans(path: Path, fn) -> None:
    plans = json.loads(path.read_text(encoding="utf-8"))
    fn(plans)
    path.write_text(json.dumps(plans, indent=2), encoding="utf-8")


def set_key(dotted: str, value):
    def fn(plans):
        *parents, last = dotted.split(".")
        node = plans
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[last] = value
    return fn


def one_line(err: str) -> str:
    """The error is the last line of stderr, and a single line (log lines may come before it)."""
    lines = err.splitlines()
    assert lines[-1].startswith("autosr_train: error: ") and sum(ln.startswith("autosr_") for ln in lines) == 1, err
    return lines[-1]


def watched(data):
    return [data["preprocessed"] / DATASET, data["results"]]


# -- hand-edited plans: every reader refuses them ---------------------------------------------------
def test_every_field_has_a_rule_that_names_it():
    conf = {"data_identifier": "x", "network": {"name": "MetaSR"}}
    for section, cls in SECTIONS.items():
        assert set(FIELD_RULES[cls]) == {f.name for f in dataclasses.fields(cls)} - {"why"}, cls
        for key in FIELD_RULES[cls]:
            with pytest.raises(PlansError, match=f"f.json: configurations.2d.{section}.{key} must be"):
                Configuration.from_dict("2d", {**conf, section: {key: {"not": "valid"}}}, "f.json")



@pytest.mark.parametrize("key, value, says", [
    ("configurations.2d_cpu.patch.batch_size", 0, "an integer >= 1"),
    ("slicing.axis", 5, "one of 0, 1, 2"),
    ("configurations.2d_cpu.patch.size", [-48, -48], "each an integer >= 1"),
    ("configurations.2d_cpu.scales.max", 0.5, "a number > 1"),
    ("configurations.2d_cpu.scales.max", 8, "below patch.min_lr_patch 12 px"),
    ("normalization.0.scheme", "PET", 'one of "CT", "MR"'),
    ("configurations.2d_cpu.training.lr", "fast", "a number > 0"),
    ("configurations.2d_cpu.training.perceptual", "maybe", 'one of "on", "auto", "off"'),
    ("configurations.2d_cpu.degradation.mode", "paired", "no lowresTr"),
    ("configurations.2d_cpu.patch.size", [200, 200], "exceeds the smallest image"),
    ("configurations.2d_cpu.degradation.kernel_size", 4, "an odd integer"),
    ("configurations.2d_cpu.training.val_scales", [9], "all above scales.max"),
    ("dataset_name", "Dataset002_Other", "is not the dataset of dataset_fingerprint.json"),
])
def test_training_refuses_a_bad_plans_value(data, capsys, key, value, says):
    edit_plans(plans_path(data), set_key(key, value))
    err = run_refused(train_main, train_argv("--overwrite"), capsys, [plans_path(data), key, says],
                      watch=watched(data))
    one_line(err)


def test_normalization_entries_must_match_the_channels(data, capsys):
    edit_plans(plans_path(data), lambda p: p["normalization"].append(dict(p["normalization"][0])))
    run_refused(train_main, train_argv("--overwrite"), capsys,
                [plans_path(data), "normalization", "one entry per channel (1"], watch=watched(data))


def test_training_refuses_cases_preprocessed_along_another_axis(data, capsys):
    props = data["preprocessed"] / DATASET / "autosrPlans_2d" / "case000.json"
    edit_plans(props, set_key("slicing_axis", 2))
    run_refused(train_main, train_argv("--overwrite"), capsys, [props, "slicing.axis 0", "autosr_preprocess"],
                watch=watched(data))


@pytest.mark.parametrize("key, value", [("configurations.2d_cpu.patch.batch_size", 0), ("slicing.axis", 5)])
def test_replanning_refuses_a_value_wrong_for_any_data(data, capsys, key, value):
    edit_plans(plans_path(data), set_key(key, value))
    run_refused(plan_main, ["-d", "1", "-np", "1"], capsys, [plans_path(data), key, "--clean"], watch=watched(data))


def test_preprocessing_refuses_an_unknown_scheme(data, capsys):
    edit_plans(plans_path(data), set_key("normalization.0.scheme", "PET"))
    run_refused(preprocess_main, ["-d", "1", "-np", "1"], capsys, [plans_path(data), "normalization.0.scheme"],
                watch=watched(data))


def test_prediction_and_evaluation_refuse_a_model_with_bad_plans(data, capsys, tmp_path):
    model_plans = fold(data).parent / "plans.json"
    edit_plans(model_plans, set_key("slicing.axis", 5))
    scan = sorted((data["raw"] / DATASET / "imagesTr").iterdir())[0]
    out = tmp_path / "out"
    run_refused(predict_main, ["-i", str(scan), "-o", str(out), "-s", "2", "-d", "1", "-c", "2d_cpu", "-f", "0",
                               "--device", "cpu"], capsys, [model_plans, "slicing.axis"],
                watch=[scan, out, *watched(data)])
    run_refused(evaluate_main, ["-d", "1", "-f", "0", "-c", "2d_cpu", "-s", "2", "--device", "cpu"], capsys,
                [model_plans, "slicing.axis"], watch=watched(data))


# -- -o overrides -------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, says", [
    ("training.lr=abc", "a number > 0"),
    ("patch.batch_size=0", "an integer >= 1"),
    ("scales.max=8", "below patch.min_lr_patch"),
    ("patch.size=[200,200]", "exceeds the smallest image"),
    ("training.betas=[0.9]", "a list of 2"),
])
def test_training_refuses_a_bad_override(data, capsys, override, says):
    run_refused(train_main, train_argv("--overwrite", "-o", override), capsys, [f"-o {override}", says],
                watch=watched(data))


@pytest.mark.parametrize("extra, culprits", [
    (["-o", "training.losses.PerceptualLoss.layer=conv9_9", "--perceptual", "auto"],
     ["PerceptualLoss layer 'conv9_9'", "training.losses.PerceptualLoss.layer=conv2_2"]),
    (["-o", "network.name=NoSuchNet"], ["NoSuchNet", "network/critic section or the -o overrides"]),
])
def test_training_refuses_a_perceptual_layer_or_network_that_cannot_be_built(data, capsys, extra, culprits):
    run_refused(train_main, train_argv("--overwrite", *extra, warmup=1), capsys, culprits, watch=watched(data))


# -- training options and the fold folder ------------------------------------------------------------
def test_warmup_longer_than_the_run_is_refused(data, capsys):
    run_refused(train_main, train_argv("--overwrite", steps=2, warmup=5), capsys, ["--warmup_steps 5", "--steps 2"],
                watch=watched(data))


def test_continue_and_overwrite_exclude_each_other(data, capsys):
    run_refused(train_main, train_argv("--c", "--overwrite"), capsys, ["--c", "--overwrite"], watch=watched(data))


def test_a_finished_fold_is_not_overwritten_without_the_flag(data, capsys):
    run_refused(train_main, train_argv(), capsys, [fold(data), "checkpoint_final.pth", "--c", "--overwrite"],
                watch=watched(data))
    before = torch.load(fold(data) / "checkpoint_final.pth", weights_only=True)["step"]
    assert train_main(train_argv("--overwrite", steps=3, warmup=3)) == 0
    assert before == 2 and torch.load(fold(data) / "checkpoint_final.pth", weights_only=True)["step"] == 3
    assert "--overwrite: deleted the earlier run's" in (fold(data) / "training_log.txt").read_text(encoding="utf-8")


def test_partial_files_of_an_interrupted_run_are_removed(data):
    partials = [fold(data) / ".checkpoint_latest.pthk2j4x9.partial", fold(data) / ".validation.jsonab12.partial"]
    for p in partials:
        p.write_bytes(b"\x00" * 32)
    assert train_main(train_argv("--overwrite")) == 0
    assert not any(p.exists() for p in partials)
    log = (fold(data) / "training_log.txt").read_text(encoding="utf-8")
    assert "removed 2 partial file(s) of an interrupted run" in log


class _Evil:
    """Unpickling this creates the marker file: proof that the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_vgg_weights_pickle_never_runs(data, capsys, tmp_path):
    marker, evil = tmp_path / "pwned", tmp_path / "vgg19.pth"
    evil.write_bytes(pickle.dumps(_Evil(marker)))
    torch.save({"features.0.weight": _Evil(marker)}, tmp_path / "vgg19_zip.pth")
    for weights in (evil, tmp_path / "vgg19_zip.pth"):
        err = run_refused(train_main, train_argv("--overwrite", "--perceptual", "on", "--vgg_weights", weights,
                                                 warmup=1), capsys, [weights, "--vgg_weights"], watch=watched(data))
        one_line(err)
        assert not marker.exists()


def _foreign_checkpoint(data, tmp_path) -> Path:
    """The trained checkpoint relabelled as one of another dataset (same channels and network)."""
    ckpt = torch.load(fold(data) / "checkpoint_final.pth", weights_only=True)
    ckpt["identity"]["dataset_name"] = "Dataset009_Other"
    path = tmp_path / "other.pth"
    torch.save(ckpt, path)
    return path


def test_continuing_from_a_checkpoint_of_another_dataset_is_refused(data, capsys, tmp_path):
    latest = fold(data) / "checkpoint_latest.pth"
    shutil.copyfile(_foreign_checkpoint(data, tmp_path), latest)
    err = run_refused(train_main, ["1", "0", "-c", "2d_cpu", "--device", "cpu", "--c"], capsys,
                      [latest, "Dataset009_Other", "--pretrained_weights"], watch=watched(data))
    one_line(err)


def test_validating_a_checkpoint_of_another_dataset_is_refused(data, capsys, tmp_path):
    final = fold(data) / "checkpoint_final.pth"
    shutil.copyfile(_foreign_checkpoint(data, tmp_path), final)
    run_refused(train_main, ["1", "0", "-c", "2d_cpu", "--device", "cpu", "--val_only"], capsys,
                [final, "Dataset009_Other"], watch=watched(data))


def test_unusable_pretrained_weights_are_refused(data, capsys, tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    wider = torch.load(fold(data) / "checkpoint_final.pth", weights_only=True)
    wider["generator"] = {k: torch.zeros(2 * v.shape[0], *v.shape[1:]) if v.ndim else v
                          for k, v in wider["generator"].items()}
    torch.save(wider, tmp_path / "wider.pth")
    for path, says in ((garbage, "not a readable AutoSR checkpoint"), (tmp_path / "missing.pth", "not found"),
                       (tmp_path / "wider.pth", "does not fit")):
        err = run_refused(train_main, train_argv("--overwrite", "--pretrained_weights", path), capsys, [path, says],
                          watch=watched(data))
        one_line(err)


def test_an_incomplete_fingerprint_beside_the_plans_is_named(tmp_path, capsys):
    """A truncated dataset_fingerprint.json in a model folder: one line naming it, not a KeyError."""
    from autosr.commands.predict import main as predict_main
    from tests.inference.helpers import make_model_folder
    from tests.synthetic import phantom
    from autosr.imageio import Geometry, write_image
    model = make_model_folder(tmp_path / "results")
    (model / "dataset_fingerprint.json").write_text('{"channel_names": ["T2"]}', encoding="utf-8")
    scan = tmp_path / "in" / "x_0000.nii.gz"
    write_image(phantom((3, 20, 24)), Geometry((1.0, 1.0, 3.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1)), scan)
    err = run_refused(predict_main, ["-i", str(scan), "-o", str(tmp_path / "out"), "-s", "2", "-m", str(model),
                                     "--device", "cpu", "--disable_progress_bar"], capsys,
                      culprits=[str(model / "dataset_fingerprint.json"), "missing dataset_name"],
                      watch=[scan.parent, model])
    assert not (tmp_path / "out").exists(), err
