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
