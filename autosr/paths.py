"""Where data lives: the raw, preprocessed and results folders, and dataset references.

``AUTOSR_RAW``, ``AUTOSR_PREPROCESSED`` and ``AUTOSR_RESULTS`` name the three folders. When a
variable is unset, the folder defaults to ``./autosr_data/{raw,preprocessed,results}`` and one
notice line says so. Every function also takes the folder as an argument, so the variables are
only defaults.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import List, Optional

from autosr.errors import DatasetError

logger = logging.getLogger(__name__)

_ENV = {"raw": "AUTOSR_RAW", "preprocessed": "AUTOSR_PREPROCESSED", "results": "AUTOSR_RESULTS"}
_noticed: set = set()
DATASET_RE = re.compile(r"^Dataset(\d{3})_([A-Za-z0-9][A-Za-z0-9_.-]*)$")


def _folder(kind: str, override: Optional[os.PathLike] = None) -> Path:
    if override is not None:
        return Path(override)
    var = _ENV[kind]
    value = os.environ.get(var)
    if value:
        return Path(value)
    default = Path.cwd() / "autosr_data" / kind
    if var not in _noticed:
        _noticed.add(var)
        logger.info("%s is not set; using %s", var, default)
    return default


def raw_dir(override: Optional[os.PathLike] = None) -> Path:
    """The raw-datasets folder (``$AUTOSR_RAW``, default ``./autosr_data/raw``)."""
    return _folder("raw", override)


def preprocessed_dir(override: Optional[os.PathLike] = None) -> Path:
    """The preprocessed folder (``$AUTOSR_PREPROCESSED``, default ``./autosr_data/preprocessed``)."""
    return _folder("preprocessed", override)


def results_dir(override: Optional[os.PathLike] = None) -> Path:
    """The results folder (``$AUTOSR_RESULTS``, default ``./autosr_data/results``)."""
    return _folder("results", override)


def dataset_name(dataset_id: int, short_name: str) -> str:
    """``dataset_name(1, "BrainMR")`` → ``"Dataset001_BrainMR"``."""
    if not 0 <= int(dataset_id) <= 999:
        raise DatasetError(f"dataset id {dataset_id} is out of range: use a number from 0 to 999")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", short_name):
        raise DatasetError(f"dataset name {short_name!r} may only hold letters, digits, '_', '.' and '-'")
    return f"Dataset{int(dataset_id):03d}_{short_name}"


def list_datasets(*roots: Path) -> List[str]:
    """Names of the ``DatasetXXX_Name`` folders found in the given roots (sorted, unique)."""
    names = set()
    for root in roots:
        if root is not None and Path(root).is_dir():
            names.update(p.name for p in Path(root).iterdir() if p.is_dir() and DATASET_RE.match(p.name))
    return sorted(names)


def resolve_dataset(ref: str | int, *roots: Path) -> str:
    """Turn ``1``, ``"001"`` or ``"Dataset001_BrainMR"`` into the dataset's full name.

    Looks in ``roots`` (default: raw, preprocessed and results folders). An unknown or
    ambiguous reference raises :class:`DatasetError` listing the datasets that exist.
    """
    roots = roots or (raw_dir(), preprocessed_dir(), results_dir())
    existing = list_datasets(*roots)
    where = ", ".join(str(r) for r in roots)
    ref_s = str(ref).strip()
    if DATASET_RE.match(ref_s):
        if ref_s in existing:
            return ref_s
        matches: List[str] = []
    elif ref_s.isdigit():
        matches = [n for n in existing if int(DATASET_RE.match(n).group(1)) == int(ref_s)]
    else:
        matches = [n for n in existing if DATASET_RE.match(n).group(2) == ref_s]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(existing) if existing else "none"
    if not matches:
        raise DatasetError(f"dataset {ref_s!r} not found in {where}. Datasets that exist: {listing}")
    raise DatasetError(f"dataset reference {ref_s!r} is ambiguous: it matches {', '.join(matches)}; "
                       f"give the full name")
