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
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from autosr.imageio import DicomSeriesReader, Geometry, read_case
from autosr.inference import record
from autosr.inference.inputs import CaseInput, check_output_location, find_cases, select_part
from autosr.inference.io_workers import IOPipeline
from autosr.inference.passes import Pass, Stages
from autosr.inference.prep import PreparedCase
from autosr.inference.scale_request import ScaleRequest
from autosr.inference.trust import TrustCheck
from autosr.inference.writer import CaseWriter, remove_stale_partials
from autosr.scales import ScaleLike, VolumeScale

if TYPE_CHECKING:
    from autosr.inference.predictor import Predictor

logger = logging.getLogger(__name__)

UNCERTAINTY = "uncertainty"


def output_files(predictor: "Predictor", case: CaseInput, folder: Path) -> List[Path]:
    """A case's output files: one per channel, and with an uncertainty map ``{case}_uncertainty_{CCCC}{ending}``
    after them (a case of its own when the folder is read again)."""
    files = case.output_files(folder)
    if predictor.uncertainty:
        files += [Path(folder) / f"{case.name}_{UNCERTAINTY}_{c:04d}{case.ending}" for c in range(len(case.sources))]
    return files


def read_input(case: CaseInput) -> Tuple[np.ndarray, Geometry]:
    """Read a case's channels into ``(C, *spatial)`` and its geometry."""
    if case.dicom_files:
        arr, geom = DicomSeriesReader().read_files(case.dicom_files[0], source=str(case.sources[0]))
        return arr[None], geom
    return read_case(case.sources)


@dataclass
class _Loaded:
    """A case read and planned: one pass (``prep`` ready, streamed batch by batch) or several (``arrays``
    kept for :meth:`Predictor.run_stages`)."""
    geometry: Geometry
    scale: VolumeScale
    stages: Stages
    input_dtype: np.dtype
    spatial_shape: Tuple[int, ...]
    prep: Optional[PreparedCase] = None
    arrays: Optional[np.ndarray] = None


