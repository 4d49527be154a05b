"""Do no harm: prediction measures the input's noise and the output's data consistency, warns, records both."""
from __future__ import annotations

import json
import logging
from fractions import Fraction

import numpy as np
import pytest
import torch

from autosr.commands.predict import main
from autosr.degradation import synthesize
from autosr.degradation.acquisition import NAMED
from autosr.imageio import Geometry, write_image
from autosr.inference.trust import MAX_CONSISTENCY_ERROR, TrustCheck, checked_families
from autosr.plans import Configuration, DegradationPlan
from tests.inference.helpers import make_model_folder
from tests.synthetic import phantom


def _scan(path, noise_sd: float = 0.0, seed: int = 0):
    vol = phantom((4, 64, 64), seed=seed).astype(np.float32)
    if noise_sd:
        vol = np.abs(vol + np.random.default_rng(seed).normal(0, noise_sd * vol.max(), vol.shape)).astype(np.float32)
    write_image(vol, Geometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel())), path)


def test_sidecar_records_the_checks_and_a_noisy_scan_is_warned_about(autosr_folders, tmp_path, caplog):
    make_model_folder(autosr_folders["results"])
    scans = tmp_path / "in"
    scans.mkdir()
    _scan(scans / "clean_0000.nii.gz")
    _scan(scans / "noisy_0000.nii.gz", noise_sd=0.2)
    with caplog.at_level(logging.WARNING):
        assert main(["-i", str(scans), "-o", str(tmp_path / "out"), "-s", "2", "-d", "1", "-f", "0", "-npp", "0"]) == 0
    clean = json.loads((tmp_path / "out" / "clean.autosr.json").read_text(encoding="utf-8"))["checks"]
    noisy = json.loads((tmp_path / "out" / "noisy.autosr.json").read_text(encoding="utf-8"))["checks"]
    assert noisy["input_snr"] < clean["input_snr"] and noisy["input_snr"] < 10
    assert clean["warnings"] == [] or all("SNR" not in w for w in clean["warnings"])
    assert any("estimated SNR" in w for w in noisy["warnings"])
    said = [r.getMessage() for r in caplog.records if "noisy" in r.getMessage()]
    assert any(f"estimated SNR {noisy['input_snr']:.1f}" in m and "do-no-harm" in m for m in said), said
    c = clean["consistency"]
    assert c["best"] in c["errors"] and c["error"] == min(c["errors"].values()) and c["threshold"] == MAX_CONSISTENCY_ERROR


def test_consistency_is_small_for_the_truth_and_warned_for_an_output_that_invents_structure(caplog):
    vol = phantom((4, 96, 96), seed=2).astype(np.float32)
    hr = torch.from_numpy((vol - vol.min()) / (vol.max() - vol.min()))[:, None]
    conf = Configuration("c", "d", None, None, DegradationPlan(families=(
        {"name": "kspace", "weight": 1}, {"name": "gaussian_psf", "weight": 1})), {}, {}, None)
    assert [n for n, _ in checked_families(conf)] == ["kspace", "paper", "antialiased"]
    lr = synthesize(hr, 2, NAMED["kspace"]).numpy()
    good = TrustCheck(conf, Fraction(2), "good", len(lr))
    good.add(0, lr, hr.numpy())
    assert good.finish()["consistency"]["best"] == "kspace" and not good.warnings
    invented = hr.numpy() + 0.3 * np.sign(np.sin(np.arange(96) * 1.7))[None, None, None, :].astype(np.float32)
    bad = TrustCheck(conf, Fraction(2), "bad", len(lr))
    with caplog.at_level(logging.WARNING):
        bad.add(0, lr, invented)
        result = bad.finish()
    assert result["consistency"]["error"] > MAX_CONSISTENCY_ERROR and result["warnings"]
    assert any("bad: the output acquired again differs from the input by" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("families, noise, lo", [((), {"model": "none"}, 20.0),
                                                 (({"name": "area", "weight": 1},),
                                                  {"model": "rician", "snr": (15.0, 150.0), "probability": 0.3}, 15.0)])
def test_the_trusted_snr_follows_the_training_noise(families, noise, lo):
    conf = Configuration("c", "d", None, None, DegradationPlan(families=families, noise=noise), {}, {}, None)
    assert TrustCheck(conf, Fraction(2), "x", 4).trained_snr() == lo
