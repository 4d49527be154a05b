"""Fixtures shared by the bad-input tests: a tiny model folder and two small scans to predict."""
from __future__ import annotations

import pytest

from tests.inference.helpers import make_model_folder
from tests.synthetic import make_raw_dataset


@pytest.fixture
def model(autosr_folders):
    """A tiny, untrained model folder under this test's results folder."""
    return make_model_folder(autosr_folders["results"])


@pytest.fixture
def scans(tmp_path):
    """A folder of two 3×20×24 phantom scans named like a raw dataset's imagesTr."""
    return make_raw_dataset(tmp_path / "raw", n_cases=2, shape=(3, 20, 24)) / "imagesTr"
