"""Shared fixtures of the network tests."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run on one thread: these tests are many tiny ops, where OpenMP hand-offs dominate (and
    stall badly on a busy machine). The previous setting is restored afterwards."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
