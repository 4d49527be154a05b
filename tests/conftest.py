"""Shared fixtures: isolated AutoSR folders per test and the path to ../shared/data when present."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def autosr_folders(tmp_path, monkeypatch):
    """Every test gets its own raw/preprocessed/results folders (never the user's)."""
    folders = {k: tmp_path / "autosr_data" / k for k in ("raw", "preprocessed", "results")}
    for k, v in folders.items():
        v.mkdir(parents=True)
        monkeypatch.setenv(f"AUTOSR_{k.upper()}", str(v))
    return folders


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests are many tiny tensor ops, where OpenMP hand-offs between threads dominate (and
    stall badly when the machine is busy); run them on one thread and restore the setting."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
