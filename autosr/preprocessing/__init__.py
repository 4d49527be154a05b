"""AutoSR preprocessing: fingerprint → plans → cropped, normalised slice stacks (see documentation/plans.md).

The public API lives in :mod:`autosr.preprocessing.api` (imported lazily so that importing this
package stays cheap for worker processes).
"""
from __future__ import annotations

from typing import Any

_API = ("extract_fingerprint", "extract_fingerprints", "plan_experiment", "preprocess", "preprocess_datasets",
        "plan_and_preprocess", "plan_and_preprocess_many", "load_case", "load_lowres")


def __getattr__(name: str) -> Any:
    if name in _API:
        from autosr.preprocessing import api
        return getattr(api, name)
    raise AttributeError(f"module 'autosr.preprocessing' has no attribute {name!r}")


__all__ = list(_API)
