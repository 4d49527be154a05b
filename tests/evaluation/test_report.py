"""Metrics definitions, the summary/table/CSV files and the figures (no model needed)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from autosr.evaluation import metrics as M
from autosr.evaluation import perceptual
from autosr.evaluation.plots import Example, plot_examples, plot_metrics_vs_scale
from autosr.evaluation.report import format_table, per_case_frame, per_slice_frame, summarize, write_reports


def test_nrmse_is_mesr_eq14():
    rng = np.random.default_rng(0)
    hr = rng.random((16, 16))
    sr = hr + 0.05 * rng.standard_normal((16, 16))
    rmse = math.sqrt(np.mean((hr - sr) ** 2))
    assert M.nrmse(sr, hr) == pytest.approx(rmse / (sr.max() - sr.min()))
    assert math.isnan(M.nrmse(np.zeros((4, 4)), hr[:4, :4]))


def test_psnr_and_ssim():
    hr = np.linspace(0, 1, 64).reshape(8, 8)
    assert M.psnr(hr, hr) == math.inf
    assert M.psnr(hr + 0.1, hr) == pytest.approx(20.0, abs=1e-6)  # MSE 0.01, L = 1
    assert M.ssim(hr, hr) == pytest.approx(1.0)


def _rows():
    rows = []
    for case in ("a", "b"):
        for sl in range(3):
            for scale, base in ((2.0, 30.0), (4.0, 25.0)):
                for method, bonus in (("model", 2.0), ("bicubic", 0.0)):
                    rows.append({"case": case, "slice": sl, "channel": 0, "scale": scale, "method": method,
                                 "psnr": base + bonus + sl, "ssim": 0.8 + bonus / 100, "nrmse": 0.05 - bonus / 100})
    return per_slice_frame(rows)


def test_summary_and_table(tmp_path):
    df = _rows()
    s = summarize(df)
    assert s["scales"] == ["2", "4"] and s["methods"] == ["model", "bicubic"]
    st = s["per_scale"]["2"]["model"]["psnr"]
    assert st["mean"] == pytest.approx(33.0) and st["n"] == 6 and st["std"] == pytest.approx(np.std([32, 33, 34]))
    assert s["mean_over_scales"]["model"]["psnr"] == pytest.approx((33.0 + 28.0) / 2)
    table = format_table(s)
    assert "mean" in table and "model PSNR" in table and "33.00 ± 0.82" in table
    per_case = per_case_frame(df)
    assert len(per_case) == 2 * 2 * 2 and set(per_case["n_slices"]) == {3}
    summary = write_reports(tmp_path, df, {"perceptual": {"status": perceptual.status()}})
    for name in ("metrics_per_slice.csv", "metrics_per_case.csv", "summary.json"):
        assert (tmp_path / name).is_file()
    assert len(pd.read_csv(tmp_path / "metrics_per_slice.csv")) == len(df)
    on_disk = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["per_scale"]["4"]["bicubic"]["ssim"]["mean"] == pytest.approx(0.8)
    assert summary["mean_over_scales"] == on_disk["mean_over_scales"]


def test_perceptual_metrics_reported_unavailable_not_faked():
    st = perceptual.status()
    assert set(st) == {"fid", "lpips"}
    for value in st.values():
        assert value == "available" or value.startswith("unavailable (")


def test_figures(tmp_path):
    s = summarize(_rows())
    plot_metrics_vs_scale(s, tmp_path / "metrics_vs_scale.png")
    hr = np.random.default_rng(0).random((20, 20))
    ex = [Example("a", 1, 2.0, hr, {"model": hr * 0.9, "bicubic": hr * 0.8}, hr[::2, ::2]),
          Example("b", 2, 4.0, hr, {"model": hr, "bicubic": hr * 0.7}, hr[::4, ::4])]
    plot_examples(ex, tmp_path / "examples.png")
    for name in ("metrics_vs_scale.png", "examples.png"):
        assert (tmp_path / name).stat().st_size > 1000
