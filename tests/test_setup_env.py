"""The README's commands on a fresh machine: scripts/setup_env.sh never installs into a system Python.

The full path (create ./.venv, install torch and AutoSR, run the suite) is what CI runs on a fresh clone;
these tests check the choice of environment fast, with a stand-in system Python that refuses
`pip install` the way Debian's and Ubuntu's do (PEP 668).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _base_python() -> str:
    """A real interpreter that can create virtual environments (the one this venv was made from)."""
    return getattr(sys, "_base_executable", None) or sys.executable


@pytest.fixture
def fake_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup_env.sh", repo / "scripts" / "setup_env.sh")
    return repo


@pytest.fixture
def managed_python(tmp_path):
    """A `python3` on PATH that behaves like an externally managed system Python and logs its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    (bin_dir / "python3").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'case "$*" in *"-m pip"*) echo "error: externally-managed-environment" >&2; exit 1;; esac\n'
        f'exec "{_base_python()}" "$@"\n', encoding="utf-8")
    (bin_dir / "python3").chmod(0o755)
    return bin_dir, log


def _run(repo: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("bash") or "/bin/bash", str(repo / "scripts" / "setup_env.sh"), "--env-only"], cwd=repo, env=env,
                          capture_output=True, encoding="utf-8", timeout=300)


def _clean_env(path: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHON")}
    env["PATH"] = path
    return env


def test_no_virtual_environment_creates_one_inside_the_repository(fake_repo, managed_python):
    bin_dir, log = managed_python
    proc = _run(fake_repo, _clean_env(f"{bin_dir}:/usr/bin:/bin"))
    assert proc.returncode == 0, proc.stderr
    venv_python = fake_repo / ".venv" / "bin" / "python"
    assert proc.stdout.strip().splitlines()[-1] == str(venv_python)
    assert venv_python.exists()
    assert "-m pip" not in log.read_text(encoding="utf-8")  # the system Python was never asked to install
    assert str(fake_repo / ".venv") in proc.stderr  # says where
    # a second run reuses it, and a broken one is rebuilt
    assert _run(fake_repo, _clean_env(f"{bin_dir}:/usr/bin:/bin")).stdout.strip() == str(venv_python)
    shutil.rmtree(fake_repo / ".venv" / "bin")
    (fake_repo / ".venv" / "bin").mkdir()
    proc = _run(fake_repo, _clean_env(f"{bin_dir}:/usr/bin:/bin"))
    assert proc.returncode == 0 and "recreating" in proc.stderr, proc.stderr
    assert venv_python.exists()


def test_an_active_virtual_environment_is_used(fake_repo, managed_python, tmp_path):
    bin_dir, log = managed_python
    env = _clean_env(f"{bin_dir}:/usr/bin:/bin")
    env["VIRTUAL_ENV"] = str(Path(sys.prefix))
    proc = _run(fake_repo, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(Path(sys.prefix) / "bin" / "python")
    assert not (fake_repo / ".venv").exists()
    env["VIRTUAL_ENV"] = str(tmp_path / "gone")
    proc = _run(fake_repo, env)
    assert proc.returncode == 1 and "has no bin/python" in proc.stderr


def test_no_usable_python_is_one_clear_line(fake_repo, tmp_path):
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    for tool in ("dirname", "rm"):  # what the script needs besides python
        (empty / tool).symlink_to(shutil.which(tool))
    proc = _run(fake_repo, _clean_env(str(empty)))
    assert proc.returncode == 1
    assert "no Python >= 3.10 on PATH" in proc.stderr and "apt install python3 python3-venv" in proc.stderr
