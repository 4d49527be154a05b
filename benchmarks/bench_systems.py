"""Parameter counts of the papers' systems at the papers' sizes, next to MIASSR's Table 1.

    python benchmarks/bench_systems.py [--in_channels 1]

A fixed-scale system counts every model it needs for scales in (1, 4] (×2, ×3 and ×4), as MIASSR's
Table 1 does; an arbitrary-scale system and MDSR count one.
"""
from __future__ import annotations

import argparse

from autosr.systems import SYSTEMS, parameter_count

#: MIASSR Table 1 (millions); systems it does not list have none.
TABLE1 = {"SRGAN": 4.5, "EDSR": 127.5, "ESRGAN-L1": 30.2, "MDSR": 6.7, "RDN": 17.2, "SRDenseNet": 30.4,
          "MetaRDN": 5.8, "MIASSR": 1.5}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--in_channels", type=int, default=1)
    args = p.parse_args()
    print(f"{'system':<16} {'models':>6} {'AutoSR (M)':>10} {'per model':>10} {'MIASSR Table 1':>15}  note")
    for name, system in SYSTEMS.items():
        total, one = parameter_count(system, args.in_channels)
        models = 3 if system.per_scale_models else 1
        paper = f"{TABLE1[name]:.1f}" if name in TABLE1 else "–"
        print(f"{name:<16} {models:>6} {total / 1e6:>10.2f} {one / 1e6:>10.2f} {paper:>15}  {system.note}")


if __name__ == "__main__":
    main()
