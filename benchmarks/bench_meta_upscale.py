"""Time and peak memory of the Meta-Upscale against the EDSR-lite body it sits on (CPU).

    python3 benchmarks/bench_meta_upscale.py [--threads N] [--size 128] [--scales 2 2.5 3.3 4]
    python3 benchmarks/bench_meta_upscale.py --scales 2,2 1,4 1.5,3.3 2.5,1     # one scale per axis (rows,cols)

The paper's generator (width 64, depth 16, MLP 256, one channel) runs a ``size×size`` slice in
``torch.inference_mode``. Components: *body* (EDSR-lite, ``forward_features``), *upscale*
(Meta-Upscale on a ``(1, 64, size, size)`` feature map) and *generator* (both).

Time: median of ``--repeats`` runs after one warm-up; the three components are timed in
interleaved order so that load drifting on a shared machine biases them alike. ``--clock cpu``
measures the process CPU time instead of wall time: with ``--threads 1`` it is insensitive to
other processes competing for the cores (with more threads it also counts OpenMP spin-waits).

Peak memory: each (component, scale) runs once in a fresh subprocess. The model, the input (and,
for the upscale alone, a random feature map) are built first and the component is warmed up on a
full-size input once, so thread pools, primitive caches and lazily initialised kernels belong to
the baseline (what repeated inference pays once). Then
the kernel's resident-set high-water mark is reset (``/proc/self/clear_refs`` ← 5) and the
reported peak is ``VmHWM`` after one run minus ``VmRSS`` before it: the extra resident memory the
component needed, its output included, weights and input excluded. ``MALLOC_MMAP_THRESHOLD_`` is
fixed at 64 KiB in the child so freed tensors go back to the OS instead of lingering in the heap
(a lingering heap would hide later allocations). Where ``clear_refs`` is unavailable the script
falls back to the increase of ``ru_maxrss`` and says so.

A scale ``SH,SW`` refines rows by ``SH`` and columns by ``SW``; then the generator is built with a
per-axis Meta-Upscale (``per_axis_scale=True``, MLP input ``(R_i, R_j, 1/s_i, 1/s_j)``).

Targets (printed next to the figures): upscale time ≤ 10 % of the body's; upscale peak memory
≤ 1.5× the body's.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple, Union

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from autosr.networks.meta_sr import MetaSRGenerator  # noqa: E402

COMPONENTS = ("body", "upscale", "generator")
TIME_TARGET = 0.10
MEMORY_TARGET = 1.5


def _build(channels: int, per_axis: bool = False) -> MetaSRGenerator:
    torch.manual_seed(0)
    return MetaSRGenerator(channels, width=64, depth=16, mlp_hidden=256, per_axis_scale=per_axis).eval()


def _scale(text: str) -> Union[float, Tuple[float, float]]:
    """``"2.5"`` → 2.5, ``"1,4"`` → (1.0, 4.0)."""
    parts = [float(v) for v in text.split(",")]
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _runner(model: MetaSRGenerator, component: str, size: int, channels: int, scale) -> Callable[[], object]:
    x = torch.rand(1, channels, size, size)
    if component == "body":
        return lambda: model.forward_features(x)
    if component == "upscale":
        feats = torch.randn(1, model.body.width, size, size)
        return lambda: model.upscaler(feats, scale)
    return lambda: model(x, scale)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def measure_peak(component: str, scale, size: int, channels: int, threads: int, per_axis: bool
                 ) -> Dict[str, object]:
    """Child-process side: extra resident memory (KiB) of one run of ``component``."""
    torch.set_num_threads(threads)
    model = _build(channels, per_axis)
    with torch.inference_mode():
        run = _runner(model, component, size, channels, scale)
        run()  # warm-up: thread pools, oneDNN primitive caches, lazily initialised kernels
        try:
            with open("/proc/self/clear_refs", "w", encoding="utf-8") as fh:
                fh.write("5")
            before, method = _status_kb("VmRSS"), "VmHWM"
        except OSError:
            before, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
        out = run()
        peak = _status_kb("VmHWM") if method == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        del out
    return {"peak_kib": max(0, peak - before), "method": method}


def peak_in_subprocess(component: str, scale: str, args: argparse.Namespace) -> Dict[str, object]:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, __file__, "--_peak", component, "--scales", scale, "--size", str(args.size),
           "--channels", str(args.channels), "--threads", str(args.threads)] + (["--_per_axis"] if args.per_axis else [])
    res = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def time_components(model: MetaSRGenerator, scale: float, args: argparse.Namespace) -> Dict[str, float]:
    """Median time (s) of each component, runs interleaved."""
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    runs = {c: _runner(model, c, args.size, args.channels, scale) for c in COMPONENTS}
    times: Dict[str, List[float]] = {c: [] for c in COMPONENTS}
    with torch.inference_mode():
        for c in COMPONENTS:
            runs[c]()
        for _ in range(args.repeats):
            for c in COMPONENTS:
                t0 = clock()
                runs[c]()
                times[c].append(clock() - t0)
    return {c: statistics.median(v) for c, v in times.items()}


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", nargs="+", default=["2", "2.5", "3.3", "4"],
                    help="scales, each S or SH,SW (rows, columns)")
    ap.add_argument("--size", type=int, default=128, help="LR slice size (pixels per side)")
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall time or process CPU time")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    ap.add_argument("--_peak", choices=COMPONENTS, help=argparse.SUPPRESS)
    ap.add_argument("--_per_axis", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.per_axis = args._per_axis or any("," in s for s in args.scales)
    if args._peak:
        print(json.dumps(measure_peak(args._peak, _scale(args.scales[0]), args.size, args.channels, args.threads,
                                      args.per_axis)))
        return 0

    torch.set_num_threads(args.threads)
    model = _build(args.channels, args.per_axis)
    print(f"Meta-Upscale vs EDSR-lite body: {args.size}×{args.size}×{args.channels} slice, width 64, depth 16, "
          f"CPU, {args.threads} thread(s), torch {torch.__version__}, median {args.clock} time of {args.repeats}")
    head = (f"{'scale':>5} {'path':>17} | {'body ms':>8} {'up ms':>7} {'gen ms':>8} {'up/body':>8} "
            f"(≤{TIME_TARGET:.0%}) | {'body MiB':>8} {'up MiB':>7} {'gen MiB':>8} {'up/body':>7} (≤{MEMORY_TARGET}×)")
    print(head)
    print("-" * len(head))
    all_ok, method = True, None
    for text in args.scales:
        scale = _scale(text)
        plan = model.upscaler.plan(1, args.size, args.size, scale)
        path = "hidden" if plan["path"] == "hidden" else "/".join(plan["modes"])
        t = time_components(model, scale, args)
        t_ratio = t["upscale"] / t["body"]
        ok = t_ratio <= TIME_TARGET
        line = (f"{text:>5} {path:>17} | {t['body'] * 1e3:8.1f} {t['upscale'] * 1e3:7.1f} "
                f"{t['generator'] * 1e3:8.1f} {t_ratio:8.1%} {'ok' if t_ratio <= TIME_TARGET else 'MISS':>6}")
        if not args.no_memory:
            mem = {c: peak_in_subprocess(c, text, args) for c in COMPONENTS}
            method = mem["body"]["method"]
            mib = {c: mem[c]["peak_kib"] / 1024 for c in COMPONENTS}
            m_ratio = mib["upscale"] / max(mib["body"], 1e-9)
            ok = ok and m_ratio <= MEMORY_TARGET
            line += (f" | {mib['body']:8.1f} {mib['upscale']:7.1f} {mib['generator']:8.1f} {m_ratio:6.2f}× "
                     f"{'ok' if m_ratio <= MEMORY_TARGET else 'MISS':>5}")
        all_ok = all_ok and ok
        print(line, flush=True)
    if method:
        print(f"peak memory = extra resident memory of one run in a fresh process ({method})")
    print("all targets met" if all_ok else "some targets missed")
    return 1 if args.check and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
