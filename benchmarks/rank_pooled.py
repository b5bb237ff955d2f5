"""The learned rankers (DIN, lgbm) against merge and each source's own order, pooled over rolling target weeks.

    python benchmarks/rank_pooled.py --workdir /tmp/rankbench [--scale medium] [--weeks 3] [--rankers merge,din,lgbm] [-o din:key=value ...]
    python benchmarks/rank_pooled.py --workdir /tmp/rankreal --real ../shared/data/hm_real_sample --weeks 8
    python benchmarks/rank_pooled.py --workdir /tmp/own --raw MY_SHOP_CSVS --weeks 4
    python benchmarks/rank_pooled.py --workdir /tmp/shop --scale tiny --seed 1 --no-repeats --weeks 4 [--drop-bought no]
    python benchmarks/rank_pooled.py --workdir /tmp/pick --real ../shared/data/hm_real_sample --week 8 --weeks 8 --config tuned.toml --candidates popular,repurchase,itemcf,als

Writes (or reuses) the synthetic world, or takes the real customer-sampled extract (hungle45's
0.1 % of customers over two years, with the articles of its later sample), ingests it, then for each of the last `--weeks` weeks runs
`hmrec rank --ranker R` for each of `--rankers` with `--train-weeks` (4) training weeks under /usr/bin/time -v, and
finally scores everything with `hmrec evaluate` pooled over the weeks (customer-weeks, standard
error, share of the oracle), plus each ranker's paired difference from the first one (`merge`
by default) over the same customer-weeks, with its standard error. `--no-repeats` keeps only each customer's first purchase of an
article (a log like the held-back non-fashion one, where nobody buys the same item twice). `-o ranker:key=value` goes to that ranker (e.g. -o din:negative_share=0.05), `-o source:key=value` to every run (e.g. -o popular:window_days=28).
`--config FILE` is the project config (`hmrec tune`'s output) every hmrec call reads; without it they read
./hmrec.toml if there is one (`--config /dev/null`: defaults only). `--week N` makes the newest scored week N
weeks back instead of the last, so sources and settings can be chosen on weeks older than those a
final run scores.
Prints one JSON object; the ranking figures in docs/results.md come from it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ingest_full import packages  # a sibling script

if TYPE_CHECKING:
    import numpy as np

SOURCES = "popular,repurchase,same-product,itemcf"


def hmrec(*args: str, timed: bool = False) -> tuple[dict | None, dict]:
    command = [str(Path(sys.executable).parent / "hmrec"), *args]
    if timed:
        command = ["/usr/bin/time", "-v", *command]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    usage = {}
    if timed:
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", done.stderr).group(1)
        parts = [float(p) for p in wall.split(":")]
        usage["wall_s"] = sum(p * 60**i for i, p in enumerate(reversed(parts)))
        usage["peak_rss_gib"] = (
            int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 2**20
        )
    return (json.loads(done.stdout) if "--json" in args else None), usage


def first_purchases(source: Path, out: Path) -> Path:
    """The transactions with every repeat of a (customer, article) after its first day dropped."""
    import polars as pl

    rows = pl.read_csv(source, schema_overrides={"article_id": pl.String, "customer_id": pl.String, "t_dat": pl.String})
    first = rows.with_columns(day=pl.col("t_dat").str.to_date()).filter(
        pl.col("day") == pl.col("day").min().over("customer_id", "article_id")
    )
    first.drop("day").unique(["customer_id", "article_id"], keep="first", maintain_order=True).write_csv(out)
    return out


def per_buyer_ap(data: Path, paths: dict[str, list[tuple[str, str]]]) -> dict[str, "np.ndarray"]:
    """Each ranker's AP@12 per buyer, over the customer-weeks in order, read from the rankings this
    run made (not `evaluate --predictions`, which takes the newest cached ranking of a week: another
    configuration's when this run's came from the cache)."""
    from datetime import date

    import numpy as np
    import polars as pl

    from hmrec_cli.data.splits import Week, truth
    from hmrec_cli.data.store import Store
    from hmrec_cli.metrics import average_precision

    transactions = Store.open(data).transactions
    ap = {}
    for ranker, weeks in paths.items():
        parts = []
        for week, path in weeks:
            target = truth(transactions, Week(date.fromisoformat(week), week))
            top = pl.read_parquet(path).select("customer", pl.col("article").cast(pl.Int64), "rank")
            parts.append(average_precision(top, target)["ap"].to_numpy())
        ap[ranker] = np.concatenate(parts)
    return ap


def mean_se(values) -> dict:
    return {"mean": float(values.mean()), "stderr": float(values.std(ddof=1) / values.size**0.5)}


def paired(ap: dict, rankers: list[str]) -> dict:
    """Each ranker's MAP@12 minus the first ranker's over the same customer-weeks, with the standard
    error of the per-customer difference (the rankers' own standard errors overlap far more)."""
    return {r: mean_se(ap[r] - ap[rankers[0]]) for r in rankers[1:]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--real", type=Path, help="the hm_real_sample folder: use its two-year customer sample instead")
    parser.add_argument(
        "--raw", type=Path, help="any folder of H&M-shaped CSVs (e.g. your own shop's log converted): use it instead"
    )
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument(
        "--week", type=int, default=0, help="the newest scored week, this many weeks back from the last"
    )
    parser.add_argument(
        "--config", type=Path, help="project config file (hmrec tune's hmrec.toml) for every hmrec call"
    )
    parser.add_argument("--rankers", default="merge,din,lgbm")
    parser.add_argument("--seed", type=int, default=0, help="synthetic world's seed")
    parser.add_argument(
        "--no-repeats", action="store_true", help="drop every repeated purchase of an article by the same customer"
    )
    parser.add_argument("--candidates", default=SOURCES)
    parser.add_argument("--train-weeks", default="4")
    parser.add_argument(
        "--drop-bought", default="auto", choices=("auto", "yes", "no"), help="passed to every hmrec rank"
    )
    parser.add_argument("-o", dest="options", action="append", default=[])
    args = parser.parse_args()
    name = ("real" if args.real else args.raw.name if args.raw else f"{args.scale}-{args.seed}") + (
        "-norepeat" if args.no_repeats else ""
    )
    raw, data, cache = args.workdir / f"{name}-raw", args.workdir / f"{name}-store", args.workdir / "cache"
    if args.real:
        sample = args.real / "hungle45__PSE-Recommendor-System"
        files = {
            "transactions": sample / "commit_3b7354e7" / "transactions_train_sample.csv",
            "customers": sample / "commit_3b7354e7" / "customers_sample.csv",
            "articles": sample / "commit_a8979e10" / "articles_train_sample.csv",
        }
    elif args.raw:
        files = {
            "transactions": args.raw / "transactions_train.csv",
            "customers": args.raw / "customers.csv",
            "articles": args.raw / "articles.csv",
        }
    else:
        if not (raw / "transactions_train.csv").is_file():
            hmrec("data", "synth", "--scale", args.scale, "--seed", str(args.seed), "--out", str(raw), "-q")
        files = {
            "transactions": raw / "transactions_train.csv",
            "customers": raw / "customers.csv",
            "articles": raw / "articles.csv",
        }
    if args.no_repeats:
        files["transactions"] = first_purchases(files["transactions"], args.workdir / f"{name}-transactions.csv")
    if args.real or args.raw or args.no_repeats:
        hmrec(
            "data",
            "ingest",
            *(x for kind, path in files.items() for x in (f"--{kind}", str(path))),
            "--data",
            str(data),
            "-q",
        )
    else:  # the folder, so its oracle comes along
        hmrec("data", "ingest", str(raw), "--data", str(data), "-q")
    config = ["--config", str(args.config)] if args.config else []
    common = [
        "--data",
        str(data),
        "--cache",
        str(cache),
        "--candidates",
        args.candidates,
        "--train-weeks",
        args.train_weeks,
        "--drop-bought",
        args.drop_bought,
        *config,
        "--json",
        "-q",
    ]
    rankers = args.rankers.split(",")
    runs, paths = [], {}
    for back in range(args.week + args.weeks - 1, args.week - 1, -1):
        for ranker in rankers:
            mine = [
                o.partition(":")[2] for o in args.options if o.partition(":")[0] == ranker
            ]  # -o din:epochs=3: that ranker's
            shared = [
                o for o in args.options if o.partition(":")[0] not in rankers
            ]  # -o popular:window_days=28: a source's, every run
            options = [x for o in (*mine, *shared) for x in ("-o", o)]
            manifest, usage = hmrec("rank", "--ranker", ranker, "--week", str(back), *common, *options, timed=True)
            paths.setdefault(ranker, []).append((manifest["week"], manifest["path"]))
            runs.append(
                {
                    "ranker": ranker,
                    "week": manifest["week"],
                    "path": manifest["path"],
                    "map@12": manifest["figures"]["map@12"],
                    "sources": manifest["sources"],
                    "fit_s": manifest["fit_seconds"],
                    "score_s": manifest["score_seconds"],
                    **usage,
                    "newest_training_week": manifest.get("newest_training_week"),
                    "epochs": [(e["epoch"], round(e["validation"], 5)) for e in manifest["training"].get("epochs", [])],
                }
            )
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    base = [
        "--data",
        str(data),
        "--cache",
        str(cache),
        "--week",
        str(args.week),
        "--weeks",
        str(args.weeks),
        *config,
        "--json",
        "-q",
    ]
    ap = per_buyer_ap(data, paths)
    pooled = {r: {"map@12": float(ap[r].mean()), "stderr": mean_se(ap[r])["stderr"]} for r in rankers}
    chosen = {s: None for run in runs for s in run["sources"]}  # --candidates auto: every source some week chose
    sources = hmrec("evaluate", "--candidates", ",".join(chosen), *base)[0]
    own = {s["set"].split("@")[0]: s["map@12"] for s in sources["sets"] if s["set"] not in ("union", "oracle")}
    simple = max([*own.values(), *(pooled[r]["map@12"] for r in rankers if r == "merge")])
    oracle = next((s["map@12"] for s in sources["sets"] if s["set"] == "oracle"), None)
    report = {
        "data": name,
        "weeks": args.weeks,
        "newest_week_back": args.week,
        "options": args.options,
        "drop_bought": args.drop_bought,
        "candidates": args.candidates,
        "config": {"path": str(args.config), "text": args.config.read_text()} if args.config else None,
        "pooled_map@12": {
            **{r: pooled[r]["map@12"] for r in rankers},
            **{f"{r}_stderr": pooled[r].get("stderr") for r in rankers},
            **{f"{k} (own order)": v for k, v in own.items()},
        },
        "customer_weeks": int(ap[rankers[0]].size),
        "oracle_map@12": oracle,
        "share_of_oracle": {r: pooled[r]["map@12"] / oracle for r in rankers} if oracle else None,
        "over_best_simple": {r: pooled[r]["map@12"] / simple for r in rankers if r != "merge"},
        f"paired_minus_{rankers[0]}": paired(ap, rankers),
        "runs": runs,
        "packages": packages(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
