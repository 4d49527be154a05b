"""Find a trained model: ``-d/-tr/-p/-c`` → ``$AUTOSR_RESULTS/DatasetXXX/{Trainer}__{plans}__{config}/``.

A model folder is self-contained (documentation/internals.md): ``plans.json``, ``dataset.json``
and ``fold_N/{checkpoint}.pth``. Every lookup that fails says what *does* exist.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from autosr.errors import AutoSRError, DatasetError
from autosr.paths import resolve_dataset, results_dir

logger = logging.getLogger(__name__)

DEFAULT_TRAINER = "MetaSRTrainer"
DEFAULT_PLANS = "autosrPlans"
#: Configurations tried, in order, when none is named.
PREFERRED_CONFIGURATIONS = ("2d", "2d_cpu")
DEFAULT_CHECKPOINT = "checkpoint_final.pth"

FoldLike = Union[int, str]


class ModelNotFoundError(AutoSRError):
    """The model folder, a fold or a checkpoint does not exist."""


@dataclass(frozen=True)
class ModelFolder:
    """A resolved model folder and the fold checkpoints chosen from it."""

    path: Path
    checkpoints: Dict[str, Path]  # fold name ("0", "all") → checkpoint file

    @property
    def plans_file(self) -> Path:
        return self.path / "plans.json"

    @property
    def dataset_json(self) -> Path:
        return self.path / "dataset.json"

    @property
    def fingerprint_file(self) -> Path:
        return self.path / "dataset_fingerprint.json"

    def training_intensities(self, num_channels: int) -> Optional[List[Dict[str, float]]]:
        """Per channel foreground intensity statistics of the training data (``percentile_00_5``,
        ``percentile_99_5``, ``min``, ``max``), or ``None`` when the folder has no usable fingerprint."""
        try:
            channels = json.loads(self.fingerprint_file.read_text(encoding="utf-8"))["intensity"]
            out = [{k: float(ch[k]) for k in ("percentile_00_5", "percentile_99_5", "min", "max")} for ch in channels]
        except (OSError, ValueError, KeyError, TypeError):
            logger.debug("%s: no usable intensity statistics; input intensities are not compared",
                         self.fingerprint_file)
            return None
        return out if len(out) == num_channels else None


def _split_name(name: str) -> Optional[List[str]]:
    """``Trainer__plans__configuration`` or ``…__SYSTEM`` (a system of :mod:`autosr.systems`) → its parts."""
    parts = name.split("__")
    return parts if len(parts) in (3, 4) and all(parts) else None


def model_folder_name(trainer: str, plans: str, configuration: str, system: Optional[str] = None) -> str:
    """``{Trainer}__{plans}__{configuration}`` and ``__{system}`` for a paper's system (``autosr_train --system``)."""
    return f"{trainer}__{plans}__{configuration}" + (f"__{system}" if system else "")


def list_model_folders(dataset_folder: Path) -> List[str]:
    """Names of ``{Trainer}__{plans}__{config}[__{system}]`` folders in a results dataset folder."""
    if not dataset_folder.is_dir():
        return []
    return sorted(p.name for p in dataset_folder.iterdir() if p.is_dir() and _split_name(p.name))


