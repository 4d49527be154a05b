"""Inference tests share two CPUs with other jobs: one torch thread avoids spin-wait contention."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _restore_logging():
    """The commands attach a handler to the stream pytest captured for *this* test; drop it afterwards."""
    import logging
    root = logging.getLogger()
    handlers, configured = list(root.handlers), getattr(root, "_autosr_configured", False)
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root._autosr_configured = configured  # type: ignore[attr-defined]
