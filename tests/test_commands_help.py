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
