"""A measured model of customer shards: a submission in N = 1, 2, 4, 8 shards, one after the other.

Two fresh Python processes on fresh cache folders: the plain unsharded `build_submission` (the
baseline), and the sharded job as `hmrec submit --engine ray` runs it: the shared fits once
(`ray_engine.prefit_submission`), then for each N the N shards' parts one after the other
(`build_submission(shard=...)`, each timed) and their merge (`shard_merge.write_merged`). The fits
do not depend on N, so one fit serves every N (each N's shards are new cache entries, scored anew).

Printed, and written as JSON lines to WORKDIR/<scale>/shards_scale.jsonl:
  - the shared fit's seconds; per N each shard's seconds and customers, the merge, the N-shard job's
    total (fit + its shards + merge), peak RSS;
  - the fixed cost per shard: the intercept of shard seconds against shard customers
    (least squares over every shard of every N), and the seconds per 1,000 customers;
  - the projected wall time on N machines: fit + the slowest shard + merge;
  - the bar: the 2-shard job (its shards one after the other) against the plain run, <= 1.15x;
  - that every N's submission is byte-identical to the plain one.

    python benchmarks/shards_scale.py --workdir W --scale small [--ranker din] [--shards 1,2,4,8]
        [--candidates popular,repurchase,...] [--train-weeks 4] [-o key=value ...]

The default ranker options are the full pipeline's cpu profile for DIN (10% negatives, 32
purchases, 2 epochs, 2,000 validation buyers) with `score_top=100`; `-o` replaces them. `--scale
full` synthesizes the full-size world (31.8M rows) in WORKDIR first: hours on 2 cores.
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


def submission_kwargs(store: Path, cache: Path, args) -> dict:
    from hmrec_cli.pipeline.plugin_params import resolve
    from hmrec_cli.pipeline.submission import RankWith
    from hmrec_cli.project_config import ProjectConfig

    methods = tuple(args.candidates.split(","))
    options = args.option or (DIN_CPU if args.ranker == "din" else [])
    return dict(
        data=store,
        cache_dir=cache,
        methods=methods,
        plugins=resolve(options, ProjectConfig(), methods, args.ranker, args.train_weeks),
        seed=0,
        rank_with=RankWith(args.ranker, args.train_weeks),
        command=None,
        device="cpu",
        resume=False,
        drop_bought="auto",
        customers=None,
    )


def quiet(stage: str, done: int, total: int) -> None:
    """No progress output: the benchmark prints its own lines."""


def plain_job(store: Path, run_dir: Path, args) -> dict:
    """The unsharded submission, fits included."""
    from hmrec_cli.pipeline.submission import build_submission

    began = time.perf_counter()
    out = run_dir / "submission-plain.csv"
    written = build_submission(**submission_kwargs(store, run_dir / "cache-plain", args), out=out, on_progress=quiet)
    return {"job": "plain", "total_s": time.perf_counter() - began, "customers": written.rows, **peak()}


def sharded_job(store: Path, run_dir: Path, args) -> list[dict]:
    """The shared fits once, then for each N its shards one after the other and their merge."""
    from hmrec_cli.pipeline.ray_engine import prefit_submission
    from hmrec_cli.pipeline.shard_merge import write_merged
    from hmrec_cli.pipeline.shards import Shard
    from hmrec_cli.pipeline.submission import build_submission

    kwargs = submission_kwargs(store, run_dir / "cache-sharded", args)
    began = time.perf_counter()
    prefit_submission(kwargs, quiet)
    fit = time.perf_counter() - began
    results = [{"job": "fit", "fit_s": fit, **peak()}]
    for n in (int(v) for v in args.shards.split(",")):
        parts, seconds, customers = [], [], []
        for i in range(n):
            start = time.perf_counter()
            part = run_dir / f"parts-{n}" / f"part-{i}.csv"
            customers.append(build_submission(**kwargs, out=part, on_progress=quiet, shard=Shard(i, n)).rows)
            seconds.append(time.perf_counter() - start)
            parts.append(part)
        start = time.perf_counter()
        write_merged(store, parts, run_dir / f"submission-{n}.csv")
        merge = time.perf_counter() - start
        results.append(
            {
                "job": f"{n} shards",
                "shards": n,
                "shard_s": seconds,
                "shard_customers": customers,
                "merge_s": merge,
                "total_s": fit + sum(seconds) + merge,
                "projected_wall_s": fit + max(seconds) + merge,
                **peak(),
            }
        )
    return results


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
    parser.add_argument("--child", choices=("plain", "sharded"), help=argparse.SUPPRESS)  # one job, its own process
    args = parser.parse_args()
    store = prepared_store(args.workdir, args.scale)
    run_dir = args.workdir / args.scale
    if args.child == "plain":
        print(json.dumps([plain_job(store, run_dir, args)]))
        return
    if args.child == "sharded":
        print(json.dumps(sharded_job(store, run_dir, args)))
        return
    load = os.getloadavg()
    print(f"{machine()}; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; scale {args.scale}; ranker {args.ranker}")
    jobs = []
    for child in ("plain", "sharded"):
        subprocess.run(["rm", "-rf", str(run_dir / f"cache-{child}")], check=True)  # each job fits everything itself
        command = [sys.executable, __file__, "--workdir", str(args.workdir), "--scale", args.scale, "--child", child]
        command += ["--shards", args.shards, "--ranker", args.ranker, "--candidates", args.candidates]
        command += ["--train-weeks", str(args.train_weeks), *(w for o in args.option or [] for w in ("-o", o))]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"the {child} job failed:\n{done.stderr[-3000:]}")
        for result in json.loads(done.stdout.strip().splitlines()[-1]):
            if "shards" in result:
                plain_bytes = (run_dir / "submission-plain.csv").read_bytes()
                result["identical_to_plain"] = (
                    run_dir / f"submission-{result['shards']}.csv"
                ).read_bytes() == plain_bytes
            jobs.append(result)
            print(json.dumps(result))
    plain, fit, sharded = jobs[0], jobs[1], jobs[2:]
    summary = {
        "machine": machine(),
        "load": load,
        "load_end": os.getloadavg(),
        "scale": args.scale,
        "ranker": args.ranker,
        "plain_s": plain["total_s"],
        "fit_s": fit["fit_s"],
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
