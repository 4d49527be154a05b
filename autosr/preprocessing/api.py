"""Python API of the planning stage; the ``autosr_*`` commands are thin wrappers over it.

``dataset`` is an id (``1``), a short name or a full name (``Dataset001_BrainMR``); folders come
from :mod:`autosr.paths` (``raw_folder``/``preprocessed_folder`` override them).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from autosr.dataset import RawDataset, write_json_atomic
from autosr.errors import DatasetError
from autosr.paths import preprocessed_dir, raw_dir, resolve_dataset
from autosr.plans import Plans, PlansError

logger = logging.getLogger(__name__)

PLANS_NAME = "autosrPlans"
PLANNED_SUFFIX = ".planned.json"     # the planner's untouched output, to tell hand edits apart


def dataset_folders(dataset: str | int, raw_folder: Optional[os.PathLike] = None,
                    preprocessed_folder: Optional[os.PathLike] = None) -> Tuple[str, Path, Path]:
    """``(full name, raw dataset folder, preprocessed dataset folder)`` of a dataset reference."""
    raw_root, pre_root = raw_dir(raw_folder), preprocessed_dir(preprocessed_folder)
    name = resolve_dataset(dataset, raw_root, pre_root)
    return name, raw_root / name, pre_root / name


def _raw(raw_path: Path) -> RawDataset:
    if not raw_path.is_dir():
        raise DatasetError(f"{raw_path}: the raw dataset is needed here but does not exist")
    return RawDataset.open(raw_path)


def verify(dataset: str | int, raw_folder: Optional[os.PathLike] = None) -> None:
    """Run the dataset integrity checks (``--verify_dataset_integrity``); raises listing every problem."""
    from autosr.integrity import verify_dataset  # lazy: only needed with the option
    _, raw_path, _ = dataset_folders(dataset, raw_folder)
    verify_dataset(raw_path)
    logger.info("%s: integrity checks passed", raw_path)


def extract_fingerprint(dataset: str | int, num_processes: int = 1, clean: bool = False,
                        raw_folder: Optional[os.PathLike] = None,
                        preprocessed_folder: Optional[os.PathLike] = None) -> Dict[str, Any]:
    """Compute (or reuse unless ``clean``) ``dataset_fingerprint.json``; returns it."""
    return extract_fingerprints([dataset], num_processes, clean, raw_folder, preprocessed_folder)[0]


def extract_fingerprints(datasets: Sequence[str | int], num_processes: int = 1, clean: bool = False,
                         raw_folder: Optional[os.PathLike] = None,
                         preprocessed_folder: Optional[os.PathLike] = None) -> List[Dict[str, Any]]:
    """:func:`extract_fingerprint` of several datasets, their cases sharing one worker pool."""
    from autosr.fingerprint import extract_many
    raws, outs = [], []
    for d in datasets:
        _, raw_path, pre_path = dataset_folders(d, raw_folder, preprocessed_folder)
        raws.append(_raw(raw_path))
        outs.append(pre_path)
    fps = extract_many([(r.folder, o) for r, o in zip(raws, outs)], num_processes=num_processes, clean=clean)
    for r, o in zip(raws, outs):
        write_json_atomic(r.info, o / "dataset.json")
    return fps


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PlansError(f"{path}: not valid JSON ({exc}); fix the edit or re-plan with --clean") from None
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing; run {what} first") from None


def plan_experiment(dataset: str | int, planner: str = "DefaultPlanner", gpu_memory_target: Optional[float] = None,
                    clean: bool = False, raw_folder: Optional[os.PathLike] = None,
                    preprocessed_folder: Optional[os.PathLike] = None) -> Plans:
    """Write ``autosrPlans.json`` from the fingerprint, keeping valid hand edits unless ``clean``."""
    from autosr.planners import get_planner
    from autosr.preprocessing.replan import find_edits

    _, _, pre_path = dataset_folders(dataset, raw_folder, preprocessed_folder)
    fp = _load_json(pre_path / "dataset_fingerprint.json", "autosr_extract_fingerprint")
    cls = get_planner(planner)
    path, planned_path = pre_path / f"{PLANS_NAME}.json", pre_path / f"{PLANS_NAME}{PLANNED_SUFFIX}"
    fresh = cls(fp, gpu_memory_target).plan()
    current = None
    if path.is_file() and not clean:
        current = Plans.load(path, replanning=True).raw  # a value wrong whatever the data stops here
        pristine = _load_json(planned_path, "") if planned_path.is_file() else None
        edits = find_edits(current, pristine, fresh)
        if edits:
            logger.info("Keeping %d hand edit(s) of %s where still valid (--clean discards them)", len(edits), path)
        raw = cls(fp, gpu_memory_target).plan(edits)
        for name, conf in current.get("configurations", {}).items():
            if name not in raw["configurations"]:     # a configuration the user added is kept whole
                raw["configurations"][name] = conf
    else:
        raw = fresh
    plans = Plans(raw, path)
    plans.validate()
    write_json_atomic(fresh, planned_path)
    plans.save(path)
    logger.info("Wrote %s (planner %s)", path, cls.__name__)
    return plans


def preprocess(dataset: str | int, configurations: Optional[Sequence[str]] = None, num_processes: int = 1,
               raw_folder: Optional[os.PathLike] = None, preprocessed_folder: Optional[os.PathLike] = None) -> Path:
    """Preprocess the training cases for ``configurations`` (default: all); returns the dataset's folder."""
    return preprocess_datasets([dataset], configurations, num_processes, raw_folder, preprocessed_folder)[0]


