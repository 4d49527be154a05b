"""How many CPU threads PyTorch gets: the cores other processes leave free, and no more than pay off.

PyTorch starts one intra-op thread per core. Every operation then waits for its slowest thread,
so when another process takes one core, the thread sharing it stalls all the others: on a 2-core
machine one busy neighbour made training 3.7× slower with 2 threads, 1.0× with 1 — while alone,
2 threads were 17 % faster than 1. So the count follows the load that is actually there:

* **others**: the cores other processes use, measured over a window as the busy time of the
  cores this process may run on (``/proc/stat``) less this process's own CPU time, per wall
  second (:class:`LoadMeter`). Loader worker processes count as others: they take cores too.
* **threads** = the CPUs less ``ceil(others − MARGIN)``, between 1 and a cap; at start-up after
  :data:`FIRST_WINDOW` s of watching, then re-decided every :data:`CHECK_EVERY` s of training
  (:meth:`ThreadGovernor.check`, once per step) from the load during the steps themselves, with
  :data:`HYSTERESIS` so that it does not flap (:func:`decide`).
* **cap**: small networks do not scale to many cores. A short probe of the real training step
  times 1, 2, 4, … threads up to the free cores (going up while doubling still gains); when a
  larger count did not pay (within :data:`TOLERANCE` of the fastest), the fewest that did is the
  cap, otherwise the usable cores are.

Fixed counts: an explicit choice is always kept (``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` in
the environment, or a ``torch.set_num_threads`` call made by the caller); deterministic runs and
machines without ``/proc/stat`` take the usable cores less one, decided by the machine alone.

Interop threads are left alone: eager-mode training and prediction run one operation at a
time, so PyTorch's interop pool stays idle (it is only used by ``torch.jit.fork``).
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

logger = logging.getLogger(__name__)

#: PyTorch's own thread count, read before AutoSR changes it (one per physical core, or the
#: environment's OMP_NUM_THREADS).
TORCH_DEFAULT = torch.get_num_threads()
#: A larger count must be faster than this share of the fastest time to be chosen (on a 2-core
#: machine the probe showed 2 threads ~10 % faster than 1 where training steps were 20 % faster:
#: a 10 % tolerance gave that core away).
TOLERANCE = 0.05
#: Timed calls of the probe step per candidate count (after one warm-up call); the fastest counts.
PROBE_REPEATS = 3
ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Load of other processes (cores) ignored as noise: with ``k`` cores left free, one more is given
#: up above ``k + MARGIN`` (a busy process beside 2 threads on 2 cores got 0.3–0.7 of a core) …
MARGIN = 0.2
#: … and taken back only below ``k + MARGIN − HYSTERESIS``.
HYSTERESIS = 0.1
#: Seconds of watching the machine before the first choice, and between re-decisions while training.
FIRST_WINDOW, CHECK_EVERY = 0.4, 3.0

_chosen: Optional[int] = None  # the count this module set last (not a user's setting)


def explicit_setting() -> Optional[str]:
    """What the user set (``"OMP_NUM_THREADS=4"``, ``"torch.set_num_threads(3)"``), or None."""
    for var in ENV_VARS:
        if os.environ.get(var, "").strip():
            return f"{var}={os.environ[var].strip()}"
    current = torch.get_num_threads()
    if current not in (TORCH_DEFAULT, _chosen):
        return f"torch.set_num_threads({current})"
    return None


def cpus() -> List[int]:
    """The CPUs (logical) this process may run on: its affinity, e.g. a container's or ``taskset``'s."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def usable_cores() -> int:
    """Most threads worth running: the CPUs this process may use, at most PyTorch's default
    (physical cores: hyper-threads add little to convolutions)."""
    return max(1, min(len(cpus()), TORCH_DEFAULT))


def busy_seconds(stat: str, which: Sequence[int]) -> float:
    """CPU seconds the CPUs ``which`` have spent busy since boot, from ``/proc/stat``'s text:
    every column of their ``cpuN`` lines but idle and iowait (steal counts: a core the hypervisor
    gives another machine is no more ours than one another process takes)."""
    wanted, ticks = {f"cpu{i}" for i in which}, 0
    for line in stat.splitlines():
        name, *columns = line.split()
        if name in wanted:
            values = [int(c) for c in columns[:8]]
            ticks += sum(values) - values[3] - values[4]
    return ticks / os.sysconf("SC_CLK_TCK")


def read_proc_stat() -> str:
    with open("/proc/stat", encoding="ascii") as f:
        return f.read()


class LoadMeter:
    """Cores used by other processes between two readings (see the module docstring)."""

    def __init__(self, read_stat: Callable[[], str] = read_proc_stat,
                 clocks: Callable[[], Tuple[float, float]] = lambda: (time.perf_counter(), time.process_time()),
                 which: Optional[Sequence[int]] = None) -> None:
        self.read_stat, self.clocks, self.which = read_stat, clocks, list(which if which is not None else cpus())
        self.last = self.reading()  # raises OSError where there is no /proc/stat

    def reading(self) -> Tuple[float, float, float]:
        """(wall, busy CPU seconds of the machine's cores, this process's CPU seconds)."""
        busy = busy_seconds(self.read_stat(), self.which)
        wall, own = self.clocks()
        return wall, busy, own

    def others(self) -> float:
        """Cores other processes used on average since the last call (or creation)."""
        (wall0, busy0, own0), self.last = self.last, self.reading()
        wall, busy, own = (now - then for now, then in zip(self.last, (wall0, busy0, own0)))
        return max(0.0, (busy - own) / wall) if wall > 0 else 0.0


