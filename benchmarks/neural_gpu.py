"""GPU figures of the neural retrievers (run by benchmarks/gpu_check.sh; works on a CPU too,
where it says so and the figures are CPU figures).

    python benchmarks/neural_gpu.py --data STORE --out results.jsonl [--methods youtube-dnn,sampled-softmax,hsoftmax]

1. Exact top-100 of random user vectors (1,371,980 x 64) against random article vectors
   (105,542 x 64) with `hmrec_cli.toolkit.ann.top_k_on_device`: the raw search cost (the issue's bar
   quotes ~1.4 s on an H100).
2. Per method: `hmrec recall --method M -o epochs=1 --customers all --k 100 --device cuda` on
   the store: the training log's epoch seconds (one epoch over the 8 training weeks' buyers),
   the fit seconds (examples built + the epoch) and the retrieval seconds for every customer
   (the run's seconds minus the fit, writing the candidates included), peak host memory.
Each result is one JSON line appended to --out as soon as it is measured, so a run cut short
keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from hmrec_cli.toolkit.ann import top_k_on_device
from hmrec_cli.toolkit.training import resolve_device


def emit(out: Path, record: dict) -> None:
    print(json.dumps(record), flush=True)
    with out.open("a") as f:
        f.write(json.dumps(record) + "\n")


def raw_top_k(device: torch.device, users: int, items: int, out: Path) -> None:
    generator = torch.Generator(device="cpu").manual_seed(0)
    u = torch.randn(users, 64, generator=generator).to(device)
    v = torch.randn(items, 64, generator=generator).to(device)
    top_k_on_device(u[:4096], v, 100)  # warm-up (kernels, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    values, index = top_k_on_device(u, v, 100, chunk=16384)
    if device.type == "cuda":
        torch.cuda.synchronize()
    emit(
        out,
        {
            "figure": "exact top-100, random vectors",
            "device": device.type,
            "users": users,
            "items": items,
            "seconds": round(time.perf_counter() - start, 3),
            "shape": list(index.shape),
        },
    )


def recall_all(data: Path, cache: Path, method: str, device: str, out: Path) -> None:
    hmrec = str(Path(sys.executable).parent / "hmrec")
    command = [
        "/usr/bin/time",
        "-v",
        hmrec,
        "recall",
        "--method",
        method,
        "--data",
        str(data),
        "--cache",
        str(cache),
        "--customers",
        "all",
        "--k",
        "100",
        "--device",
        device,
        "-o",
        "epochs=1",
        "--force",
        "--json",
        "-q",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        emit(out, {"figure": f"{method} recall --customers all", "error": done.stderr[-2000:]})
        return
    m = json.loads(done.stdout)
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 2**20
    epochs = m.get("training", {}).get("epochs", [])
    emit(
        out,
        {
            "figure": f"{method}: one epoch over the training weeks, then retrieval for every customer at k=100",
            "device": m.get("device"),
            "customers": m["customer_count"],
            "examples": m.get("training", {}).get("examples"),
            "pairs": m.get("training", {}).get("pairs"),
            "epoch_s": round(epochs[0]["seconds"], 1) if epochs else None,
            "fit_s": m["fit_seconds"],
            "retrieve_s": round(m["seconds"] - m["fit_seconds"], 1),
            "total_s": m["seconds"],
            "peak_rss_gib": round(peak, 2),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/out/gpu-cache"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/gpu.jsonl"))
    parser.add_argument("--methods", default="sampled-softmax,youtube-dnn,hsoftmax")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--users", type=int, default=1_371_980)
    parser.add_argument("--items", type=int, default=105_542)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device, lambda message: print(f"warning: {message}", file=sys.stderr))
    users = args.users if device.type == "cuda" else min(args.users, 20_000)  # all customers would take hours on a CPU
    raw_top_k(device, users, args.items, args.out)
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        recall_all(args.data, args.cache, method, args.device, args.out)


if __name__ == "__main__":
    main()
