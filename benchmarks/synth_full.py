"""Time `hmrec data synth --scale full` and print its facts beside the real competition's.

    python benchmarks/synth_full.py                 # full scale (about 4 minutes on 2 cores)
    python benchmarks/synth_full.py --scale medium

Runs the real command line under `/usr/bin/time -v` (wall time and peak RSS), ingests the result
and prints `hmrec data report`. The bars: under 10 minutes and 12 GiB at full scale, every fact
within 25% of the real value.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from ingest_full import machine, parse_time


def main() -> None:
    parser = argparse.ArgumentParser(description="synthetic world benchmark")
    parser.add_argument("--scale", default="full")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    hmrec = str(Path(sys.executable).parent / "hmrec")
    raw, store = args.workdir / f"synth-{args.scale}", args.workdir / f"synth-{args.scale}-store"
    shutil.rmtree(raw, ignore_errors=True)
    print(f"machine: {machine()}")
    cmd = [
        "/usr/bin/time",
        "-v",
        hmrec,
        "data",
        "synth",
        "--scale",
        args.scale,
        "--seed",
        args.seed,
        "--out",
        str(raw),
        "-q",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seconds, peak = parse_time(done.stderr)
    print(done.stdout.strip())
    print(f"synth {args.scale}: {seconds:.0f} s wall, {peak:.2f} GiB peak RSS")
    subprocess.run(
        [hmrec, "data", "ingest", str(raw), "--data", str(store), "--force", "-q"], check=True, capture_output=True
    )
    subprocess.run([hmrec, "data", "report", "--data", str(store)], check=True)


if __name__ == "__main__":
    main()
