"""Time every built-in retriever at full scale: fit + retrieve k=100 for the last week's buyers.

    python benchmarks/synth_full.py                      # once: writes and ingests the full world
    python benchmarks/retrievers_full.py --runs 3        # medians of 3 runs per method

Each run is the real command line (`hmrec recall --force`) under `/usr/bin/time -v`; printed per
method: median wall seconds, median peak RSS, recall@100 and MAP@12 of the set's own order.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from ingest_full import machine, parse_time

METHODS = ("popular", "repurchase", "same-product", "itemcf", "usercf", "als", "bpr")


def main() -> None:
    parser = argparse.ArgumentParser(description="retriever benchmark")
    parser.add_argument("--store", type=Path, default=Path("benchmarks/out/synth-full-store"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    hmrec = str(Path(sys.executable).parent / "hmrec")
    cache = args.store.parent / "bench-cache"
    print(f"machine: {machine()}\nstore: {args.store}")
    for method in args.methods.split(","):
        runs = []
        for _ in range(args.runs):
            cmd = [
                "/usr/bin/time",
                "-v",
                hmrec,
                "recall",
                "--method",
                method,
                "--data",
                str(args.store),
                "--cache",
                str(cache),
                "--k",
                "100",
                "--force",
                "--json",
                "-q",
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs.append((*parse_time(done.stderr), json.loads(done.stdout)["figures"]))
        f = runs[-1][2]
        print(
            f"{method:<13} median {statistics.median(r[0] for r in runs):6.1f} s  "
            f"peak {statistics.median(r[1] for r in runs):5.2f} GiB  recall@100 {f['recall@100']:.4f}  MAP@12 {f['map@12']:.4f}"
        )


if __name__ == "__main__":
    main()
