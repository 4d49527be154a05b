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
