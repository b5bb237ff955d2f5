"""The neural retrievers beside popular, itemcf and als, pooled over rolling weeks; and DIN with
and without sampled-softmax among its sources.

    python benchmarks/neural_retrievers.py --workdir /tmp/nr [--scale medium] [--weeks 3] [--no-din]
    python benchmarks/neural_retrievers.py --workdir /tmp/nr-small --scale small --weeks 1 --no-din   # the speed bar
    python benchmarks/neural_retrievers.py --workdir /tmp/nr-real --real ../shared/data/hm_real_sample --weeks 8

Writes (or reuses) the synthetic world (or ingests the real customer-sampled extract), then for
each of the last `--weeks` weeks runs `hmrec recall` for every variant (youtube-dnn,
sampled-softmax with and without logQ, hsoftmax with both trees, and popular, itemcf, als) under
/usr/bin/time -v: wall seconds, CPU seconds (user + sys) and peak memory of fit + retrieve with
nothing cached for that key. Recall@100 and MAP@12 of each set's own order are pooled over all
customer-weeks (MAP@12 with its standard error). Unless `--no-din`, `hmrec rank --ranker din`
(4 training weeks) runs with popular, repurchase, same-product, itemcf, with and without
sampled-softmax, and its MAP@12 is pooled the same way. The machine is shared: each timing carries
the 1-minute load average at its end. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl

from hmrec_cli.data.splits import resolve_week, rolling_weeks, truth
from hmrec_cli.data.store import Store
from hmrec_cli.metrics import average_precision
from hmrec_cli.pipeline.recall import candidate_scores

VARIANTS = {
    "popular": ("popular", ()),
    "itemcf": ("itemcf", ()),
    "als": ("als", ()),
    "youtube-dnn": ("youtube-dnn", ()),
    "sampled-softmax": ("sampled-softmax", ()),
    "sampled-softmax logq=false": ("sampled-softmax", ("logq=false",)),
    "hsoftmax": ("hsoftmax", ()),
    "hsoftmax tree=huffman": ("hsoftmax", ("tree=huffman",)),
}
DIN_SOURCES = "popular,repurchase,same-product,itemcf"


def hmrec(*args: str) -> tuple[dict, dict]:
    """Run hmrec with --json under /usr/bin/time -v: (its JSON, wall/cpu/peak/load)."""
    command = ["/usr/bin/time", "-v", str(Path(sys.executable).parent / "hmrec"), *args, "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    err = done.stderr
    wall = [
        float(p) for p in re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", err).group(1).split(":")
    ]
    usage = {
        "wall_s": round(sum(p * 60**i for i, p in enumerate(reversed(wall))), 1),
        "cpu_s": round(
            float(re.search(r"User time \(seconds\): (\S+)", err).group(1))
            + float(re.search(r"System time \(seconds\): (\S+)", err).group(1)),
            1,
        ),
        "peak_rss_gib": round(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) / 2**20, 2),
        "load_1min": os.getloadavg()[0],
    }
    return json.loads(done.stdout), usage


def prepare(args) -> Path:
    name = "real" if args.real else args.scale
    raw, data = args.workdir / f"{name}-raw", args.workdir / f"{name}-store"
    if args.real:
        sample = args.real / "hungle45__PSE-Recommendor-System"
        hmrec(
            "data",
            "ingest",
            "--transactions",
            str(sample / "commit_3b7354e7" / "transactions_train_sample.csv"),
            "--customers",
            str(sample / "commit_3b7354e7" / "customers_sample.csv"),
            "--articles",
            str(sample / "commit_a8979e10" / "articles_train_sample.csv"),
            "--data",
            str(data),
            "-q",
        )
    else:
        if not (raw / "transactions_train.csv").is_file():
            subprocess.run(
                [
                    str(Path(sys.executable).parent / "hmrec"),
                    "data",
                    "synth",
                    "--scale",
                    args.scale,
                    "--seed",
                    "0",
                    "--out",
                    str(raw),
                    "-q",
                ],
                check=True,
                capture_output=True,
            )
        subprocess.run(
            [str(Path(sys.executable).parent / "hmrec"), "data", "ingest", str(raw), "--data", str(data), "-q"],
            check=True,
            capture_output=True,
        )
    return data


def pooled(parts: list[pl.DataFrame]) -> dict:
    scores = pl.concat(parts)
    n = scores.height
    return {
        "customer_weeks": n,
        "recall@100": round(float(scores["recall@100"].mean()), 4),
        "map@12": round(float(scores["ap"].mean()), 5),
        "map@12_stderr": round(float(scores["ap"].std() / n**0.5), 5) if n > 1 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--scale", default="medium")
    parser.add_argument(
        "--real", type=Path, help="the hm_real_sample folder: its two-year customer sample instead of a synthetic world"
    )
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated names from: " + ", ".join(VARIANTS)
    )
    parser.add_argument(
        "--no-din",
        action="store_true",
        help="skip the DIN comparison (13+ minutes per week at medium scale on 2 cores)",
    )
    args = parser.parse_args()
    data = prepare(args)
    cache = args.workdir / "cache"
    store = Store.open(data)
    weeks = rolling_weeks(resolve_week("last", store.first_date, store.last_date), args.weeks, store.first_date)
    report: dict = {
        "data": str(data),
        "weeks": [w.start.isoformat() for w in weeks],
        "cpu_count": os.cpu_count(),
        "retrievers": {},
        "timings": [],
    }
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        method, options = VARIANTS[name]
        parts = []
        for week in weeks:
            flags = [f for o in options for f in ("-o", o)]
            result, usage = hmrec(
                "recall",
                "--method",
                method,
                "--data",
                str(data),
                "--cache",
                str(cache),
                "--week",
                week.start.isoformat(),
                "--k",
                "100",
                "--device",
                args.device,
                *flags,
                "-q",
            )
            report["timings"].append(
                {"variant": name, "week": week.start.isoformat(), "computed_s": result["seconds"], **usage}
            )
            target = truth(store.transactions, week)
            cands = pl.read_parquet(result["path"]).filter(
                pl.col("customer").is_in(target["customer"].unique().implode())
            )
            parts.append(candidate_scores(cands, target))
        report["retrievers"][name] = pooled(parts)
        print(json.dumps({name: report["retrievers"][name]}), file=sys.stderr)
    if not args.no_din:
        report["din"] = {}
        for label, sources in (
            ("without sampled-softmax", DIN_SOURCES),
            ("with sampled-softmax", DIN_SOURCES + ",sampled-softmax"),
        ):
            parts = []
            for week in weeks:
                result, usage = hmrec(
                    "rank",
                    "--ranker",
                    "din",
                    "--candidates",
                    sources,
                    "--data",
                    str(data),
                    "--cache",
                    str(cache),
                    "--week",
                    week.start.isoformat(),
                    "--train-weeks",
                    "4",
                    "--device",
                    args.device,
                    "-q",
                )
                report["timings"].append(
                    {
                        "variant": f"din {label}",
                        "week": week.start.isoformat(),
                        "computed_s": result["seconds"],
                        **usage,
                    }
                )
                ranked = pl.read_parquet(result["path"]).select("customer", pl.col("article").cast(pl.Int64), "rank")
                parts.append(average_precision(ranked, truth(store.transactions, week)))
            aps = pl.concat(parts)["ap"]
            report["din"][label] = {
                "customer_weeks": aps.len(),
                "map@12": round(float(aps.mean()), 5),
                "map@12_stderr": round(float(aps.std() / aps.len() ** 0.5), 5),
            }
            print(json.dumps({f"din {label}": report["din"][label]}), file=sys.stderr)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
