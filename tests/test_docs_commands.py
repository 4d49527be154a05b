"""Every command line in README.md and documentation/ names a real command and real options.

Command lines are the lines of fenced code blocks that start with an ``autosr_*`` console
script (after an optional ``$``), plus ``torchrun … -m autosr…`` lines. Each option token
(``-x`` / ``--xyz``) must appear in that command's ``--help`` output, so the docs cannot
drift from the code.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> Dict[str, str]:
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    block = text[text.index("COMMANDS = {"): text.index("}", text.index("COMMANDS = {"))]
    return dict(re.findall(r'"(autosr_\w+)":\s*"([\w.:]+)"', block))


COMMANDS = _commands()


def _doc_command_lines() -> List[Tuple[str, int, str]]:
    files = [ROOT / "README.md"] + sorted((ROOT / "documentation").glob("*.md"))
    found = []
    for f in files:
        in_code = False
        pending = ""
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip().startswith("```"):
                in_code = not in_code
                continue
            if not in_code:
                continue
            line = pending + line.strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            line = re.sub(r"^\$\s*", "", line)
            line = line.split(" #", 1)[0].strip()
            if re.match(r"^(\w+=\S+\s+)*(torchrun|python3? -m torch\.distributed\.run)\b", line):
                m = re.search(r"-m (autosr\.commands\.\w+) ?(.*)$", line)
                if m:  # torchrun … -m autosr.commands.train ARGS  →  autosr_train ARGS
                    cmd = next(c for c, entry in COMMANDS.items() if entry == f"{m.group(1)}:main")
                    line = f"{cmd} {m.group(2)}"
            line = re.sub(r"^(\w+=\S+\s+)+", "", line)  # leading VAR=value assignments
            if re.match(r"^autosr_\w+", line):
                found.append((f.relative_to(ROOT).as_posix(), n, line))
    return found


DOC_LINES = _doc_command_lines()


@contextlib.contextmanager
def _quiet():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out


_help_cache: Dict[str, str] = {}


def _help(cmd: str) -> str:
    if cmd not in _help_cache:
        module, func = COMMANDS[cmd].split(":")
        main = getattr(importlib.import_module(module), func)
        with _quiet() as out:
            with pytest.raises(SystemExit) as exc:
                main(["--help"])
        assert exc.value.code == 0, f"{cmd} --help exited with {exc.value.code}"
        _help_cache[cmd] = out.getvalue()
    return _help_cache[cmd]


def test_docs_hold_command_lines():
    assert len(DOC_LINES) >= 5, "README.md and documentation/ should show real command lines"


@pytest.mark.parametrize("where,line_no,line", DOC_LINES, ids=[f"{w}:{n}" for w, n, _ in DOC_LINES])
def test_doc_command_line_is_valid(where, line_no, line):
    tokens = shlex.split(line.split("|")[0].split("&&")[0].split(";")[0])
    cmd = tokens[0]
    assert cmd in COMMANDS, f"{where}:{line_no}: {cmd} is not a console script in setup.py"
    text = _help(cmd)
    for tok in tokens[1:]:
        if re.match(r"^--?[A-Za-z]", tok):
            opt = tok.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), \
                f"{where}:{line_no}: option {opt} is not in `{cmd} --help`"
