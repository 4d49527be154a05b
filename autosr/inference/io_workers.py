"""Overlap reading and writing of scans with inference (``-npp``).

Background *threads*, not processes: SimpleITK's readers/writers, gzip and NumPy release the
GIL, so a thread reads (and crops/normalises) the next scan and writes (de-normalises, pastes,
compresses) the previous one while the network runs, without pickling volumes between
processes. ``num_workers = 0`` runs everything in the calling thread, in order.

Shutdown on error or Ctrl-C cancels the queued reads and lets the accepted writes complete:
those scans were finished by the network. Every write is atomic
(:func:`autosr.imageio.write_image`: temporary name, then rename), so whatever stops the
process, no half-written output appears under a final name.
"""
from __future__ import annotations

import collections
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Deque, Iterable, Iterator, Optional, Tuple, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class _Done(Future):
    """A future that already holds a result or an exception (synchronous mode)."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        try:
            self.set_result(fn(*args))
        except Exception as exc:  # re-raised by .result(), as a real future would
            self.set_exception(exc)


class IOPipeline:
    """Prefetch up to ``num_workers`` inputs (a reader thread) and keep up to ``num_workers`` scans
    being written (each :class:`autosr.inference.writer.CaseWriter` has its own thread) while the
    network runs; ``num_workers = 0``: everything synchronous.

    On shutdown queued reads are cancelled while accepted writes complete.
    """

    def __init__(self, num_workers: int = 0) -> None:
        self.num_workers = max(0, int(num_workers))
        self._readers = ThreadPoolExecutor(1, thread_name_prefix="autosr-read") if self.num_workers else None
        self._reads: Deque[Future] = collections.deque()
        self._writes: Deque[Future] = collections.deque()

    @staticmethod
    def _submit(pool: Optional[ThreadPoolExecutor], fn: Callable[..., R], *args: Any) -> Future:
        return pool.submit(fn, *args) if pool is not None else _Done(fn, *args)

    def prefetch(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Tuple[T, R]]:
        """Yield ``(item, fn(item))`` in order, computing up to ``num_workers`` items ahead."""
        pending: Deque[Tuple[T, Future]] = collections.deque()
        ahead = max(1, self.num_workers)
        for item in items:
            fut = self._submit(self._readers, fn, item)
            self._reads.append(fut)
            pending.append((item, fut))
            if len(pending) > ahead or self._readers is None:
                first, fut = pending.popleft()
                yield first, fut.result()
        while pending:
            first, fut = pending.popleft()
            yield first, fut.result()

    def track(self, future: Future) -> None:
        """Count ``future`` (e.g. a case writer's close) among the writes :meth:`finish` waits for.

        At most ``num_workers`` scans are still being written while the next is predicted, so
        memory stays bounded when writing is slower than the network.
        """
        self._writes.append(future)
        while self._writes and (self._writes[0].done() or len(self._writes) > max(1, self.num_workers)):
            self._writes.popleft().result()

    def finish(self) -> None:
        """Wait for every write; re-raise the first error."""
        while self._writes:
            self._writes.popleft().result()

    def close(self) -> None:
        """Cancel queued reads, let accepted writes complete (finished scans), release the threads.

        Errors of writes nobody waited for are logged here (the first error is already on its way).
        """
        for fut in self._reads:
            fut.cancel()
        while self._writes:
            fut = self._writes.popleft()
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - reported, not raised over the original error
                logger.error("a scan could not be written: %s", exc)
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None

    def __enter__(self) -> "IOPipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["IOPipeline"]
