"""Tables and files of an evaluation: per-slice rows → per-case means → summary (mean ± std).

``metrics_per_slice.csv`` has one row per (case, slice, channel, scale, method);
``metrics_per_case.csv`` averages each case's slices; ``summary.json`` holds mean ± std over
slices (the unit of the papers' tables) per scale and method, and the mean over scales.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from autosr.dataset import write_json_atomic

METRICS = ("psnr", "ssim", "nrmse")
KEYS = ("case", "scale", "method")
#: Key used in summary.json for rows without a scale (``-ref/-pred`` comparisons).
NO_SCALE = "n/a"


def per_slice_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows ``{case, slice, channel, scale, method, psnr, ssim, nrmse}`` as a DataFrame (fixed column order)."""
    df = pd.DataFrame(list(rows), columns=["case", "slice", "channel", "scale", "method", *METRICS])
    return df


def per_case_frame(per_slice: pd.DataFrame) -> pd.DataFrame:
    """Mean of each metric over a case's slices and channels, per scale and method (``n_slices`` counted)."""
    df = per_slice.copy()
    df["scale"] = df["scale"].fillna(NO_SCALE)
    g = df.groupby(list(KEYS), sort=True)
    out = g[list(METRICS)].mean()
    out["n_slices"] = g["slice"].count()
    return out.reset_index()


def _scale_key(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_SCALE
    return f"{float(value):g}"


def _stats(values: pd.Series) -> Dict[str, Optional[float]]:
    v = values.replace([np.inf, -np.inf], np.nan).dropna().to_numpy(dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=0)), "n": int(v.size)}


def summarize(per_slice: pd.DataFrame) -> Dict[str, Any]:
    """``{"per_scale": {scale: {method: {metric: {mean, std, n}}}}, "mean_over_scales": {method: {metric: mean}}}``.

    Statistics are over slices (infinite PSNR of identical slices is left out and counted in ``n``
    only when finite). The mean over scales averages the per-scale means, as the papers' tables.
    """
    per_scale: Dict[str, Dict[str, Dict[str, Any]]] = {}
    df = per_slice.copy()
    df["scale_key"] = [_scale_key(s) for s in df["scale"]]
    order = sorted(df["scale_key"].unique(), key=lambda k: (k == NO_SCALE, float(k) if k != NO_SCALE else 0.0))
    methods = list(dict.fromkeys(df["method"]))
    for key in order:
        sub = df[df["scale_key"] == key]
        per_scale[key] = {m: {metric: _stats(sub[sub["method"] == m][metric]) for metric in METRICS}
                          for m in methods if (sub["method"] == m).any()}
    over: Dict[str, Dict[str, Optional[float]]] = {}
    for m in methods:
        over[m] = {}
        for metric in METRICS:
            means = [per_scale[k][m][metric]["mean"] for k in order if m in per_scale[k]]
            means = [x for x in means if x is not None]
            over[m][metric] = float(np.mean(means)) if means else None
    return {"per_scale": per_scale, "mean_over_scales": over, "methods": methods, "scales": order}


def acquisition_label(method: str) -> Tuple[str, str]:
    """``"model [kspace]"`` → ``("model", "kspace")``; a method without a label → ``(method, "")``."""
    if method.endswith("]") and " [" in method:
        base, label = method[:-1].rsplit(" [", 1)
        return base, label
    return method, ""


def format_table(summary: Mapping[str, Any]) -> str:
    """Plain-text tables, one per acquisition (``[label]`` of the methods): a row per scale (and the
    mean), PSNR / SSIM / NRMSE per method; then, with several acquisitions, the model's PSNR gain."""
    groups: Dict[str, List[str]] = {}
    for m in summary["methods"]:
        groups.setdefault(acquisition_label(m)[1], []).append(m)
    if len(groups) == 1:
        return _method_table(summary, summary["methods"])
    blocks = [f"LR made by: {label or 'the real low-resolution scans (paired)'}\n{_method_table(summary, methods)}"
              for label, methods in groups.items()]
    return "\n\n".join(blocks + [format_gains(summary)])


def format_gains(summary: Mapping[str, Any], baseline: str = "bicubic") -> str:
    """One row per acquisition: the model's PSNR minus ``baseline``'s at each scale and on average (dB)."""
    rows, scales = [], [k for k in summary["scales"] if k != NO_SCALE]
    for m in summary["methods"]:
        base, label = acquisition_label(m)
        ref = f"{baseline} [{label}]" if label else baseline
        if base != "model" or ref not in summary["methods"]:
            continue
        gains = []
        for k in scales:
            a, b = (summary["per_scale"][k].get(x, {}).get("psnr", {}).get("mean") for x in (m, ref))
            gains.append(None if a is None or b is None else a - b)
        known = [g for g in gains if g is not None]
        rows.append([label or "planned"] + [f"{g:+.2f}" if g is not None else "-" for g in gains]
                    + [f"{np.mean(known):+.2f}" if known else "-"])
    head = [f"model - {baseline} PSNR (dB)"] + [f"x{k}" for k in scales] + ["mean"]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head)] + [fmt.format(*r) for r in rows])


def _method_table(summary: Mapping[str, Any], methods: Sequence[str]) -> str:
    head = ["scale"] + [f"{m} {metric.upper()}" for m in methods for metric in METRICS]
    lines: List[List[str]] = []
    for key in summary["scales"]:
        row = [key]
        for m in methods:
            for metric in METRICS:
                st = summary["per_scale"][key].get(m, {}).get(metric, {})
                row.append("-" if not st or st["mean"] is None else _fmt(metric, st["mean"], st["std"]))
        lines.append(row)
    if len(summary["scales"]) > 1:
        row = ["mean"]
        for m in methods:
            for metric in METRICS:
                v = summary["mean_over_scales"][m][metric]
                row.append("-" if v is None else _fmt(metric, v, None))
        lines.append(row)
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head)] + [fmt.format(*r) for r in lines])


def _fmt(metric: str, mean: float, std: Optional[float]) -> str:
    digits = 2 if metric == "psnr" else 4
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def write_reports(folder: Path, per_slice: pd.DataFrame, extra: Mapping[str, Any]) -> Dict[str, Any]:
    """Write ``metrics_per_slice.csv``, ``metrics_per_case.csv`` and ``summary.json``; return the summary."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(per_slice, folder / "metrics_per_slice.csv")
    _write_csv(per_case_frame(per_slice), folder / "metrics_per_case.csv")
    summary = dict(extra)
    summary.update(summarize(per_slice))
    write_json_atomic(_jsonable(summary), folder / "summary.json")
    return summary


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name("." + path.name + ".partial")
    df.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def load_summary(folder: Path) -> Dict[str, Any]:
    return json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))


__all__ = ["per_slice_frame", "per_case_frame", "summarize", "format_table", "format_gains", "acquisition_label", "write_reports", "load_summary",
           "METRICS", "NO_SCALE"]
