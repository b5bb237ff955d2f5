"""TDM's cost and quality bars (issue 13). Three parts, run separately (each prints one JSON object
with the machine and its load average before and after, since timings on a shared machine are
only indicative):

    python benchmarks/tdm.py cost [--device cpu|cuda] [--customers 256]
        beam search k=100 with random weights on trees of 8k, 30k, 105k and 1M leaves: nodes
        scored and ms per customer (the cost should grow with log N, not N)
    python benchmarks/tdm.py small --workdir /tmp/tdmbench
        `hmrec recall --method tdm` on synthetic small with an empty cache (fit + retrieve), timed
    python benchmarks/tdm.py quality --workdir /tmp/tdmbench [--scale medium] [--weeks 3] [--din]
        pooled over the last --weeks weeks: recall@100 and MAP@12 of popular, itemcf, als,
        youtube-dnn, sampled-softmax and tdm (beam), tdm with every leaf scored, tdm with a round of
        tree learning (kmeans, and greedy); with --din, DIN's pooled MAP@12 with and without tdm among its sources
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BASELINES = ("popular", "itemcf", "als", "youtube-dnn", "sampled-softmax")
TDM_VARIANTS = {
    "tdm": (),
    "tdm-exhaustive": ("search=exhaustive",),
    "tdm-kmeans-round": ("tree_rounds=1",),
    "tdm-greedy-round": ("tree_rounds=1", "tree_learning=greedy"),
}
DIN_SOURCES = "popular,repurchase,same-product,itemcf"


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"cores": os.cpu_count(), "cpu": cpu, "load_average": os.getloadavg()}


def hmrec(*args: str) -> tuple[dict, dict]:
    """Run the real command line under /usr/bin/time -v: (its --json output, wall s and peak GiB)."""
    command = ["/usr/bin/time", "-v", str(Path(sys.executable).parent / "hmrec"), *args, "--json", "-q"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"hmrec {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", done.stderr).group(1)
    seconds = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.split(":"))))
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 2**20
    return json.loads(done.stdout), {"wall_s": round(seconds, 1), "peak_rss_gib": round(peak, 2)}


def world(workdir: Path, scale: str) -> Path:
    """The synthetic world of `scale`, written and ingested once."""
    raw, store = workdir / f"raw-{scale}", workdir / f"store-{scale}"
    if not (store / "manifest.json").exists():
        subprocess.run(
            [
                str(Path(sys.executable).parent / "hmrec"),
                "data",
                "synth",
                "--scale",
                scale,
                "--out",
                str(raw),
                "--seed",
                "0",
                "-q",
            ],
            check=True,
        )
        subprocess.run(
            [str(Path(sys.executable).parent / "hmrec"), "data", "ingest", str(raw), "--data", str(store), "-q"],
            check=True,
        )
    return store


def cost(device: str, customers: int) -> dict:
    """Per-customer cost of beam search (k = beam = 100, b = 2) with random weights."""
    import numpy as np
    import torch
    from hmrec_plugins.tdm.beam import TreeOnDevice, beam_search
    from hmrec_plugins.tdm.model import NodeScorer, Shape
    from hmrec_plugins.tdm.tree import balanced_tree
    from hmrec_plugins.tdm.tree_learning import install

    dev = torch.device(device)
    torch.manual_seed(0)
    rows = []
    for n in (8_000, 30_000, 105_000, 1_000_000):
        tree = balanced_tree(lambda node, level, n=n: np.arange(n), n, 2)
        shape = Shape(n, tree.first_leaf, (50, 20, 10, 50, 30, 20, 11), (14, 4, 4, 3, 3), dense=5)
        codes = torch.randint(0, 10, (n + 1, 7))
        model = NodeScorer(
            shape, codes, torch.randint(0, 3, (customers, 5)), torch.zeros(tree.n_nodes, dtype=torch.long)
        ).to(dev)
        install(model, tree)
        model.eval()
        on = TreeOnDevice.of(tree, dev)
        items = torch.randint(0, n + 1, (customers, 20), device=dev)
        ages = torch.randint(1, 365, (customers, 20), device=dev)
        who, dense = torch.arange(customers, device=dev), torch.randn(customers, 5, device=dev)
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            table = model.node_table()
            beam_search(
                model, on, model.encode(items[:32], ages[:32], who[:32], dense[:32]), 100, 100, table
            )  # warm up
            if dev.type == "cuda":
                torch.cuda.synchronize()
            began = time.perf_counter()
            scored = 0
            for lo in range(0, customers, 256):
                part = slice(lo, lo + 256)
                found = beam_search(
                    model, on, model.encode(items[part], ages[part], who[part], dense[part]), 100, 100, table
                )
                scored = found.nodes_scored
            if dev.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - began
        rows.append(
            {
                "leaves": n,
                "depth": tree.depth,
                "nodes_scored_per_customer": scored,
                "ms_per_customer": round(1000 * seconds / customers, 3),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    ratio = rows[-1]["ms_per_customer"] / rows[-2]["ms_per_customer"]
    return {
        "device": device,
        "threads": torch.get_num_threads(),
        "customers": customers,
        "rows": rows,
        "1M_over_105k": round(ratio, 2),
    }


def small(workdir: Path) -> dict:
    store = world(workdir, "small")
    cache = workdir / "cache-small-tdm"
    subprocess.run(["rm", "-rf", str(cache)], check=True)
    out, usage = hmrec(
        "recall",
        "--method",
        "tdm",
        "--data",
        str(store),
        "--cache",
        str(cache),
        "--week",
        "last",
        "--k",
        "100",
        "--device",
        "cpu",
    )
    return {
        "command": f"hmrec recall --method tdm --data {store} --week last --k 100 --device cpu (empty cache)",
        **usage,
        "figures": out.get("figures"),
        "training": out.get("training"),
    }


def quality(workdir: Path, scale: str, weeks: int, din: bool) -> dict:
    store = world(workdir, scale)
    cache = workdir / f"cache-{scale}"
    result: dict = {}
    for name in (*BASELINES, *TDM_VARIANTS):
        method, options = (name, ()) if name in BASELINES else ("tdm", TDM_VARIANTS[name])
        opts = [x for o in options for x in ("-o", o)]
        out, usage = hmrec(
            "evaluate",
            "--candidates",
            method,
            *[x for o in options for x in ("-o", f"tdm:{o}")],
            "--weeks",
            str(weeks),
            "--week",
            "last",
            "--data",
            str(store),
            "--cache",
            str(cache),
        )
        result[name] = {"evaluate": out, **usage, "options": opts}
        print(json.dumps({name: usage}), file=sys.stderr, flush=True)
    if din:
        for label, sources in (("din", DIN_SOURCES), ("din+tdm", f"{DIN_SOURCES},tdm")):
            maps = []
            for back in range(weeks - 1, -1, -1):
                _, usage = hmrec(
                    "rank",
                    "--ranker",
                    "din",
                    "--candidates",
                    sources,
                    "--week",
                    str(back),
                    "--train-weeks",
                    "4",
                    "--data",
                    str(store),
                    "--cache",
                    str(cache),
                    "-o",
                    "negative_share=0.05",
                    "-o",
                    "epochs=5",
                )
                maps.append(usage)
            out, _ = hmrec(
                "evaluate",
                "--predictions",
                "din",
                "--weeks",
                str(weeks),
                "--week",
                "last",
                "--data",
                str(store),
                "--cache",
                str(cache),
            )
            result[label] = {"evaluate": out, "runs": maps}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="TDM benchmarks")
    parser.add_argument("part", choices=("cost", "small", "quality"))
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out/tdm"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--customers", type=int, default=256)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--din", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    before = machine()
    if args.part == "cost":
        result = cost(args.device, args.customers)
    elif args.part == "small":
        result = small(args.workdir)
    else:
        result = quality(args.workdir, args.scale, args.weeks, args.din)
    print(json.dumps({"machine": before, "load_after": os.getloadavg(), **result}, indent=2, default=str))


if __name__ == "__main__":
    main()
