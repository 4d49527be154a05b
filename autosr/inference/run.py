"""A prediction run over files: find cases, pick the scale, read → predict → write, summarise.

Outputs are written atomically (temporary name, then rename), so a crash or Ctrl-C leaves the
scans already finished and no partial file; the next run removes the temporary folders it left.
Existing outputs are kept (skipped) unless ``overwrite`` only when their record
(:mod:`autosr.inference.record`) says they come from the same model, request and inputs, so an
interrupted run resumes where it stopped and nothing else is mistaken for a finished scan.
"""
from __future__ import annotations

import functools
import logging
import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from autosr.errors import AutoSRError
from autosr.imageio import DicomSeriesReader, Geometry, read_case
from autosr.inference import record
from autosr.inference.inputs import CaseInput, check_output_location, find_cases, select_part
from autosr.inference.io_workers import IOPipeline
from autosr.inference.prep import PreparedCase, in_plane_axes
from autosr.inference.trust import TrustCheck
from autosr.inference.writer import CaseWriter, remove_stale_partials
from autosr.scales import MAX_SCALE, ScaleLike, sr_size

if TYPE_CHECKING:
    from autosr.inference.predictor import Predictor

logger = logging.getLogger(__name__)

#: Relative tolerance between the two in-plane spacings for --target_spacing, and on the spacing reached.
SPACING_RTOL = 1e-3
TARGET_RTOL = 1e-4


class TargetSpacingError(AutoSRError):
    """--target_spacing cannot be reached with one in-plane scale."""


def scale_for_spacing(geometry: Geometry, axes: Tuple[int, ...], target: float, source: str = "") -> Fraction:
    """The scale ``s = spacing / target`` for the in-plane ``axes``, as a short fraction.

    The two in-plane spacings must agree (one ``s`` refines both); the fraction with the smallest
    denominator whose spacing is within 1e-4 of ``target`` is used (small ``q`` keeps crop
    snapping and tiling fine-grained).
    """
    sp = [geometry.array_spacing[a] for a in axes]
    if max(sp) - min(sp) > SPACING_RTOL * max(sp):
        need = " and ".join(f"{v / target:.4g}" for v in sp)
        raise TargetSpacingError(f"{source}: in-plane spacings differ ({' x '.join(f'{v:g}' for v in sp)} mm), so "
                                 f"one scale cannot reach {target:g} mm on both axes (it would need s = {need}); "
                                 f"give -s instead")
    ratio = float(np.mean(sp)) / target
    if ratio > MAX_SCALE:
        raise TargetSpacingError(f"{source}: --target_spacing {target:g} mm would need s = {ratio:g}, above any "
                                 f"scale AutoSR can give; give a spacing nearer the scan's {np.mean(sp):g} mm")
    if ratio <= 1:
        raise TargetSpacingError(f"{source}: --target_spacing {target:g} mm is not finer than the scan's in-plane "
                                 f"spacing {np.mean(sp):g} mm; AutoSR only refines (s > 1)")
    for q in range(1, 1001):
        p = round(ratio * q)
        if p > 0 and abs(float(np.mean(sp)) * q / p - target) <= TARGET_RTOL * target:
            return Fraction(p, q)
    return Fraction(ratio).limit_denominator(1000)


def read_input(case: CaseInput) -> Tuple[np.ndarray, Geometry]:
    """Read a case's channels into ``(C, *spatial)`` and its geometry."""
    if case.dicom_files:
        arr, geom = DicomSeriesReader().read_files(case.dicom_files[0], source=str(case.sources[0]))
        return arr[None], geom
    return read_case(case.sources)


@dataclass
class _Loaded:
    prep: PreparedCase
    geometry: Geometry
    scale: Fraction
    input_dtype: np.dtype


