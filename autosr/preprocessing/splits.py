"""``splits_final.json``: five seeded cross-validation folds over the training cases.

Created once and never silently changed: an existing file (the planner's or the user's own) is
kept and only checked — it must be a list of ``{"train": [...], "val": [...]}`` objects naming
existing cases. Fewer than five cases still give five folds (each fold validates on one case, in
turn, and trains on the others); a single case trains and validates on itself, with a warning.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from autosr.dataset import write_json_atomic
from autosr.errors import DatasetError

logger = logging.getLogger(__name__)
SPLITS_FILE = "splits_final.json"
NUM_FOLDS = 5
SEED = 12345


def make_splits(cases: Sequence[str], num_folds: int = NUM_FOLDS, seed: int = SEED) -> List[Dict[str, List[str]]]:
    """Seeded k-fold split of ``cases`` (see the module docstring for small datasets)."""
    cases = sorted(cases)
    if not cases:
        raise DatasetError("cannot split an empty list of cases")
    if len(cases) == 1:
        logger.warning("only one training case (%s): every fold trains and validates on it; validation scores "
                       "will be optimistic", cases[0])
        return [{"train": list(cases), "val": list(cases)} for _ in range(num_folds)]
    order = [cases[i] for i in np.random.default_rng(seed).permutation(len(cases))]
    if len(cases) < num_folds:
        vals = [[order[k % len(order)]] for k in range(num_folds)]
    else:
        vals = [sorted(order[k::num_folds]) for k in range(num_folds)]
    return [{"train": sorted(set(cases) - set(v)), "val": sorted(v)} for v in vals]


def check_splits(splits: object, cases: Sequence[str], path: Path) -> List[Dict[str, List[str]]]:
    """Validate a splits file's content against the existing ``cases``."""
    if not isinstance(splits, list) or not splits or not all(
            isinstance(s, dict) and isinstance(s.get("train"), list) and isinstance(s.get("val"), list) for s in splits):
        raise DatasetError(f"{path}: must be a list of {{\"train\": [...], \"val\": [...]}} objects; fix it or "
                           f"delete it to have a new one created")
    known = set(cases)
    for k, s in enumerate(splits):
        missing = sorted((set(s["train"]) | set(s["val"])) - known)
        if missing:
            raise DatasetError(f"{path}: fold {k} names case(s) {', '.join(missing[:5])} that are not in the "
                               f"dataset; fix the file or delete it to have a new one created")
        if not s["train"]:
            raise DatasetError(f"{path}: fold {k} has no training case")
    unused = sorted(known - {c for s in splits for c in s["train"] + s["val"]})
    if unused:
        logger.warning("%s: case(s) %s are in no fold (the file is kept as is; delete it to re-split)",
                       path, ", ".join(unused[:5]))
    return splits


def ensure_splits(folder: Path, cases: Sequence[str], seed: int = SEED) -> List[Dict[str, List[str]]]:
    """Return the splits in ``folder``, creating ``splits_final.json`` if it does not exist."""
    path = Path(folder) / SPLITS_FILE
    if path.is_file():
        try:
            splits = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc}); fix it or delete it") from None
        return check_splits(splits, cases, path)
    splits = make_splits(cases, seed=seed)
    write_json_atomic(splits, path)
    logger.info("Wrote %s (%d folds, seed %d)", path, len(splits), seed)
    return splits
