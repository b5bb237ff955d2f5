"""Data-parallel training throughput: DIN's step (benchmarks/din_step.py) under torchrun at 1 and
2 workers, gloo on the CPU, NCCL with --device cuda (one GPU per worker).

    python benchmarks/ddp_step.py [--runs 1x1,1x2,2x1] [--device cpu] [--rows 100000] [--epochs 2]

A run `WxT` is W workers of T torch threads each (OMP_NUM_THREADS; on CUDA T is ignored). Each
prints din_step's JSON line: examples/s of all ranks together per epoch (the first includes
warm-up). 1x1 beside 2x1 is the data-parallel speed-up on the same cores per rank; 1x2 beside 2x1
is one machine's cores used by threads or by processes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

STEP = Path(__file__).with_name("din_step.py")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="1x1,1x2,2x1")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    args = parser.parse_args()
    for run in args.runs.split(","):
        workers, threads = (int(x) for x in run.split("x"))
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={workers}"]
        command += [str(STEP), "--device", args.device, "--rows", str(args.rows), "--epochs", str(args.epochs)]
        command += ["--batch-size", str(args.batch_size)]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        line = json.loads(out.strip().splitlines()[-1])
        print(json.dumps({"benchmark": "ddp_step", "workers": workers, **line}), flush=True)


if __name__ == "__main__":
    main()
