"""Assemble a refined scan batch by batch and write it, streaming NIfTI to disk while the network runs.

Each batch of SR slices is clamped to [0, 1], de-normalised, converted to the output dtype and
pasted into full-field-of-view slices (background outside the crop box) as soon as it exists.

* **Streamed** (``.nii``/``.nii.gz`` outputs of 3D scans sliced along array axis 0, the usual
  thick-slice case): NIfTI stores array axis 0 slowest, so slices can be appended in order. The
  348-byte header is SimpleITK's own (written for a two-slice dummy of the same geometry and
  dtype, its slice count patched), the voxels are compressed with zlib's run-length strategy
  (``Z_RLE``: twice as fast as level 1 and as small as level 6 on SR volumes, whose background
  is constant). Compression runs in a background thread during inference, and the output
  volume never has to be held in memory.
* **Buffered** (other formats, slicing axes or 2D images): slices are pasted into the full array,
  written with :func:`autosr.imageio.write_image` at the end.

Both write into a hidden temporary folder beside the output (``.autosr-partial-pid<N>@<host>-…``)
and rename on success, so a crash or Ctrl-C never leaves a partial file under the final name;
the next run removes the folders of processes that no longer run
(:func:`remove_stale_partials`).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import struct
import tempfile
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from autosr.dataset import pid_tag, remove_partials
from autosr.imageio import Geometry, file_ending, write_image
from autosr.inference.prep import PreparedCase, refined_box, to_output_dtype
from autosr.scales import AxisScales

logger = logging.getLogger(__name__)

_DIM3_OFFSET = 46          # int16 dim[3] (array axis 0 length) in the NIfTI-1 header
MAX_NIFTI_DIM = 32767      # NIfTI-1 dims are int16
_MAX_PENDING = 3           # batches waiting for compression before inference waits


_PREFIX = ".autosr-partial-"
#: A temporary folder without an owner in its name (older AutoSR, :func:`autosr.imageio.write_image`):
#: ``.autosr-partial-`` and a ``tempfile.mkdtemp`` suffix; abandoned when untouched for ``_UNOWNED_STALE_S``.
_UNOWNED = re.compile(re.escape(_PREFIX) + r"[a-z0-9_]{8}")
_UNOWNED_STALE_S = 600


def _partial_dir(parent: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{pid_tag()}-", dir=parent))


def _untouched(path: Path) -> bool:
    try:
        newest = max([path.stat().st_mtime] + [p.stat().st_mtime for p in path.iterdir()])
    except OSError:  # its owner is removing it right now
        return False
    return time.time() - newest > _UNOWNED_STALE_S


def remove_stale_partials(folder: Path) -> None:
    """Remove the temporary folders an interrupted run left in ``folder``, one log line each: those whose
    owner (:func:`autosr.dataset.pid_tag`) no longer runs, and ownerless ones untouched for 10 minutes."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    remove_partials(folder, f"{_PREFIX}pid*@*")
    for p in sorted(folder.glob(f"{_PREFIX}*")):
        if _UNOWNED.fullmatch(p.name) and p.is_dir() and not p.is_symlink() and _untouched(p):
            shutil.rmtree(p, ignore_errors=True)  # one that cannot be removed stays, and does no harm
            logger.info("removed %s, left by an interrupted run", p)


def _outside_window(prep: PreparedCase, start: int, n: int, channel: int, scale: AxisScales,
                    shape: Sequence[int]) -> Optional[np.ndarray]:
    """Bicubic upsampling of the out-of-window part of slices ``[start, start + n)`` (``None`` if all 0)."""
    idx = [i for i in range(start, start + n) if i in prep.outside]
    if not idx:
        return None
    import torch
    from autosr.degradation import upsample
    lr = torch.from_numpy(np.stack([prep.outside[i][channel] for i in idx]))[:, None]
    out = np.zeros((n, *shape), dtype=np.float32)
    out[[i - start for i in idx]] = upsample(lr, scale)[:, 0].numpy()
    return out


def restore_batch(sr: np.ndarray, prep: PreparedCase, channel: int, dtype: np.dtype, start: int = 0) -> np.ndarray:
    """SR slices ``(b, C, h', w')`` (prepared slices ``start…``) of one channel → full-FOV refined
    slices ``(b, H', W')`` in ``dtype``: clamped to [0, 1], de-normalised, the out-of-window part
    of the input added back (bicubic), clipped to the input's value range (neither clip when
    ``prep.clip`` is off), pasted into the background."""
    from autosr.normalization import denormalize
    axes = prep.in_plane_axes
    rbox = refined_box(prep.box, prep.scale)
    full = [prep.scale.shape(prep.spatial_shape)[a] for a in axes]
    (r0, r1), (c0, c1) = (rbox[a] for a in axes)
    params = prep.params[channel]
    background = to_output_dtype(np.asarray([float(params.get("background", 0.0))]), dtype)[0]
    out = np.full((sr.shape[0], full[0], full[1]), background, dtype=dtype)
    inputs = prep.slices.shape[1]  # channels beyond the input's are spread (uncertainty) channels
    clip = prep.clip or channel >= inputs
    vals = np.asarray(denormalize(np.clip(sr[:, channel], 0.0, 1.0) if clip else sr[:, channel], params),
                      dtype=np.float32)
    extra = _outside_window(prep, start, sr.shape[0], channel, prep.slice_scale, vals.shape[1:]) \
        if channel < inputs else None
    if extra is not None:
        vals += extra
    if prep.value_range and channel < inputs and prep.clip:
        np.clip(vals, *prep.value_range[channel], out=vals)
    out[:, r0:r1, c0:c1] = to_output_dtype(vals, dtype)
    return out


