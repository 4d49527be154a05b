"""Run one function over cases in worker processes with a progress bar (shared by fingerprint and preprocess)."""
from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Dict, List, Sequence, Tuple

from tqdm import tqdm

logger = logging.getLogger(__name__)


def _init_worker() -> None:
    """One thread per worker: ``-np`` alone decides how many cores are used."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        import SimpleITK as sitk
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    except Exception:  # pragma: no cover - SimpleITK is a hard dependency, but never fail here
        pass


#: Imported once by the fork server, so every worker starts with them loaded.
PRELOAD = ["numpy", "scipy.ndimage", "SimpleITK", "nibabel", "autosr.fingerprint", "autosr.preprocessing.preprocess",
           "autosr.preprocessing.paired"]


def _context() -> multiprocessing.context.BaseContext:
    """*forkserver* where available, else *spawn*; never plain *fork*.

    Forking a process that already ran ITK or PyTorch thread pools can deadlock the child. The
    fork server is a fresh single-threaded process that has imported :data:`PRELOAD` (and not
    the caller's ``__main__``, so scripts read from stdin or notebooks work); each worker is a
    cheap fork of it, instead of a new interpreter re-importing everything (≈1 s per worker).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def run_cases(fn: Callable[..., Any], jobs: Sequence[Tuple[str, tuple]], num_processes: int = 1,
              desc: str = "cases") -> Dict[str, Any]:
    """``{name: fn(*args)}`` for each ``(name, args)`` job, ``num_processes`` at a time.

    With one process the jobs run here (simplest to debug). Otherwise a process pool, see
    :func:`_context`. The first failure cancels the jobs not yet started and is raised; finished
    jobs are kept by the caller's own atomic writes.
    """
    results: Dict[str, Any] = {}
    num_processes = max(1, int(num_processes))
    bar = tqdm(total=len(jobs), desc=desc, unit="case", disable=None, leave=False)
    try:
        if num_processes == 1 or len(jobs) <= 1:
            for name, args in jobs:
                results[name] = fn(*args)
                bar.update(1)
            return results
        ctx = _context()
        with ProcessPoolExecutor(max_workers=min(num_processes, len(jobs)), mp_context=ctx,
                                 initializer=_init_worker) as pool:
            futures: Dict[Future, str] = {pool.submit(fn, *args): name for name, args in jobs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    exc = fut.exception()
                    if exc is not None:
                        for other in pending:
                            other.cancel()
                        raise exc
                    results[futures[fut]] = fut.result()
                    bar.update(1)
        return results
    finally:
        bar.close()


def ordered(results: Dict[str, Any], names: List[str]) -> List[Any]:
    """``results`` in the order of ``names``."""
    return [results[n] for n in names]
