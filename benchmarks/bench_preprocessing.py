"""Benchmark: ``autosr_plan_and_preprocess`` with ``-np 1`` versus ``-np 2``.

Runs fingerprint + plans + preprocessing of every development dataset built from
``../shared/data`` (tests/planning/dev_data.py; synthetic phantoms when the folder is absent)
into fresh temporary folders, ``--repeats`` times per setting, and prints the best times and
the ratio. All datasets go through one call, as ``autosr_plan_and_preprocess -d 101 102 … -np N``
does, so the cases of every dataset share the worker pool (most dev datasets have one case).

    python benchmarks/bench_preprocessing.py [--repeats 2] [--keep DIR]
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autosr.preprocessing.api import plan_and_preprocess_many  # noqa: E402
SHARED_DATA = REPO.parent / "shared" / "data"     # as tests/conftest.py (not imported: it loads pytest)


def build_raw(root: Path) -> List[str]:
    """Raw datasets to benchmark: the dev datasets, or synthetic phantoms without ../shared/data."""
    if SHARED_DATA.is_dir():
        from tests.planning.dev_data import build_dev_datasets
        return [f.name for f in build_dev_datasets(SHARED_DATA, root).values()]
    from tests.synthetic import make_raw_dataset
    print("../shared/data not found: benchmarking synthetic phantoms instead")
    return [make_raw_dataset(root, i, f"Synth{i}", n_cases=8, shape=(24, 160, 160)).name for i in (1, 2)]


def run(raw: Path, names: List[str], num_processes: int, keep: Path | None) -> float:
    """Seconds of one fingerprint + plan + preprocess run of every dataset into a fresh folder."""
    pre = Path(tempfile.mkdtemp(prefix=f"autosr-bench-np{num_processes}-"))
    try:
        t0 = time.perf_counter()
        plan_and_preprocess_many(names, num_processes=num_processes, raw_folder=raw, preprocessed_folder=pre)
        return time.perf_counter() - t0
    finally:
        if keep:
            shutil.copytree(pre, keep / f"np{num_processes}", dirs_exist_ok=True)
        shutil.rmtree(pre, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting; the best is kept (default 2)")
    parser.add_argument("--keep", type=Path, default=None, help="copy the preprocessed output here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    raw = Path(tempfile.mkdtemp(prefix="autosr-bench-raw-"))
    try:
        names = build_raw(raw)
        print(f"{len(names)} dataset(s): {', '.join(names)}; {os.cpu_count()} CPU(s), load average "
              f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")
        runs: Dict[int, List[float]] = {1: [], 2: []}
        run(raw, names[:1], 2, None)                     # start the fork server outside the timing
        for _ in range(args.repeats):
            for n in (1, 2):                              # interleaved, so load changes hit both alike
                runs[n].append(run(raw, names, n, args.keep))
        t1, t2 = min(runs[1]), min(runs[2])
        print("runs (s): " + "; ".join(f"-np {n}: " + ", ".join(f"{t:.2f}" for t in ts) for n, ts in runs.items()))
        print(f"-np 1: {t1:.2f} s   -np 2: {t2:.2f} s   ratio (np1/np2): {t1 / t2:.2f}")
        load = os.getloadavg()[0]
        if load >= (os.cpu_count() or 1):
            print(f"note: load average {load:.1f} on {os.cpu_count()} CPU(s) during the runs: other work held the "
                  f"CPUs, so a second worker had little to run on; re-run on an idle machine")
    finally:
        shutil.rmtree(raw, ignore_errors=True)


if __name__ == "__main__":
    main()
