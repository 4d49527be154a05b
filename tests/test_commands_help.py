"""Every console script declared in setup.py answers --help with exit code 0 (run in-process)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Dict

import pytest

SETUP = Path(__file__).resolve().parents[1] / "setup.py"


def _commands() -> Dict[str, str]:
    """The COMMANDS dict literal of setup.py, read without running setup.py."""
    for node in ast.walk(ast.parse(SETUP.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COMMANDS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py declares no COMMANDS dict")


COMMANDS = _commands()


def test_commands_are_declared():
    assert {"autosr_convert", "autosr_verify_dataset"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_exits_zero(name, capsys):
    module, func = COMMANDS[name].split(":")
    main = getattr(importlib.import_module(module), func)
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("module", sorted({v.split(":")[0] for v in COMMANDS.values()}))
def test_python_dash_m_help(module):
    """`python -m autosr.commands.<name> --help` prints the usage (a module without a __main__ guard prints nothing)."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_every_imported_third_party_package_is_declared():
    """Each third-party top-level module imported by the package is in setup.py's install_requires."""
    import sys
    root = SETUP.parent
    declared = {"torch", "SimpleITK", "nibabel", "batchgenerators", "numpy", "skimage", "pandas", "tqdm",
                "matplotlib", "scipy"}
    text = SETUP.read_text(encoding="utf-8")
    pip_names = {"skimage": "scikit-image"}
    for mod in declared:
        assert f'"{pip_names.get(mod, mod)}' in text, f"{mod} is expected in setup.py install_requires"
    optional = {"pytorch_fid", "lpips"}  # imported inside try/except, reported "unavailable" when absent
    found = set()
    for folder in ("autosr", "planners", "dataset_conversion"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    third_party = {m for m in found if m not in sys.stdlib_module_names and m not in {"autosr", "__future__"}}
    assert third_party - declared - optional == set()


# --------------------------------------------------------------------------- --device cuda:N everywhere

#: Every command taking --device, and arguments that get it as far as the device check.
DEVICE_COMMANDS = {
    "autosr_train": ["1", "0"],
    "autosr_evaluate": ["-d", "1", "-f", "0"],
    "autosr_benchmark": ["-d", "1"],
    "autosr_demo": ["--workdir", "DEMO_WORKDIR"],
}


def _entry(name: str):
    module, func = COMMANDS[name].split(":")
    return importlib.import_module(module)


def _gpus(monkeypatch, count: int) -> list:
    """Pretend this machine has ``count`` CUDA devices; returns the devices set_device is called with."""
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    made_current: list = []
    monkeypatch.setattr(torch.cuda, "set_device", made_current.append)
    return made_current


def _argv(name: str, tmp_path, device: str) -> list:
    return [a.replace("DEMO_WORKDIR", str(tmp_path / "demo")) for a in DEVICE_COMMANDS[name]] + ["--device", device]


@pytest.mark.parametrize("name", sorted(DEVICE_COMMANDS) + ["autosr_predict"])
def test_parsers_accept_cuda_n(name):
    """argparse takes cuda:N (no "invalid choice"); whether it exists is checked when the command runs."""
    argv = ["-i", "in", "-o", "out", "-s", "2", "-d", "1"] if name == "autosr_predict" else DEVICE_COMMANDS[name]
    for device in ("cuda:0", "cuda:7", "cuda", "cpu", "mps", "auto"):
        assert _entry(name).build_parser().parse_args([*argv, "--device", device]).device == device


@pytest.mark.parametrize("name", sorted(DEVICE_COMMANDS))
@pytest.mark.parametrize("device", ["cuda:0", "cuda:7"])
def test_cuda_n_without_cuda_is_a_clear_error(name, device, monkeypatch, tmp_path, capsys):
    _gpus(monkeypatch, 0)
    main = getattr(_entry(name), COMMANDS[name].split(":")[1])
    assert main(_argv(name, tmp_path, device)) == 1
    err = capsys.readouterr().err
    assert f"{name}: error: --device {device}: CUDA is not available on this machine (use cpu or auto)" in err
    assert not (tmp_path / "demo").exists()  # the demo stops before doing anything


def test_predict_refuses_cuda_n_with_the_same_message(monkeypatch):
    """autosr_predict hands --device to pick_device, which is the shared parser."""
    from autosr.errors import AutoSRError
    from autosr.inference.predictor import pick_device
    _gpus(monkeypatch, 0)
    with pytest.raises(AutoSRError, match=r"^--device cuda:7: CUDA is not available on this machine"):
        pick_device("cuda:7")
    _gpus(monkeypatch, 2)
    with pytest.raises(AutoSRError, match=r"^--device cuda:7: this machine has CUDA devices cuda:0 … cuda:1;"):
        pick_device("cuda:7")


@pytest.mark.parametrize("name", ["autosr_train", "autosr_evaluate", "autosr_benchmark"])
def test_cuda_1_of_two_gpus_is_accepted(name, monkeypatch, tmp_path, capsys):
    """Two GPUs "exist": cuda:1 passes the device check (the command then stops at the missing dataset),
    cuda:2 is refused naming the devices there are."""
    made_current = _gpus(monkeypatch, 2)
    main = getattr(_entry(name), COMMANDS[name].split(":")[1])
    assert main(_argv(name, tmp_path, "cuda:1")) == 1
    err = capsys.readouterr().err
    assert "--device" not in err and "not found" in err, err
    if name == "autosr_train":  # training made cuda:1 its device before looking for the dataset
        import torch
        assert made_current == [torch.device("cuda", 1)]
    assert main(_argv(name, tmp_path, "cuda:2")) == 1
    assert "--device cuda:2: this machine has CUDA devices cuda:0 … cuda:1; name one of them" in capsys.readouterr().err


def test_training_device_single_process_and_torchrun(monkeypatch):
    """Without torchrun cuda:N is the device (and the current GPU); under torchrun each process takes
    cuda:LOCAL_RANK and a cuda:N that would put them all on one GPU is refused."""
    import torch
    from autosr.errors import AutoSRError
    from autosr.training import distributed as D
    made_current = _gpus(monkeypatch, 2)
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert D.setup("cuda:1")[1] == torch.device("cuda", 1) and made_current == [torch.device("cuda", 1)]
    assert D.setup("cuda")[1] == torch.device("cuda", 0) and D.setup("cpu")[1] == torch.device("cpu")
    for k, v in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(AutoSRError, match=r"--device cuda:1: torchrun starts 2 processes on this machine .*"
                                          r"CUDA_VISIBLE_DEVICES"):
        D.setup("cuda:1")
    assert D.pick_device("cuda", 1) == torch.device("cuda", 1)
    with pytest.raises(AutoSRError, match=r"cuda:2 \(LOCAL_RANK\) but this machine has 2"):
        D.pick_device("cuda", 2)