def _nifti_header(geometry: Geometry, slice_shape: Sequence[int], n_slices: int, dtype: np.dtype,
                  tmp: Path) -> Optional[bytes]:
    """SimpleITK's NIfTI header for a ``(n_slices, *slice_shape)`` image, or ``None`` if not streamable."""
    dummy = tmp / "header.nii"
    write_image(np.zeros((2, *slice_shape), dtype=dtype), geometry, dummy)
    raw = dummy.read_bytes()
    dummy.unlink()
    if struct.unpack("<i", raw[:4])[0] != 348 or struct.unpack("<8h", raw[40:56])[:4] != (3, slice_shape[1],
                                                                                          slice_shape[0], 2):
        return None  # not a little-endian 3D NIfTI-1 header as expected: use the buffered path
    offset = int(struct.unpack("<f", raw[108:112])[0])
    header = bytearray(raw[:offset])
    header[_DIM3_OFFSET:_DIM3_OFFSET + 2] = struct.pack("<h", n_slices)
    return bytes(header)


class _ChannelStream:
    """One channel's NIfTI file being appended to in a temporary folder."""

    def __init__(self, path: Path, tmp: Path, header: bytes) -> None:
        self.final, self.part = path, tmp / path.name
        self.fh = open(self.part, "wb")
        self.z = zlib.compressobj(1, zlib.DEFLATED, 31, 9, zlib.Z_RLE) if path.name.endswith(".gz") else None
        self.write(header)

    def write(self, data: bytes) -> None:
        self.fh.write(self.z.compress(data) if self.z is not None else data)

    def finish(self) -> None:
        if self.z is not None:
            self.fh.write(self.z.flush())
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()