def preprocess_datasets(datasets: Sequence[str | int], configurations: Optional[Sequence[str]] = None,
                        num_processes: int = 1, raw_folder: Optional[os.PathLike] = None,
                        preprocessed_folder: Optional[os.PathLike] = None) -> List[Path]:
    """:func:`preprocess` of several datasets, their cases sharing one worker pool; writes the splits."""
    from autosr.preprocessing.preprocess import preprocess_many
    from autosr.preprocessing.splits import ensure_splits

    items, folders = [], []
    for d in datasets:
        _, raw_path, pre_path = dataset_folders(d, raw_folder, preprocessed_folder)
        plans = Plans.load(pre_path / f"{PLANS_NAME}.json")
        idents: List[str] = []
        for n in (list(configurations) if configurations else plans.configuration_names):
            ident = plans.configuration(n).data_identifier
            if ident not in idents:
                idents.append(ident)
        items.append((_raw(raw_path), plans, pre_path, idents))
        folders.append(pre_path)
    preprocess_many(items, num_processes)
    for raw, _, pre_path, _ in items:
        ensure_splits(pre_path, sorted(raw.cases("imagesTr")))
    return folders


def plan_and_preprocess(dataset: str | int, num_processes: int = 1, verify_dataset_integrity: bool = False,
                        planner: str = "DefaultPlanner", clean: bool = False, no_pp: bool = False,
                        gpu_memory_target: Optional[float] = None, configurations: Optional[Sequence[str]] = None,
                        raw_folder: Optional[os.PathLike] = None,
                        preprocessed_folder: Optional[os.PathLike] = None) -> Plans:
    """Fingerprint → plans → preprocessed data (``no_pp``: stop after planning)."""
    return plan_and_preprocess_many([dataset], num_processes, verify_dataset_integrity, planner, clean, no_pp,
                                    gpu_memory_target, configurations, raw_folder, preprocessed_folder)[0]


def plan_and_preprocess_many(datasets: Sequence[str | int], num_processes: int = 1,
                             verify_dataset_integrity: bool = False, planner: str = "DefaultPlanner",
                             clean: bool = False, no_pp: bool = False, gpu_memory_target: Optional[float] = None,
                             configurations: Optional[Sequence[str]] = None, raw_folder: Optional[os.PathLike] = None,
                             preprocessed_folder: Optional[os.PathLike] = None) -> List[Plans]:
    """:func:`plan_and_preprocess` of several datasets; the cases of all of them share one worker pool."""
    from autosr.planners import get_planner
    get_planner(planner)            # a wrong -pl fails before any work is done
    if verify_dataset_integrity:
        for d in datasets:
            verify(d, raw_folder)
    extract_fingerprints(datasets, num_processes, clean, raw_folder, preprocessed_folder)
    plans = [plan_experiment(d, planner, gpu_memory_target, clean, raw_folder, preprocessed_folder) for d in datasets]
    if not no_pp:
        preprocess_datasets(datasets, configurations, num_processes, raw_folder, preprocessed_folder)
    return plans


def load_case(preprocessed_dataset_folder: os.PathLike | str, data_identifier: str,
              case: str) -> Tuple[np.memmap, Dict[str, Any]]:
    """Memory-mapped ``(C, S, H, W)`` float32 array of a preprocessed case and its properties."""
    folder = Path(preprocessed_dataset_folder) / data_identifier
    props_path, npy = folder / f"{case}.json", folder / f"{case}.npy"
    if not props_path.is_file() or not npy.is_file():
        raise DatasetError(f"{folder}: case {case!r} is not preprocessed (missing {case}.json or {case}.npy); "
                           f"run autosr_preprocess")
    props = json.loads(props_path.read_text(encoding="utf-8"))
    return np.load(npy, mmap_mode="r"), props


def load_lowres(preprocessed_dataset_folder: os.PathLike | str, data_identifier: str, case: str) -> np.memmap:
    """Memory-mapped paired LR array ``(C, S, h, w)`` of a case (paired mode)."""
    path = Path(preprocessed_dataset_folder) / data_identifier / f"{case}_lowres.npy"
    if not path.is_file():
        raise DatasetError(f"{path}: missing; the case has no paired low-resolution scan")
    return np.load(path, mmap_mode="r")


__all__ = ["extract_fingerprint", "extract_fingerprints", "plan_experiment", "preprocess", "preprocess_datasets",
           "plan_and_preprocess", "plan_and_preprocess_many", "load_case",
           "load_lowres", "dataset_folders", "verify", "PLANS_NAME"]