def decide(current: int, others: float, cores: int, cap: int) -> int:
    """Threads for ``others`` cores of load on ``cores`` CPUs: give up a core as soon as the load
    exceeds what the free ones take (plus :data:`MARGIN`), take one back only when it is clearly free."""
    keep = cores - math.ceil(others - MARGIN)
    take = cores - math.ceil(others - MARGIN + HYSTERESIS)
    n = keep if current > keep else take if current < take else current
    return max(1, min(n, cap))


def candidates(ceiling: int) -> List[int]:
    """1, 2, 4, … up to and including ``ceiling``."""
    counts = [1]
    while counts[-1] * 2 < ceiling:
        counts.append(counts[-1] * 2)
    return counts + ([ceiling] if ceiling > 1 else [])


def time_step(step: Callable[[], None], threads: int, repeats: int = PROBE_REPEATS) -> float:
    """Fastest of ``repeats`` calls of ``step`` on ``threads`` threads (after one warm-up call)."""
    torch.set_num_threads(threads)
    step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def pick(times: Dict[int, float], tolerance: float = TOLERANCE) -> int:
    """The smallest thread count whose time is within ``tolerance`` of the fastest."""
    fastest = min(times.values())
    return min(n for n, t in times.items() if t <= fastest * (1 + tolerance))


def probe_cap(step: Callable[[], None], limit: int) -> Tuple[int, str]:
    """The cap from timing ``step`` at 1, 2, 4, … up to ``limit`` threads, and what was measured.
    Only a count that did not pay sets a cap below the usable cores."""
    saved, times = torch.get_num_threads(), {}
    try:
        for n in candidates(limit):
            best = min(times.values(), default=math.inf)
            times[n] = time_step(step, n)
            if times[n] > best * (1 - TOLERANCE):  # no longer pays off: more threads will not either
                break
    finally:
        torch.set_num_threads(saved)
    n = pick(times)
    measured = ", ".join(f"{k}: {1000 * t:.0f} ms" for k, t in times.items())
    return (n if n < max(times) else usable_cores()), f"probe step {measured}"


def _set(n: int) -> None:
    global _chosen
    _chosen = n
    torch.set_num_threads(n)


class ThreadGovernor:
    """The thread count in force; :meth:`check` (call it once per training step) re-decides it
    from the other processes' load when a :class:`LoadMeter` is given, else the count is fixed."""

    def __init__(self, threads: int, reason: str, cap: int = 1, meter: Optional[LoadMeter] = None,
                 by_user: bool = False) -> None:
        self.threads, self.reason, self.cap, self.meter, self.by_user = threads, reason, cap, meter, by_user
        self.due = time.perf_counter() + CHECK_EVERY

    @property
    def adaptive(self) -> bool:
        return self.meter is not None

    def describe(self) -> str:
        return f"CPU threads: {self.threads} ({self.reason})"

    def check(self) -> None:
        """Every :data:`CHECK_EVERY` s: measure the others' load since the last check, and change
        the count when :func:`decide` says so (logged once per change)."""
        if self.meter is None or time.perf_counter() < self.due:
            return
        self.due = time.perf_counter() + CHECK_EVERY
        others = self.meter.others()
        n = decide(self.threads, others, len(self.meter.which), self.cap)
        if n != self.threads:
            logger.info("CPU threads: %d → %d (other processes now use %.1f core(s))", self.threads, n, others)
            self.threads = n
            _set(n)


def govern(step: Optional[Callable[[], None]] = None, adaptive: bool = True,
           meter_factory: Callable[[], LoadMeter] = LoadMeter) -> ThreadGovernor:
    """Choose the count (set and logged) and return the governor that keeps it up to date.

    Args:
        step: one representative unit of work (a training step on a synthetic batch) for the
            probe that caps the count; without it the usable cores are the cap.
        adaptive: follow the load (training); False: the usable cores less one, decided by the
            machine alone (deterministic runs, whose results may depend on the count).
    """
    explicit = explicit_setting()
    if explicit:
        governor = ThreadGovernor(torch.get_num_threads(), f"set by the user: {explicit}", by_user=True)
        logger.info(governor.describe())
        return governor
    cores, meter, why = usable_cores(), None, "deterministic run"
    if adaptive:
        try:
            meter = meter_factory()
        except OSError:  # no /proc/stat (not Linux)
            why = "no /proc/stat to watch the load"
    if meter is None:
        limit, why = max(1, cores - 1), f"{cores} usable core(s), one left free ({why})"
    else:
        time.sleep(FIRST_WINDOW)
        others = meter.others()
        limit = decide(cores, others, len(meter.which), cores)
        why = f"other processes use {others:.1f} of {len(meter.which)} core(s)"
    cap, measured = probe_cap(step, limit) if step is not None and limit > 1 else (cores, "")
    threads = min(limit, cap)
    why += f"; {measured}, at most {cap}" if measured else ""
    why += "; following the load" if meter else ""
    governor = ThreadGovernor(threads, f"{why}; set OMP_NUM_THREADS to fix", cap=cap, meter=meter)
    if meter is not None:
        meter.others()  # the next window starts now: not across the probe
    _set(threads)
    logger.info(governor.describe())
    return governor


__all__ = ["ThreadGovernor", "LoadMeter", "govern", "decide", "busy_seconds", "explicit_setting", "usable_cores",
           "candidates", "pick", "probe_cap", "time_step"]
