"""A measured model of customer shards: one submission in N = 1, 2, 4, 8 shards, one process.

One fresh cache folder and one Python process, the way `hmrec submit --engine ray` runs a job:
the shared fits once (`ray_engine.prefit_submission`: the training weeks' candidate sets, the
ranker, the target week's retrievers), timed; then for each N the N shards one after the other
(`build_submission(shard=...)`, each timed: its customers' candidate sets, features and scores,
all new cache entries) and their merge (`shard_merge.write_merged`). N = 1 is the unsharded job:
one shard of every customer on the same fits, so it costs fit + one pass over the customers, as a
plain `hmrec submit` does (at small scale, plain 44.5 s against N = 1's 42.4 s; docs/results.md).
Why not a plain job beside it: it would fit everything a second time, most of an hour at full
scale on 2 cores.

Printed, and written as JSON lines to WORKDIR/<scale>/shards_scale.jsonl:
  - the shared fit's seconds; per N each shard's seconds and customers, the merge, the N-shard
    job's total (fit + its shards + merge), peak RSS so far, the load;
  - the fixed cost per shard: the intercept of shard seconds against shard customers (least
    squares over every shard that ran), and the seconds per 1,000 customers;
  - the projected wall time on N machines: fit + the slowest shard + merge;
  - the bar: the 2-shard job (its shards one after the other) against N = 1, <= 1.15x;
  - that every N's merged submission is byte-identical to N = 1's (tests prove N = 1 equals the
    plain run's file).

    python benchmarks/shards_scale.py --workdir W --scale small [--ranker din] [--shards 1,2,4,8]
        [--sample-above 2] [--candidates popular,repurchase,...] [--train-weeks 4] [-o key=value ...]

`--sample-above M` times only the first shard of each N above M (no merge, no byte check): at full
scale a pass over all customers takes most of an hour on 2 cores, and the shards of one N hold
alike numbers of customers. The default ranker options are the full pipeline's cpu profile for
DIN (10% negatives, 32 purchases, 2 epochs, 2,000 validation buyers) with `score_top=100`; `-o`
replaces them. `--scale full` synthesizes the full-size world (31.8M rows) in WORKDIR first.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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


def peak() -> dict:
    return {"peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def timed(call, *args, **kwargs) -> tuple[object, float]:
    """`call(*args, **kwargs)` and the seconds it took."""
    began = time.perf_counter()
    return call(*args, **kwargs), time.perf_counter() - began


def shard_jobs(store: Path, run_dir: Path, args, record) -> None:
    """The shared fits, then each N's shards one after the other, each `record`ed as it ends."""
    from hmrec_cli.pipeline.ray_engine import prefit_submission
    from hmrec_cli.pipeline.shard_merge import write_merged
    from hmrec_cli.pipeline.shards import Shard
    from hmrec_cli.pipeline.submission import build_submission

    kwargs = submission_kwargs(store, run_dir / "cache", args)
    _, fit = timed(prefit_submission, kwargs, 2, quiet)
    record({"job": "fit", "fit_s": fit, **peak()})
    whole = run_dir / "submission-1.csv"
    for n in (int(v) for v in args.shards.split(",")):
        sampled = n > args.sample_above
        parts, seconds, customers = [], [], []
        for i in range(1 if sampled else n):
            part = run_dir / f"parts-{n}" / f"part-{i}.csv"
            written, s = timed(build_submission, **kwargs, out=part, on_progress=quiet, shard=Shard(i, n))
            parts.append(part)
            seconds.append(s)
            customers.append(written.rows)
        result = {"job": f"{n} shards", "shards": n, "shard_s": seconds, "shard_customers": customers}
        if not sampled:
            merged = run_dir / f"submission-{n}.csv"
            _, merge = timed(write_merged, store, parts, merged)
            result |= {
                "merge_s": merge,
                "total_s": fit + sum(seconds) + merge,
                "projected_wall_s": fit + max(seconds) + merge,
            }
            if n > 1:  # N = 1's file is the one the others are compared with
                result["identical_to_one_shard"] = merged.read_bytes() == whole.read_bytes()
        else:
            result["projected_wall_s"] = fit + seconds[0]
        record(result | peak())


def model(jobs: list[dict]) -> dict:
    """Shard seconds = fixed + per_customer * customers, least squares over every shard that ran."""
    x = np.array([c for j in jobs for c in j["shard_customers"]], dtype=float)
    y = np.array([s for j in jobs for s in j["shard_s"]])
    slope, fixed = np.polyfit(x, y, 1)
    return {"fixed_s_per_shard": float(fixed), "s_per_1000_customers": float(slope * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out/shards"))
    parser.add_argument("--scale", choices=("tiny", "small", "medium", "full"), default="small")
    parser.add_argument("--shards", default="1,2,4,8", help="the N to run; 1, the unsharded job, is required")
    parser.add_argument("--sample-above", type=int, default=8, help="time only the first shard of each N above this")
    parser.add_argument("--ranker", default="din")
    parser.add_argument("--candidates", default=SOURCES)
    parser.add_argument("--train-weeks", type=int, default=4)
    parser.add_argument(
        "-o", "--option", action="append", help="key=value for the ranker, source:key=value (replaces the defaults)"
    )
    args = parser.parse_args()
    store = prepared_store(args.workdir, args.scale)
    run_dir = args.workdir / args.scale
    for stale in (run_dir / "cache", *run_dir.glob("parts-*")):
        shutil.rmtree(stale, ignore_errors=True)  # the job fits everything itself, from a fresh cache
    load = os.getloadavg()
    print(f"{machine()}; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; scale {args.scale}; ranker {args.ranker}")
    jobs: list[dict] = []
    log = run_dir / "shards_scale.jsonl"

    def record(result: dict) -> None:
        jobs.append(result)
        line = json.dumps({"load": os.getloadavg(), **result})  # the summary keeps its own: the start's
        print(line, flush=True)
        with open(log, "a") as out:
            out.write(line + "\n")

    shard_jobs(store, run_dir, args, record)
    fit, sharded = jobs[0], jobs[1:]
    one = next(j for j in sharded if j["shards"] == 1)
    summary = {
        "machine": machine(),
        "load": load,
        "load_end": os.getloadavg(),
        "scale": args.scale,
        "ranker": args.ranker,
        "fit_s": fit["fit_s"],
        "one_shard_s": one["total_s"],
        **model(sharded),
        "projected_wall_s": {j["shards"]: j["projected_wall_s"] for j in sharded},
        "all_identical": all(j.get("identical_to_one_shard", True) for j in sharded),
    }
    two = next((j for j in sharded if j["shards"] == 2 and "total_s" in j), None)
    if two is not None:
        summary["two_shards_over_one"] = two["total_s"] / one["total_s"]
        summary["bar_met"] = summary["two_shards_over_one"] <= BAR
    record(summary)


if __name__ == "__main__":
    main()
