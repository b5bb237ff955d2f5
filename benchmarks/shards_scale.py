"""A measured model of customer shards: a submission in N = 1, 2, 4, 8 shards, one after the other.

Each job runs in a fresh Python process on a fresh cache folder (nothing carried between jobs),
as `hmrec submit --engine ray` does it: the shared fits once (`ray_engine.prefit_submission`),
then the N shards' parts one after the other (`build_submission(shard=...)`, each timed), then
the merge (`shard_merge.write_merged`). A plain unsharded `build_submission` is the baseline.

Printed, and written as JSON lines to WORKDIR/shards_scale.jsonl:
  - per job: the shared fit, each shard's seconds and customers, the merge, the total, peak RSS;
  - the fixed cost per shard: the intercept of shard seconds against shard customers
    (least squares over every shard of every job), and the seconds per 1,000 customers;
  - the projected wall time on N machines: fit + the slowest shard + merge;
  - the bar: the 2-shard job (its shards one after the other) against the plain run, <= 1.15x;
  - that every job's submission is byte-identical to the plain one.

    python benchmarks/shards_scale.py --workdir W --scale small [--ranker din] [--shards 1,2,4,8]
        [--candidates popular,repurchase,...] [--train-weeks 4] [-o key=value ...]

The default ranker options are the full pipeline's cpu profile for DIN (10% negatives, 32
purchases, 2 epochs, 2,000 validation buyers) with `score_top=100`. `--scale full` synthesizes the
full-size world (31.8M rows) in WORKDIR first: hours on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ingest_full import machine

DIN_CPU = ["negative_share=0.1", "history_length=32", "epochs=2", "valid_customers=2000", "score_top=100"]
SOURCES = "popular,repurchase,same-product,itemcf,als"
BAR = 1.15


def prepared_store(workdir: Path, scale: str) -> Path:
    """The world of `scale`, synthesized and ingested once into WORKDIR/<scale>/hm."""
    from hmrec_cli.data.ingest import ingest, locate_sources
    from hmrec_cli.synth.world import SCALES, synthesize

    raw, store = workdir / scale / "raw", workdir / scale / "hm"
    if not (store / "manifest.json").exists():
        if not (raw / "transactions_train.csv").exists():
            synthesize(raw, SCALES[scale], seed=0)
        ingest(locate_sources(raw, {}), store)
    return store


def job(store: Path, cache: Path, out: Path, shards: int, args) -> dict:
    """One submission: plain (shards 0) or the shared fits, `shards` parts one after the other, the merge."""
    from hmrec_cli.pipeline.ray_engine import prefit_submission
    from hmrec_cli.pipeline.shard_merge import write_merged
    from hmrec_cli.pipeline.shards import Shard
    from hmrec_cli.pipeline.submission import RankWith, build_submission
    from hmrec_cli.project_config import ProjectConfig

    kwargs = dict(
        data=store,
        cache_dir=cache,
        methods=args.candidates.split(","),
        options=args.option or (DIN_CPU if args.ranker == "din" else []),
        seed=0,
        rank_with=RankWith(args.ranker, args.train_weeks),
        command=None,
        device="cpu",
        resume=False,
        config=ProjectConfig(),
        drop_bought="auto",
        customers=None,
    )
    quiet = lambda stage, done, total: None  # noqa: E731
    began = time.perf_counter()
    if shards == 0:
        written = build_submission(**kwargs, out=out, on_progress=quiet)
        return {"shards": 0, "total_s": time.perf_counter() - began, "customers": written.rows, **peak()}
    prefit_submission(kwargs, quiet)
    fit = time.perf_counter() - began
    parts, seconds, customers = [], [], []
    for i in range(shards):
        start = time.perf_counter()
        part = out.with_name(f"{out.stem}-part{i}.csv")
        customers.append(build_submission(**kwargs, out=part, on_progress=quiet, shard=Shard(i, shards)).rows)
        seconds.append(time.perf_counter() - start)
        parts.append(part)
    start = time.perf_counter()
    write_merged(store, parts, out)
    merge = time.perf_counter() - start
    return {
        "shards": shards,
        "fit_s": fit,
        "shard_s": seconds,
        "shard_customers": customers,
        "merge_s": merge,
        "total_s": time.perf_counter() - began,
        "projected_wall_s": fit + max(seconds) + merge,
        **peak(),
    }


def peak() -> dict:
    return {"peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def model(jobs: list[dict]) -> dict:
    """Shard seconds = fixed + per_customer * customers, least squares over every shard of every job."""
    x = np.array([c for j in jobs for c in j["shard_customers"]], dtype=float)
    y = np.array([s for j in jobs for s in j["shard_s"]])
    slope, fixed = np.polyfit(x, y, 1)
    return {"fixed_s_per_shard": float(fixed), "s_per_1000_customers": float(slope * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out/shards"))
    parser.add_argument("--scale", choices=("tiny", "small", "medium", "full"), default="small")
    parser.add_argument("--shards", default="1,2,4,8")
    parser.add_argument("--ranker", default="din")
    parser.add_argument("--candidates", default=SOURCES)
    parser.add_argument("--train-weeks", type=int, default=4)
    parser.add_argument(
        "-o", "--option", action="append", help="key=value for the ranker, source:key=value (replaces the defaults)"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one job, in its own process
    args = parser.parse_args()
    store = prepared_store(args.workdir, args.scale)
    run_dir = args.workdir / args.scale
    if args.child is not None:
        name = f"n{args.child}"
        result = job(store, run_dir / f"cache-{name}", run_dir / f"submission-{name}.csv", args.child, args)
        print(json.dumps(result))
        return
    load = os.getloadavg()
    print(f"{machine()}; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; scale {args.scale}; ranker {args.ranker}")
    jobs = []
    for n in [0, *(int(s) for s in args.shards.split(","))]:
        for stale in run_dir.glob(f"cache-n{n}"):  # a fresh cache: each job fits everything itself
            subprocess.run(["rm", "-rf", str(stale)], check=True)
        child = [sys.executable, __file__, "--workdir", str(args.workdir), "--scale", args.scale, "--child", str(n)]
        child += ["--shards", args.shards, "--ranker", args.ranker, "--candidates", args.candidates]
        child += ["--train-weeks", str(args.train_weeks), *(w for o in args.option or [] for w in ("-o", o))]
        done = subprocess.run(child, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"job with {n} shards failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        same = (run_dir / f"submission-n{n}.csv").read_bytes() == (run_dir / "submission-n0.csv").read_bytes()
        result["identical_to_plain"] = same
        jobs.append(result)
        print(json.dumps(result))
    plain, sharded = jobs[0], jobs[1:]
    summary = {
        "machine": machine(),
        "load": load,
        "scale": args.scale,
        "ranker": args.ranker,
        "plain_s": plain["total_s"],
        **model(sharded),
        "projected_wall_s": {j["shards"]: j["projected_wall_s"] for j in sharded},
        "all_identical": all(j["identical_to_plain"] for j in sharded),
    }
    two = next((j for j in sharded if j["shards"] == 2), None)
    if two is not None:
        summary["two_shards_over_plain"] = two["total_s"] / plain["total_s"]
        summary["bar_met"] = summary["two_shards_over_plain"] <= BAR
    print(json.dumps(summary))
    with open(run_dir / "shards_scale.jsonl", "a") as log:
        for line in [*jobs, summary]:
            log.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