def predict_files(predictor: "Predictor", input_path: os.PathLike | str, output_folder: os.PathLike | str,
                  scale: "None | ScaleLike | Sequence[ScaleLike] | ScaleRequest" = None,
                  target_spacing: "None | float | Sequence[float]" = None, overwrite: bool = False,
                  keep_dtype: bool = False, num_parts: int = 1, part_id: int = 0, num_workers: int = 0,
                  preview: bool = False) -> Dict[str, float]:
    """Super-resolve every scan of ``input_path`` into ``output_folder`` (see ``autosr_predict``).

    ``preview``: also write ``{case}.preview.png`` per predicted 3D scan (:mod:`autosr.inference.preview`).
    ``scale``: one in-plane scale, or a factor per axis in x y z order; ``target_spacing``: mm, one
    (in-plane) or one per axis (:class:`~autosr.inference.scale_request.ScaleRequest`).
    Returns ``{"scans", "skipped", "slices", "voxels", "seconds", "voxels_per_s", "slices_per_s"}``.
    """
    request = ScaleRequest.parse(scale, target_spacing)
    if request.in_plane is not None:
        predictor.check_scale(request.in_plane)  # fail before reading anything
    input_path, output_folder = Path(input_path), Path(output_folder)
    check_output_location(input_path, output_folder)
    cases = find_cases(input_path, predictor.plans.num_channels, predictor.plans.channel_names)
    mine = select_part(cases, num_parts, part_id)
    asked = request.record()
    if predictor.acquisition is not None:  # absent when unknown, so records of earlier versions still match
        asked["acquisition"] = predictor.acquisition
    for flag in ("tta", "uncertainty", "enforce_consistency"):  # likewise absent when off
        if getattr(predictor, flag):
            asked[flag] = True
    wanted = _records(predictor, mine, dict(asked, keep_dtype=keep_dtype))
    todo = _to_predict(predictor, mine, output_folder, wanted, overwrite)
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
            _load(predictor, request, case, check_only=True)
    remove_stale_partials(output_folder)
    created = _missing_folders(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    load = functools.partial(_load, predictor, request, quiet=checked)
    try:
        summary = _run(predictor, todo, output_folder, wanted, load, keep_dtype, num_workers, skipped)
    except BaseException:
        _remove_empty(created)  # a failed run leaves no empty folder behind that it made
        raise
    if preview:
        _write_previews(todo, output_folder, predictor.progress)
    return summary


def _write_previews(cases: Sequence[CaseInput], folder: Path, progress: bool) -> None:
    """``{case}.preview.png`` of each predicted 3D scan: its first channel, input vs B-spline vs output."""
    from autosr.imageio import read_image
    from autosr.inference.preview import preview_path, write_preview

    for case in tqdm(cases, desc="previews", unit="scan", disable=not progress, leave=False):
        arrays, geometry = read_input(case)
        if arrays.ndim != 4:
            continue
        out, out_geometry = read_image(case.output_files(folder)[0])
        path = write_preview(preview_path(folder, case.name), case.name, arrays[0], geometry, out, out_geometry)
        logger.info("%s: preview %s", case.name, path)


def _records(predictor: "Predictor", cases: Sequence[CaseInput], request: Dict[str, Any]
             ) -> Dict[str, Optional[Dict[str, Any]]]:
    """The expected record of each case; ``None`` when the predictor has no model identity (built in code)."""
    model = predictor.model_identity
    return {c.name: record.expected(model, request, c) if model is not None else None for c in cases}


def _to_predict(predictor: "Predictor", cases: Sequence[CaseInput], folder: Path,
                wanted: Dict[str, Optional[Dict[str, Any]]], overwrite: bool) -> List[CaseInput]:
    """The cases whose outputs are missing or not attested by a matching record (said why); all with ``overwrite``."""
    todo = []
    for case in cases:
        outputs = output_files(predictor, case, folder)
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


def _load(predictor: "Predictor", request: ScaleRequest, case: CaseInput, quiet: bool = False,
          check_only: bool = False) -> _Loaded:
    """Read a case (every image check of the reader), find its factors and passes, and crop and normalise it
    when one pass does; ``quiet``: without the log lines and warnings (said already when the inputs were
    checked)."""
    arrays, geometry = read_input(case)
    source = str(case.sources[0])
    predictor.check_case(arrays, source=source)
    vs, stages = predictor.plan(request, arrays.ndim - 1, geometry, source)
    predictor.check_case(arrays, vs, source)  # the whole refined scan, whatever passes give it
    if not quiet and request.in_plane is None:
        logger.info("%s: factors %s (x y z) give %s mm", case.name, " ".join(f"{float(f):.6g}" for f in vs.xyz),
                    " x ".join(f"{v:.6g}" for v in geometry.refined(vs).spacing))
    loaded = _Loaded(geometry, vs, stages, arrays.dtype, arrays.shape[1:])
    if len(stages) == 1 and len(stages[0]) == 1:
        loaded.prep = predictor.prepare(arrays, vs, geometry, source, warn=not quiet,
                                        slicing_axis=stages[0][0].slicing_axis)
    elif not check_only:
        loaded.arrays = arrays
    return loaded


def _run(predictor: "Predictor", todo: Sequence[CaseInput], output_folder: Path,
         wanted: Dict[str, Optional[Dict[str, Any]]], load: Callable[[CaseInput], _Loaded], keep_dtype: bool,
         num_workers: int, skipped: int) -> Dict[str, float]:
    """Read, predict and write ``todo`` (the second half of :func:`predict_files`)."""
    start, n_slices, n_voxels, n_scans = time.perf_counter(), 0, 0, 0
    with IOPipeline(num_workers) as io:
        for case, item in io.prefetch(load, todo):
            outputs, want = output_files(predictor, case, output_folder), wanted[case.name]
            checks: Dict[str, Any] = {}  # filled before the writer closes, read when it writes the record
            after = None if want is None else functools.partial(_write_record, record.record_path(output_folder, case),
                                                                   want, checks, outputs)
            dtype = item.input_dtype if keep_dtype else np.float32
            if item.prep is not None:
                n_slices += _predict_streamed(predictor, case, item, outputs, dtype, num_workers, after, checks, io)
            else:
                n_slices += _predict_stages(predictor, case, item, outputs, dtype, num_workers, after, checks, io)
            n_scans += 1
            n_voxels += int(np.prod(item.scale.shape(item.spatial_shape))) * predictor.plans.num_channels
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


def _predict_streamed(predictor: "Predictor", case: CaseInput, item: _Loaded, outputs: Sequence[Path],
                      dtype: np.dtype, num_workers: int, after: Optional[Callable[[Path], None]],
                      checks: Dict[str, Any], io: IOPipeline) -> int:
    """One pass: batches go to the writer as they come (a NIfTI output is streamed to disk). Returns slices."""
    prep = item.prep
    writer = CaseWriter(prep, item.geometry, outputs, dtype, background_thread=num_workers > 0, after_write=after)
    trust = _trust(predictor, prep, case)
    trust.check_input(prep.slices)
    channels = prep.slices.shape[1]

    def sink(start: int, sr: np.ndarray) -> None:
        trust.add(start, prep.slices[start:start + len(sr)], sr[:, :channels])
        writer.add(start, sr)
    try:
        predictor.super_resolve_prepared(prep, desc=case.name, sink=sink)
        checks.update(trust.finish())
        io.track(writer.close())
    except BaseException:
        writer.abort()  # no partial file of this scan; finished scans stay
        raise
    return len(prep.slices)


def _trust(predictor: "Predictor", prep: PreparedCase, case: CaseInput) -> TrustCheck:
    return TrustCheck(predictor.configuration, prep.slice_scale, case.name, len(prep.slices),
                      operator=predictor.consistency_operator(), enforced=predictor.enforce_consistency)


def _predict_stages(predictor: "Predictor", case: CaseInput, item: _Loaded, outputs: Sequence[Path],
                    dtype: np.dtype, num_workers: int, after: Optional[Callable[[Path], None]],
                    checks: Dict[str, Any], io: IOPipeline) -> int:
    """Several passes (a through-plane factor): the refined scan is assembled in memory, then written.
    The trust checks measure the last stage's first orientation (the thick axis). Returns slices."""
    arrays, item.arrays = item.arrays, None  # the stages hold it no longer than needed
    measured = item.stages[-1][0]
    trust: Optional[TrustCheck] = None
    n_slices = 0

    def check(p: Pass, prep: PreparedCase, start: int, sr: np.ndarray) -> None:
        nonlocal trust, n_slices
        n_slices += len(sr)
        if p is not measured:
            return
        if trust is None:
            trust = _trust(predictor, prep, case)
            trust.check_input(prep.slices)
        trust.add(start, prep.slices[start:start + len(sr)], sr[:, :prep.slices.shape[1]])
    refined, _, last = predictor.run_stages(arrays, item.geometry, item.stages, case.name, check=check)
    del arrays
    geometry = item.geometry  # the last stage's input: the scan refined by every earlier stage
    for stage in item.stages[:-1]:
        geometry = geometry.refined(stage[0].scale)
    writer = CaseWriter(last, geometry, outputs, dtype, background_thread=num_workers > 0, after_write=after,
                        whole=True)
    try:
        if trust is not None:
            checks.update(trust.finish())
        writer.write_whole(refined)
        io.track(writer.close())
    except BaseException:
        writer.abort()
        raise
    return n_slices


__all__ = ["predict_files", "read_input"]