def predict_files(predictor: "Predictor", input_path: os.PathLike | str, output_folder: os.PathLike | str,
                  scale: Optional[ScaleLike] = None, target_spacing: Optional[float] = None, overwrite: bool = False,
                  keep_dtype: bool = False, num_parts: int = 1, part_id: int = 0, num_workers: int = 0
                  ) -> Dict[str, float]:
    """Super-resolve every scan of ``input_path`` into ``output_folder`` (see ``autosr_predict``).

    Returns ``{"scans", "skipped", "slices", "voxels", "seconds", "voxels_per_s", "slices_per_s"}``.
    """
    if (scale is None) == (target_spacing is None):
        raise AutoSRError("give exactly one of a scale (-s) and a target spacing (--target_spacing)")
    fixed = predictor.check_scale(scale) if scale is not None else None  # fail before reading anything
    if fixed is None and not 0 < target_spacing < math.inf:
        raise TargetSpacingError(f"--target_spacing {target_spacing}: must be a positive number of mm")
    input_path, output_folder = Path(input_path), Path(output_folder)
    check_output_location(input_path, output_folder)
    cases = find_cases(input_path, predictor.plans.num_channels, predictor.plans.channel_names)
    mine = select_part(cases, num_parts, part_id)
    request = {"scale": str(fixed)} if fixed is not None else {"target_spacing": float(target_spacing)}
    if predictor.acquisition is not None:  # absent when unknown, so records of earlier versions still match
        request["acquisition"] = predictor.acquisition
    wanted = _records(predictor, mine, dict(request, keep_dtype=keep_dtype))
    todo = _to_predict(mine, output_folder, wanted, overwrite)
    skipped = len(mine) - len(todo)
    if skipped:
        logger.info("%d scan(s) already predicted in %s with this model, request and input: skipped "
                    "(use --overwrite to redo them)", skipped, output_folder)
    if num_parts > 1:
        logger.info("part %d of %d: %d of %d scan(s)", part_id, num_parts, len(mine), len(cases))
    # A bad scan among many is refused before any output is written (a single one is checked as it loads);
    # reading each input twice costs little beside the network (0.5 s against 13 s for a 64×256×256 scan, 2d_cpu).
    checked = len(todo) > 1
    if checked:
        for case in tqdm(todo, desc="checking inputs", unit="scan", disable=not predictor.progress, leave=False):
            _load(predictor, fixed, target_spacing, case)
    remove_stale_partials(output_folder)
    created = _missing_folders(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    load = functools.partial(_load, predictor, fixed, target_spacing, quiet=checked)
    try:
        return _run(predictor, todo, output_folder, wanted, load, keep_dtype, num_workers, skipped)
    except BaseException:
        _remove_empty(created)  # a failed run leaves no empty folder behind that it made
        raise


def _records(predictor: "Predictor", cases: Sequence[CaseInput], request: Dict[str, Any]
             ) -> Dict[str, Optional[Dict[str, Any]]]:
    """The expected record of each case; ``None`` when the predictor has no model identity (built in code)."""
    model = predictor.model_identity
    return {c.name: record.expected(model, request, c) if model is not None else None for c in cases}


def _to_predict(cases: Sequence[CaseInput], folder: Path, wanted: Dict[str, Optional[Dict[str, Any]]],
                overwrite: bool) -> List[CaseInput]:
    """The cases whose outputs are missing or not attested by a matching record (said why); all with ``overwrite``."""
    todo = []
    for case in cases:
        outputs = case.output_files(folder)
        if overwrite or not any(p.exists() for p in outputs):
            todo.append(case)
            continue
        want = wanted[case.name]
        reason = record.stale_reason(record.record_path(folder, case), want, outputs) if want is not None \
            else "this predictor has no model folder to compare with"
        if reason is not None:
            logger.warning("%s: predicting again over existing output(s) %s: %s", case.name,
                           ", ".join(p.name for p in outputs if p.exists()), reason)
            todo.append(case)
    return todo


def _missing_folders(folder: Path) -> List[Path]:
    """The folders ``folder.mkdir(parents=True)`` will create, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: Sequence[Path]) -> None:
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            return  # not empty (something was written) or already gone: keep it and its parents


def _load(predictor: "Predictor", fixed: Optional[Fraction], target_spacing: Optional[float], case: CaseInput,
          quiet: bool = False) -> _Loaded:
    """Read a case (every image check of the reader), find its scale and crop and normalise it; ``quiet``:
    without the log lines and warnings (said already when the inputs were checked)."""
    arrays, geometry = read_input(case)
    if fixed is not None:
        s = fixed
    else:
        axes = in_plane_axes(arrays.ndim - 1, predictor.plans.slicing_axis)
        s = predictor.check_scale(scale_for_spacing(geometry, axes, float(target_spacing), str(case.sources[0])))
        if not quiet:
            logger.info("%s: scale %s (%.6g) gives %.6g mm in-plane", case.name, s, float(s),
                        geometry.array_spacing[axes[0]] / float(s))
    return _Loaded(predictor.prepare(arrays, s, geometry, str(case.sources[0]), warn=not quiet), geometry, s,
                   arrays.dtype)


def _run(predictor: "Predictor", todo: Sequence[CaseInput], output_folder: Path,
         wanted: Dict[str, Optional[Dict[str, Any]]], load: Callable[[CaseInput], _Loaded], keep_dtype: bool,
         num_workers: int, skipped: int) -> Dict[str, float]:
    """Read, predict and write ``todo`` (the second half of :func:`predict_files`)."""
    start, n_slices, n_voxels, n_scans = time.perf_counter(), 0, 0, 0
    with IOPipeline(num_workers) as io:
        for case, item in io.prefetch(load, todo):
            outputs, want = case.output_files(output_folder), wanted[case.name]
            checks: Dict[str, Any] = {}  # filled before the writer closes, read when it writes the record
            after = None if want is None else functools.partial(_write_record, record.record_path(output_folder, case),
                                                                   want, checks, outputs)
            writer = CaseWriter(item.prep, item.scale, item.geometry, outputs,
                                item.input_dtype if keep_dtype else np.float32, background_thread=num_workers > 0,
                                after_write=after)
            trust = TrustCheck(predictor.configuration, item.scale, case.name, len(item.prep.slices))
            trust.check_input(item.prep.slices)

            def sink(start: int, sr: np.ndarray, prep: PreparedCase = item.prep) -> None:
                trust.add(start, prep.slices[start:start + len(sr)], sr)
                writer.add(start, sr)
            try:
                predictor.super_resolve_prepared(item.prep, item.scale, desc=case.name, sink=sink)
                checks.update(trust.finish())
                io.track(writer.close())
            except BaseException:
                writer.abort()  # no partial file of this scan; finished scans stay
                raise
            n_scans += 1
            n_slices += len(item.prep.slices)
            n_voxels += _refined_voxels(item.prep, item.scale)
        io.finish()
    seconds = max(time.perf_counter() - start, 1e-9)
    summary = {"scans": n_scans, "skipped": skipped, "slices": n_slices, "voxels": n_voxels, "seconds": seconds,
               "voxels_per_s": n_voxels / seconds, "slices_per_s": n_slices / seconds}
    logger.info("predicted %d scan(s) (%d skipped), %d slices, %.3g output voxels in %.1f s: %.3g voxels/s, "
                "%.3g slices/s", n_scans, skipped, n_slices, n_voxels, seconds, summary["voxels_per_s"],
                summary["slices_per_s"])
    return summary


def _write_record(path: Path, want: Dict[str, Any], checks: Dict[str, Any], outputs: Sequence[Path], tmp: Path
                  ) -> None:
    record.write(path, {**want, "checks": checks}, outputs, tmp)


def _refined_voxels(prep: PreparedCase, scale: Fraction) -> int:
    axes = prep.in_plane_axes
    return int(np.prod([sr_size(n, scale) if k in axes else n for k, n in enumerate(prep.spatial_shape)])) \
        * prep.slices.shape[1]


__all__ = ["predict_files", "scale_for_spacing", "read_input", "TargetSpacingError"]