def resolve_model_folder(dataset: Union[str, int], trainer: str = DEFAULT_TRAINER, plans: str = DEFAULT_PLANS,
                         configuration: Optional[str] = None, results: Optional[os.PathLike] = None,
                         system: Optional[str] = None) -> Path:
    """The model folder of ``dataset`` for the given trainer/plans/configuration (and ``system``: ``…__SYSTEM``).

    ``configuration=None`` picks the one that exists, preferring ``2d`` then ``2d_cpu`` (then
    the only one). Raises :class:`ModelNotFoundError` listing the model folders that exist.
    """
    root = results_dir(results)
    try:
        name = resolve_dataset(dataset, root)
    except DatasetError as exc:
        raise ModelNotFoundError(f"no trained model for dataset {dataset!r} in {root}: {exc}") from None
    folder = root / name
    existing = list_model_folders(folder)
    listing = ", ".join(existing) if existing else "none (train one with autosr_train)"
    tail = f"__{system}" if system else ""
    if configuration is None:
        candidates = [c for c in PREFERRED_CONFIGURATIONS if f"{trainer}__{plans}__{c}{tail}" in existing]
        others = [n.split("__")[2] for n in existing
                  if n.startswith(f"{trainer}__{plans}__") and (n.split("__")[3:] == ([system] if system else []))]
        if candidates:
            configuration = candidates[0]
        elif len(others) == 1:
            configuration = others[0]
        else:
            raise ModelNotFoundError(f"{folder}: no model folder {trainer}__{plans}__<configuration> "
                                     f"{'(several: name one with -c)' if others else ''}; model folders: {listing}")
    path = folder / model_folder_name(trainer, plans, configuration, system)
    if not path.is_dir():
        raise ModelNotFoundError(f"{path}: model folder not found; model folders of {name}: {listing}")
    return path


def _fold_dirs(path: Path) -> Dict[str, Path]:
    out = {}
    for d in sorted(path.iterdir()) if path.is_dir() else ():
        m = re.fullmatch(r"fold_(\d+|all)", d.name)
        if d.is_dir() and m:
            out[m.group(1)] = d
    return out


def open_model_folder(path: os.PathLike | str, folds: Optional[Sequence[FoldLike]] = None,
                      checkpoint: str = DEFAULT_CHECKPOINT) -> ModelFolder:
    """Check a model folder and pick fold checkpoints (``folds=None``: every fold that has one)."""
    path = Path(path)
    if not path.is_dir():
        raise ModelNotFoundError(f"{path}: model folder does not exist" if not path.exists() else
                                 f"{path}: is a file, not a model folder (Trainer__plans__configuration/)")
    if not (path / "plans.json").is_file():
        raise ModelNotFoundError(f"{path}: not a model folder (no plans.json); expected "
                                 f"$AUTOSR_RESULTS/DatasetXXX_Name/Trainer__plans__configuration/")
    fold_dirs = _fold_dirs(path)
    have = {k: d / checkpoint for k, d in fold_dirs.items() if (d / checkpoint).is_file()}
    if folds is None:
        if not have:
            found = {k: sorted(p.name for p in d.glob("*.pth")) for k, d in fold_dirs.items()}
            raise ModelNotFoundError(f"{path}: no fold holds {checkpoint}; found: "
                                     f"{found or 'no fold_N folders'} (choose another with -chk)")
        chosen = {k: have[k] for k in sorted(have, key=lambda k: (k == "all", int(k) if k.isdigit() else 0))}
        logger.info("using fold(s) %s of %s", ", ".join(chosen), path)
        return ModelFolder(path, chosen)
    chosen = {}
    for fold in folds:
        key = str(fold)
        if key not in fold_dirs:
            raise ModelNotFoundError(f"-f {key}: fold_{key} does not exist in {path}; folds: "
                                     f"{', '.join(fold_dirs) or 'none'}")
        ck = fold_dirs[key] / checkpoint
        if not ck.is_file():
            present = sorted(p.name for p in fold_dirs[key].glob("*.pth"))
            raise ModelNotFoundError(f"{ck}: checkpoint not found; fold_{key} holds "
                                     f"{', '.join(present) or 'no checkpoint (training not finished?)'} "
                                     f"(choose one with -chk)")
        chosen[key] = ck
    return ModelFolder(path, chosen)


__all__ = ["ModelFolder", "ModelNotFoundError", "resolve_model_folder", "open_model_folder", "list_model_folders",
           "DEFAULT_TRAINER", "DEFAULT_PLANS", "DEFAULT_CHECKPOINT", "PREFERRED_CONFIGURATIONS"]