class CaseWriter:
    """Receive SR batches of one prepared case in order; write its channel files on :meth:`close`.

    ``files`` (one per channel) may be ``None`` to only assemble the array (:attr:`array`).
    ``geometry`` is the input's: the output's is it refined by ``prep.scale``. ``whole``: the refined
    scan arrives in one piece (:meth:`write_whole`, a through-plane scale's fused passes) instead of
    batch by batch. ``background_thread``: compress/paste in a worker thread instead of the caller's.
    ``after_write(tmp)``: called once the files are in place, with the temporary folder, to put
    further files (the case's record) in place atomically too.
    """

    def __init__(self, prep: PreparedCase, geometry: Optional[Geometry], files: Optional[Sequence[Path]],
                 dtype: Any = np.float32, background_thread: bool = False,
                 after_write: Optional[Callable[[Path], None]] = None, whole: bool = False) -> None:
        self.prep, self.dtype, self.whole = prep, np.dtype(dtype), whole
        self.after_write = after_write
        self.files = [Path(f) for f in files] if files is not None else None
        self.geometry = geometry.refined(prep.scale) if geometry is not None else None
        self.full_shape = prep.scale.shape(prep.spatial_shape)
        self.sb = prep.box[prep.slicing_axis] if prep.slicing_axis is not None and not whole else (0, 1)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="autosr-case") if background_thread else None
        self._pending: List[Future] = []
        self._tmp: Optional[Path] = None
        self.streams: Optional[List[_ChannelStream]] = None
        self.array: Optional[np.ndarray] = None
        self._next = 0
        try:
            self._setup()
        except BaseException:
            self._cleanup()
            raise

    # ------------------------------------------------------------ set-up
    def _streamable(self) -> bool:
        return (self.files is not None and self.geometry is not None and (self.prep.slicing_axis == 0 or self.whole)
                and len(self.full_shape) == 3 and self.full_shape[0] >= 2 and max(self.full_shape) <= MAX_NIFTI_DIM
                and all(file_ending(f) in (".nii", ".nii.gz") for f in self.files))

    def _setup(self) -> None:
        if self.files is not None:
            self.files[0].parent.mkdir(parents=True, exist_ok=True)
            self._tmp = _partial_dir(self.files[0].parent)
        header = None
        if self._streamable():
            header = _nifti_header(self.geometry, self.full_shape[1:], self.full_shape[0], self.dtype, self._tmp)
        if header is not None:
            self.streams = [_ChannelStream(f, self._tmp, header) for f in self.files]
            self._background_slices(self.sb[0])  # slices before the crop box
        elif self.whole:
            self.array = None  # given by write_whole
        else:
            self.array = np.empty((len(self.prep.params),) + self.full_shape, dtype=self.dtype)
            for c in range(len(self.prep.params)):
                self.array[c] = self._background(c)

    def _background(self, c: int) -> Any:
        return to_output_dtype(np.asarray([float(self.prep.params[c].get("background", 0.0))]), self.dtype)[0]

    def _background_slices(self, n: int) -> None:
        for c, stream in enumerate(self.streams or []):
            one = np.full(self.full_shape[1:], self._background(c), dtype=self.dtype).tobytes()
            for _ in range(n):
                stream.write(one)

    # ------------------------------------------------------------ batches
    def _run(self, fn: Callable[..., None], *args: Any) -> None:
        if self._pool is None:
            fn(*args)
            return
        while self._pending and (self._pending[0].done() or len(self._pending) >= _MAX_PENDING):
            self._pending.pop(0).result()  # re-raises a failed batch here
        self._pending.append(self._pool.submit(fn, *args))

    def add(self, start: int, sr: np.ndarray) -> None:
        """SR slices ``(b, C, h', w')`` for prepared slices ``[start, start + b)`` (in order)."""
        if start != self._next:
            raise ValueError(f"batches must arrive in order: expected slice {self._next}, got {start}")
        self._next = start + sr.shape[0]
        self._run(self._add, start, sr)

    def write_whole(self, refined: np.ndarray) -> None:
        """The whole refined scan ``(C, *refined shape)`` in original units (``whole`` writers)."""
        if not self.whole or refined.shape[1:] != self.full_shape:
            raise ValueError(f"write_whole needs a whole writer and shape (C, {self.full_shape}), got {refined.shape}")
        if self.streams is not None:
            for c, stream in enumerate(self.streams):
                for k in range(refined.shape[1]):  # slice by slice: no second copy of the scan
                    stream.write(np.ascontiguousarray(to_output_dtype(refined[c, k], self.dtype)).tobytes())
        else:
            self.array = to_output_dtype(refined, self.dtype)
        self._next = len(self.prep.slices)

    def _add(self, start: int, sr: np.ndarray) -> None:
        for c in range(sr.shape[1]):
            full = restore_batch(sr, self.prep, c, self.dtype, start)
            if self.streams is not None:
                self.streams[c].write(np.ascontiguousarray(full).tobytes())
            else:
                region = slice(self.sb[0] + start, self.sb[0] + start + sr.shape[0])
                if self.prep.slicing_axis is None:
                    self.array[c] = full[0]
                else:
                    np.moveaxis(self.array[c], self.prep.slicing_axis, 0)[region] = full

    # ------------------------------------------------------------ end
    def close(self) -> Future:
        """Finish and rename the files (in the worker thread when there is one); returns a future."""
        if self._pool is None:
            fut: Future = Future()
            try:
                fut.set_result(self._close())
            except BaseException:
                self.abort()
                raise
            return fut
        fut = self._pool.submit(self._close_or_abort)
        self._pool.shutdown(wait=False)  # the thread ends after the queued work
        return fut

    def _close_or_abort(self) -> None:
        try:
            self._close()
        except BaseException:
            self._cleanup()
            raise

    def _close(self) -> None:
        if self._next != len(self.prep.slices):
            raise RuntimeError(f"only {self._next} of {len(self.prep.slices)} slices were written")
        if self.streams is not None:
            if not self.whole:
                self._background_slices(self.full_shape[0] - self.sb[1])
            for s in self.streams:
                s.finish()
            for s in self.streams:
                os.replace(s.part, s.final)
        elif self.files is not None:
            for c, f in enumerate(self.files):
                write_image(self.array[c], self.geometry, f)
        if self.after_write is not None and self._tmp is not None:
            self.after_write(self._tmp)
        self._cleanup()

    def abort(self) -> None:
        """Drop queued batches, wait for the running one, delete every temporary file."""
        if self._pool is not None:
            for f in self._pending:
                f.cancel()
            self._pool.shutdown(wait=True)
        self._cleanup()

    def _cleanup(self) -> None:
        for s in self.streams or []:
            if not s.fh.closed:
                s.fh.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def restore_case(sr_slices: np.ndarray, prep: PreparedCase, out_dtype: Optional[Any] = np.float32) -> np.ndarray:
    """De-normalise all SR slices ``(S, C, H, W)`` and paste them into the full refined field of view.

    The SR is clamped to [0, 1] first: the network was trained on that range and inputs were
    clipped to it, so overshoot beyond it (ringing) carries no information (no MR below 0, no CT
    below the window). Returns ``(C, *refined spatial)``; voxels outside the crop box get each
    channel's background value. ``out_dtype=None`` keeps the input's dtype (integers rounded and
    clipped).
    """
    w = CaseWriter(prep, None, None, prep.dtype if out_dtype is None else out_dtype)
    w.add(0, sr_slices)
    w.close()
    assert w.array is not None
    return w.array


__all__ = ["CaseWriter", "restore_batch", "restore_case", "remove_stale_partials", "MAX_NIFTI_DIM"]
