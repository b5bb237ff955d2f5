"""Time `hmrec data ingest` on Kaggle-sized files (31.8M transaction rows) and report peak memory.

    python benchmarks/ingest_full.py                    # full scale, 3 runs
    python benchmarks/ingest_full.py --scale small --runs 5

Writes the synthetic world once into --workdir (3.3 GB of CSV at full scale), then runs the real
command line under `/usr/bin/time -v` and prints the machine, each run and the medians. The bars
the project holds itself to: under 2 minutes and under 8 GiB peak RSS on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from hmrec_cli.synth.world import SCALES, synthesize


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def packages() -> dict[str, str]:
    """hmrec's and each required library's installed version: dependencies are ranges, so a fresh
    install can move a figure, and a report must say what it ran on."""
    from importlib import metadata

    from hmrec_cli.cli.doctor import REQUIRED

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {name: version(name) for name in ("hmrec", *REQUIRED)}


def timed_ingest(raw: Path, store: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS GiB) of one forced ingest, measured by /usr/bin/time -v."""
    hmrec = Path(sys.executable).parent / "hmrec"
    cmd = ["/usr/bin/time", "-v", str(hmrec), "data", "ingest", str(raw), "--data", str(store), "--force", "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_time(done.stderr)


def parse_time(report: str) -> tuple[float, float]:
    """(wall seconds, peak RSS GiB) from the output of `/usr/bin/time -v`."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", report).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))
    return seconds, peak_kib / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description="ingest benchmark")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    raw = args.workdir / f"synth-{args.scale}"  # shared with synth_full.py
    if not (raw / "transactions_train.csv").is_file():
        start = time.perf_counter()
        synthesize(raw, SCALES[args.scale], seed=0)
        print(f"wrote the {args.scale} synthetic world in {time.perf_counter() - start:.0f} s")
    size_gb = (raw / "transactions_train.csv").stat().st_size / 1e9
    rows = sum(1 for _ in open(raw / "transactions_train.csv", "rb")) - 1
    print(f"machine: {machine()}")
    print(f"input: {raw}/transactions_train.csv, {rows:,} rows, {size_gb:.2f} GB")
    results = [timed_ingest(raw, args.workdir / f"store-{args.scale}") for _ in range(args.runs)]
    for i, (seconds, peak) in enumerate(results, 1):
        print(f"run {i}: {seconds:6.1f} s  peak RSS {peak:5.2f} GiB")
    print(
        f"median: {statistics.median(s for s, _ in results):.1f} s wall, "
        f"{statistics.median(p for _, p in results):.2f} GiB peak RSS "
        f"({rows / statistics.median(s for s, _ in results) / 1e6:.2f}M rows/s)"
    )


if __name__ == "__main__":
    main()
