"""``--raw`` / ``--preprocessed`` / ``--results`` on every command: they win over the environment variables."""
from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path

import pytest

from autosr.commands.common import FOLDER_OPTIONS, add_folder_options, apply_folder_options
from autosr.errors import AutoSRError
from tests.synthetic import make_raw_dataset, phantom

#: The folder options each console script takes (autosr_demo keeps its folders under --workdir).
EXPECTED = {
    "autosr.commands.convert:main": ("raw",),
    "autosr.commands.convert:verify_main": ("raw",),
    "autosr.commands.plan:main": ("raw", "preprocessed"),
    "autosr.commands.plan:fingerprint_main": ("raw", "preprocessed"),
    "autosr.commands.plan:plan_main": ("raw", "preprocessed"),
    "autosr.commands.plan:preprocess_main": ("raw", "preprocessed"),
    "autosr.commands.train:main": ("preprocessed", "results"),
    "autosr.commands.evaluate:main": ("raw", "preprocessed", "results"),
    "autosr.commands.benchmark:main": ("raw", "preprocessed", "results"),
    "autosr.commands.demo:main": (),
    "autosr.commands.predict:main": ("results",),
    "autosr.commands.models:export_main": ("results",),
    "autosr.commands.models:install_main": ("results",),
    "autosr.commands.models:list_main": ("results",),
}
TINY = {"patch.size": [24, 24], "patch.batch_size": 2, "network.width": 8, "network.depth": 1,
        "network.mlp_hidden": 16, "critic.num_blocks": 2, "critic.base_width": 4, "training.val_every": 10 ** 6,
        "training.checkpoint_every": 10 ** 6, "training.val_max_slices": 1, "training.num_workers": 0,
        "training.perceptual": "off", "scales.max": 2.0, "scales.step": 0.5}


def _main(entry: str):
    module, func = entry.split(":")
    return getattr(importlib.import_module(module), func)


def _help(entry: str, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        _main(entry)(["--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_every_command_is_checked():
    from tests.test_commands_help import COMMANDS
    assert sorted(COMMANDS.values()) == sorted(EXPECTED), "a command of setup.py is missing from EXPECTED"


@pytest.mark.parametrize("entry", sorted(EXPECTED))
def test_help_lists_the_folder_options(entry, capsys):
    text = _help(entry, capsys)
    for kind, (var, _) in FOLDER_OPTIONS.items():
        if kind in EXPECTED[entry]:
            assert f"--{kind} DIR" in text and f"${var}" in text, f"{entry}: --{kind} missing from --help"
        else:
            assert f"--{kind} DIR" not in text, f"{entry}: --{kind} is not used by this command"


def _others(tmp_path: Path) -> dict:
    return {k: tmp_path / "elsewhere" / k for k in FOLDER_OPTIONS}


def _empty(folder: Path) -> bool:
    return not any(folder.iterdir())


def test_plan_and_train_use_the_option_folders_not_the_env_ones(autosr_folders, tmp_path):
    """The env folders (conftest) stay empty; everything goes to the option folders (created as needed)."""
    from autosr.commands.plan import main as plan_main
    from autosr.commands.train import main as train_main
    other = _others(tmp_path)
    make_raw_dataset(other["raw"], 1, "Elsewhere", n_cases=3, shape=(6, 40, 40))
    assert plan_main(["-d", "1", "-np", "1", "--raw", str(other["raw"]),
                      "--preprocessed", str(other["preprocessed"])]) == 0
    assert (other["preprocessed"] / "Dataset001_Elsewhere" / "autosrPlans.json").is_file()
    argv = ["1", "0", "-c", "2d_cpu", "--steps", "2", "--warmup_steps", "1", "--device", "cpu",
            "--preprocessed", str(other["preprocessed"]), "--results", str(other["results"])]
    for k, v in TINY.items():
        argv += ["-o", f"{k}={json.dumps(v)}"]
    assert train_main(argv) == 0
    fold = other["results"] / "Dataset001_Elsewhere" / "MetaSRTrainer__autosrPlans__2d_cpu" / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file()
    assert all(_empty(f) for f in autosr_folders.values())


def test_convert_and_verify_use_the_raw_option(autosr_folders, tmp_path, capsys):
    from autosr.commands.convert import main as convert_main, verify_main
    from autosr.imageio import Geometry, write_image
    scan = tmp_path / "scans" / "brain.nii.gz"
    write_image(phantom((4, 24, 24)), Geometry((1.0, 1.0, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1)), scan)
    raw = tmp_path / "new" / "raw"  # does not exist yet: created by the conversion
    assert convert_main(["-i", str(scan), "-d", "3", "--name", "Opt", "--raw", str(raw)]) == 0
    assert (raw / "Dataset003_Opt" / "dataset.json").is_file()
    assert verify_main(["-d", "3", "--raw", str(raw)]) == 0
    assert _empty(autosr_folders["raw"])
    assert verify_main(["-d", "3"]) == 1  # the env folder does not hold it
    assert "dataset '3' not found in " + str(autosr_folders["raw"]) in capsys.readouterr().err


def test_a_file_given_as_folder_is_a_clear_error(autosr_folders, tmp_path, capsys):
    from autosr.commands.train import main as train_main
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    assert train_main(["1", "0", "--results", str(a_file)]) == 1
    err = capsys.readouterr().err
    assert f"autosr_train: error: --results {a_file}: {a_file} is a file, not a folder" in err
    assert train_main(["1", "0", "--preprocessed", str(a_file / "sub")]) == 1
    assert f"--preprocessed {a_file / 'sub'}: {a_file} is a file, so the folder" in capsys.readouterr().err
    assert os.environ["AUTOSR_RESULTS"] == str(autosr_folders["results"])  # nothing applied on error


def test_apply_sets_the_environment_for_lower_layers_and_child_processes(autosr_folders, tmp_path, monkeypatch):
    from autosr.paths import preprocessed_dir, raw_dir, results_dir
    monkeypatch.chdir(tmp_path)
    p = argparse.ArgumentParser()
    add_folder_options(p, ("raw", "results"))
    apply_folder_options(p.parse_args(["--raw", "r", "--results", "~/autosr_results_test_unused"]))
    assert raw_dir() == tmp_path / "r" and os.environ["AUTOSR_RAW"] == str(tmp_path / "r")  # absolute
    assert results_dir() == Path.home() / "autosr_results_test_unused"
    assert preprocessed_dir() == autosr_folders["preprocessed"]  # not given: the variable stays
    assert not (tmp_path / "r").exists() and not results_dir().exists()  # checked, not created


def test_unwritable_parent_is_refused(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    real_access = os.access
    # root writes anywhere, whatever the mode: ask the OS's answer for a normal user
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    try:
        args = argparse.Namespace(raw_folder=str(locked / "raw"))
        with pytest.raises(AutoSRError, match=r"--raw .*raw does not exist and cannot be created "
                                              r".*locked is not writable"):
            apply_folder_options(args)
    finally:
        locked.chmod(0o700)
