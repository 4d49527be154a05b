"""Crop, normalise and store each case as ``{case}.npy`` ``(C, S, H, W)`` float32 + ``{case}.json``.

Layout and properties: documentation/internals.md. Every file is written under a temporary
name and renamed into place; the ``.npy`` files first and the ``.json`` last, so a case counts
as done only when its JSON exists, records the same ``preprocessing_key`` (a digest of the plan
fields and raw files that shaped it) and its arrays have the recorded shapes. An interrupted run
therefore leaves nothing a later run would trust, and re-running skips finished cases.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from autosr.cropping import bounding_box, crop_and_normalise, crop_box, foreground_mask
from autosr.dataset import RawDataset, named, pid_tag, remove_partials, write_json_atomic
from autosr.errors import DatasetError
from autosr.fingerprint import file_signature
from autosr.imageio import orientation_code, read_case
from autosr.normalization import normalize_case
from autosr.plans import Plans, PlansError
from autosr.preprocessing.slicing import to_slices, transpose_of

logger = logging.getLogger(__name__)
PREPROCESSING_VERSION = 1


def spec_for(plans: Plans, data_identifier: str) -> Dict[str, Any]:
    """Everything from the plans that shapes the stored data of ``data_identifier``."""
    confs = [plans.configuration(n) for n in plans.configuration_names]
    confs = [c for c in confs if c.data_identifier == data_identifier]
    if not confs:
        raise PlansError(f"{plans.path or 'plans'}: no configuration uses data_identifier {data_identifier!r}")
    return {"version": PREPROCESSING_VERSION, "data_identifier": data_identifier,
            "modalities": plans.modalities, "slicing_axis": plans.slicing_axis, "margin": plans.crop_margin,
            "normalization": [{k: v for k, v in e.items() if k != "why"} for e in plans.normalization],
            # every stored slice is at least one patch wide, so the trainer never pads
            "min_inplane": [max(int(c.patch.size[i]) for c in confs) for i in range(2)],
            "paired": any(c.degradation.mode == "paired" for c in confs)}


def case_key(spec: Mapping[str, Any], files: Sequence[str], lowres_files: Optional[Sequence[str]]) -> str:
    blob = json.dumps([spec, file_signature(files), file_signature(lowres_files or [])], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _npy_shape(path: Path) -> Optional[List[int]]:
    try:
        return list(np.load(path, mmap_mode="r").shape)
    except (OSError, ValueError):
        return None


def is_done(folder: Path, case: str, key: str) -> bool:
    """True when ``case`` was fully written with the same ``preprocessing_key``."""
    try:
        props = json.loads((folder / f"{case}.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if props.get("preprocessing_key") != key or _npy_shape(folder / f"{case}.npy") != props.get("stored_shape"):
        return False
    low = props.get("lowres")
    return not low or _npy_shape(folder / f"{case}_lowres.npy") == low.get("stored_shape")


def save_npy_atomic(array: np.ndarray, path: Path) -> None:
    """``np.save`` to a temporary file beside ``path``, then rename it into place."""
    tmp = path.parent / f".{path.name}.{pid_tag()}.{uuid.uuid4().hex[:8]}.partial"
    # os.open with 0o666 (not mkstemp's 0600) so the array gets the user's usual permissions (umask)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        raise named(exc, path)


def preprocess_case(case: str, files: Sequence[str], lowres_files: Optional[Sequence[str]],
                    spec: Mapping[str, Any], out_folder: str) -> Dict[str, Any]:
    """Preprocess one case into ``out_folder``; returns its properties."""
    out = Path(out_folder)
    data, geom = read_case(files)
    spatial = data.shape[1:]
    nd = len(spatial)
    modalities = spec["modalities"]
    if data.shape[0] != len(modalities):
        raise DatasetError(f"{files[0]}: case {case!r} has {data.shape[0]} channel(s); the plans expect {len(modalities)}")
    fg = foreground_mask(data, modalities, geom.array_spacing)  # as prediction finds it
    bbox = bounding_box(fg)
    if bbox is None:
        raise DatasetError(f"{files[0]}: case {case!r} is all background; remove it from imagesTr")
    axis = int(spec["slicing_axis"]) if nd == 3 else None
    inplane = transpose_of(nd, axis)[-2:]
    margin = list(spec["margin"]) if nd == 3 else list(spec["margin"])[-2:]
    min_size = [0] * nd
    for i, k in enumerate(inplane):
        min_size[k] = int(spec["min_inplane"][i])
    box = crop_box(spatial, bbox, margin, min_size)
    lowres_info, lr_cropped = None, None
    if spec["paired"]:
        if not lowres_files:
            raise DatasetError(f"case {case!r}: the plans use paired degradation but lowresTr has no scan for it")
        from autosr.preprocessing.paired import pair
        box, lr_cropped, lowres_info = pair(case, geom, spatial, box, lowres_files, axis)
    normalised, params, _ = crop_and_normalise(data, fg, box, spec["normalization"])  # as prediction does
    stack = to_slices(normalised, axis)
    key = case_key(spec, files, lowres_files if spec["paired"] else None)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{case}.json").unlink(missing_ok=True)            # a stale JSON must not vouch for new arrays
    save_npy_atomic(stack, out / f"{case}.npy")
    if lr_cropped is not None:
        lr_stack = to_slices(normalize_case(lr_cropped, params), axis)
        save_npy_atomic(lr_stack, out / f"{case}_lowres.npy")
        lowres_info["stored_shape"] = list(lr_stack.shape)
        lowres_info["file"] = f"{case}_lowres.npy"
    props = {"case": case, "files": [str(f) for f in files], "original_shape": list(spatial), "ndim": nd,
             "dtype": str(data.dtype), "geometry": geom.to_dict(), "orientation": orientation_code(geom),
             "foreground_bbox": bbox, "crop_box": box, "slicing_axis": axis, "transpose": transpose_of(nd, axis),
             "stored_shape": list(stack.shape), "modalities": list(modalities),
             "normalization": params, "lowres": lowres_info, "data_identifier": spec["data_identifier"],
             "preprocessing_key": key}
    write_json_atomic(props, out / f"{case}.json")
    return props


def preprocess_many(items: Sequence[Tuple[RawDataset, Plans, Path, Sequence[str]]],
                    num_processes: int = 1) -> List[Dict[str, List[str]]]:
    """Preprocess ``(raw dataset, plans, output folder, data identifiers)`` items with one shared pool.

    Returns, per item, ``{identifier: cases processed now}`` (finished cases are skipped).
    """
    from autosr.fingerprint import largest_first
    from autosr.preprocessing.parallel import run_cases

    jobs, done_now = [], []
    for i, (dataset, plans, out_root, idents) in enumerate(items):
        cases = dataset.cases("imagesTr")
        if not cases:
            raise DatasetError(f"{dataset.folder / 'imagesTr'}: no training cases to preprocess")
        lowres = dataset.cases("lowresTr") if (dataset.folder / "lowresTr").is_dir() else {}
        done_now.append({})
        for ident in idents:
            spec, folder = spec_for(plans, ident), Path(out_root) / ident
            remove_partials(folder, ".*.partial")
            todo = []
            for name, files in sorted(cases.items()):
                files = [str(f) for f in files]
                low = [str(f) for f in lowres.get(name, [])] or None
                if not is_done(folder, name, case_key(spec, files, low if spec["paired"] else None)):
                    todo.append(name)
                    jobs.append(((i, ident, name), (name, files, low, spec, str(folder))))
            logger.info("%s/%s: %d case(s) to preprocess, %d already done", dataset.name, ident, len(todo),
                        len(cases) - len(todo))
            stale = sorted({p.stem for p in folder.glob("*.json")} - set(cases))
            if stale:
                logger.warning("%s holds case(s) no longer in imagesTr: %s (ignored; delete them to tidy up)",
                               folder, ", ".join(stale[:5]))
            done_now[i][ident] = todo
    if jobs:
        run_cases(preprocess_case, largest_first(jobs), num_processes, desc="preprocess")
    return done_now


def preprocess_dataset(dataset: RawDataset, plans: Plans, out_root: Path, data_identifiers: Sequence[str],
                       num_processes: int = 1) -> Dict[str, List[str]]:
    """Preprocess every training case for each data identifier; returns ``{identifier: cases done now}``."""
    return preprocess_many([(dataset, plans, out_root, data_identifiers)], num_processes)[0]
