"""DistributedDataParallel on CPU: two gloo processes under torchrun end with identical weights."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training.helpers import TINY

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_cpu_processes_end_with_identical_weights(env, tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    settings = {**TINY, "training.perceptual": "off"}  # no VGG look-up in the subprocesses
    overrides = [a for k, v in settings.items() for a in ("-o", f"{k}={v}".replace(" ", ""))]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "autosr.commands.train", "1", "0", "-c", "2d_cpu", "--device", "cpu", "--steps", "4",
           "--warmup_steps", "2", "-tr", "tests.training.helpers:RankDumpTrainer", *overrides]
    environ = {**os.environ, "AUTOSR_TEST_DUMP": str(dump), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, cwd=REPO, env=environ, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (torch.load(dump / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2 and r0["step"] == r1["step"] == 4
    for part in ("generator", "critic"):
        for k in r0[part]:
            assert torch.equal(r0[part][k], r1[part][k]), f"{part}.{k} differs between ranks"
    log = (env / "Dataset001_One" / "RankDumpTrainer__autosrPlans__2d_cpu" / "fold_0" / "training_log.txt").read_text(encoding="utf-8")
    assert "2 processes" in log and log.count("AutoSR training:") == 1
