"""The public real-log suite: every retriever and every ranker on real purchase logs, over rolling weeks.

    python benchmarks/real_logs.py --workdir W --log movielens=ML_100K_FOLDER --log groceries=GROCERIES_FOLDER \\
        --log ta-feng=TA_FENG_FOLDER --log hm-real=../shared/data/hm_real_sample [--weeks 4] \\
        [--week 0] [--retrievers all] [--rankers merge,lgbm,din] [--candidates default,auto] [--skip-retrievers] [--skip-rankers] \\
        [-o itemcf:prior_buyers=5 ...] [--seeds 0,1,2] [--tag after]

Each `--log NAME=FOLDER` names a log and the folder of its own raw files (what each holds and where
to get it: `benchmarks/log_converters.py`; `hm-real` is the customer-sampled H&M extract). The
script converts the log into H&M's CSVs and ingests them once (kept in W), then, for each of the
last `--weeks` weeks:
- runs `hmrec recall --k 100` for every retriever with its defaults and scores recall@100 over the
  week's buyers (a buyer without candidates counts 0), pooled over the customer-weeks, each beside ALS;
- runs `hmrec rank --train-weeks 4` for every ranker, with the default sources and with
  `--candidates auto`, and pools each ranker's AP@12 over the customer-weeks, with the standard
  error of its per-buyer difference from merge on the same candidates (and auto's merge against the
  default sources' merge). With `--seeds 0,1,2` every ranker runs once per seed (a learned
  ranker's seed draws its rows, features and initial weights); the table's figures are then those
  of the seed-averaged ranker and a last column shows each seed's own x merge, the spread the
  seed alone makes.
`-o plugin:key=value` goes to every hmrec recall and rank call (a retriever's option reaches it as a
source too), so a candidate default is measured before it is made the default; unchanged sets and
rankings come from the cache (W/NAME-cache).
It also reports the log's shape over those weeks: buyers a week, and the share of a week's
(customer, article) pairs that repeat an earlier purchase. Writes W/NAME.json (W/NAME-TAG.json with --tag) per log (the whole
report, per-week runs included) and prints one markdown table per log, as in docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_full import machine, packages  # noqa: E402  (sibling scripts, not a package)
from log_converters import CONVERTERS  # noqa: E402
from rank_pooled import hmrec, mean_se  # noqa: E402

RETRIEVERS = (
    "popular",
    "repurchase",
    "same-product",
    "itemcf",
    "usercf",
    "als",
    "bpr",
    "youtube-dnn",
    "sampled-softmax",
    "hsoftmax",
    "tdm",
)
HM_REAL = ("hungle45__PSE-Recommendor-System", "commit_3b7354e7", "commit_a8979e10")


def load() -> float:
    return os.getloadavg()[0]


def raw_files(name: str, source: Path, workdir: Path) -> dict[str, Path]:
    """The log as H&M CSVs: converted once into W/NAME-raw, or the extract's own files for hm-real."""
    if name == "hm-real":
        sample, people, articles = HM_REAL
        return {
            "transactions": source / sample / people / "transactions_train_sample.csv",
            "customers": source / sample / people / "customers_sample.csv",
            "articles": source / sample / articles / "articles_train_sample.csv",
        }
    out = workdir / f"{name}-raw"
    if not (out / "transactions_train.csv").is_file():
        CONVERTERS[name](source, out)
    return {
        "transactions": out / "transactions_train.csv",
        "customers": out / "customers.csv",
        "articles": out / "articles.csv",
    }


def ingest(name: str, source: Path, workdir: Path) -> Path:
    data = workdir / f"{name}-store"
    if not (data / "transactions.parquet").exists() and not any(data.glob("*.parquet")):
        files = raw_files(name, source, workdir)
        hmrec(
            "data",
            "ingest",
            *(x for kind, path in files.items() for x in (f"--{kind}", str(path))),
            "--data",
            str(data),
            "-q",
        )
    return data


def log_shape(transactions: pl.DataFrame, weeks) -> dict:
    """Buyers a week and the share of the weeks' pairs bought before (what repurchase can find)."""
    from hmrec_cli.data.splits import truth

    buyers, repeats, pairs = [], 0, 0
    for week in weeks:
        target = truth(transactions, week)
        before = transactions.filter(pl.col("t_dat") < week.start).select("customer", "article").unique()
        buyers.append(target["customer"].n_unique())
        repeats += target.join(before, on=["customer", "article"], how="semi").height
        pairs += target.height
    return {"buyers_per_week": buyers, "repeat_share": repeats / pairs if pairs else float("nan")}


def store_at(data: Path, cache: Path, week) -> list[str]:
    """The store, cache and week arguments every `hmrec recall` and `hmrec rank` call here takes."""
    return ["--data", str(data), "--cache", str(cache), "--week", week.start.isoformat()]


def own_options(retriever: str, options: list[str]) -> list[str]:
    """`hmrec recall` takes a retriever's own options as key=value: those of `-o retriever:key=value`."""
    mine = [o.partition(":")[2] for o in options[1::2] if o.partition(":")[0] == retriever]
    return [x for o in mine for x in ("-o", o)]


def retrievers(
    data: Path, cache: Path, weeks, names: list[str], transactions: pl.DataFrame, options: list[str]
) -> dict:
    from hmrec_cli.data.splits import truth
    from hmrec_cli.pipeline.recall import candidate_scores

    out = {}
    for name in names:
        parts, runs = [], []
        for week in weeks:
            result, usage = hmrec(
                "recall",
                "--method",
                name,
                *store_at(data, cache, week),
                "--k",
                "100",
                *own_options(name, options),
                "--json",
                "-q",
                timed=True,
            )
            target = truth(transactions, week)
            cands = pl.read_parquet(result["path"]).filter(
                pl.col("customer").is_in(target["customer"].unique().implode())
            )
            parts.append(candidate_scores(cands, target))
            runs.append({"week": week.start.isoformat(), **usage, "load": load()})
        scores = pl.concat(parts)
        out[name] = {"recall@100": float(scores["recall@100"].mean()), "customer_weeks": scores.height, "runs": runs}
        print(json.dumps({name: round(out[name]["recall@100"], 4)}), file=sys.stderr, flush=True)
    if "als" in out:
        for name in out:
            out[name]["x_als"] = out[name]["recall@100"] / out["als"]["recall@100"]
    return out


def ap_of(path: str, target: pl.DataFrame) -> np.ndarray:
    from hmrec_cli.metrics import average_precision

    top = pl.read_parquet(path).select("customer", pl.col("article").cast(pl.Int64), "rank")
    return average_precision(top, target)["ap"].to_numpy()


def rankers(
    data: Path,
    cache: Path,
    weeks,
    names: list[str],
    settings: list[str],
    transactions,
    options: list[str],
    seeds: tuple[int, ...] = (0,),
) -> dict:
    """Every ranker with each candidates setting and seed, per week; AP@12 per buyer, pooled and
    paired. With several seeds a row is the seed-averaged ranker (each buyer's AP averaged over the
    seeds) and `x_merge_by_seed` shows how far the seed alone moves the figure."""
    from hmrec_cli.data.splits import truth

    ap: dict[tuple[str, int], list[np.ndarray]] = {}
    runs = []
    for week in weeks:
        target = truth(transactions, week)
        for setting in settings:
            candidates = ["--candidates", "auto"] if setting == "auto" else []
            for ranker in names:
                for seed in seeds:
                    manifest, usage = hmrec(
                        "rank",
                        "--ranker",
                        ranker,
                        *store_at(data, cache, week),
                        "--train-weeks",
                        "4",
                        "--seed",
                        str(seed),
                        *candidates,
                        *options,
                        "--json",
                        "-q",
                        timed=True,
                    )
                    ap.setdefault((f"{ranker} ({setting})", seed), []).append(ap_of(manifest["path"], target))
                    runs.append(
                        {
                            "ranker": ranker,
                            "candidates": setting,
                            "seed": seed,
                            "week": manifest["week"],
                            "sources": manifest["sources"],
                            "path": manifest["path"],
                            "week_map@12": manifest["figures"]["map@12"],
                            "kept": manifest["training"].get("kept"),
                            **usage,
                            "load": load(),
                        }
                    )
                    print(
                        json.dumps(
                            {k: runs[-1][k] for k in ("ranker", "candidates", "seed", "week", "week_map@12", "sources")}
                        ),
                        file=sys.stderr,
                        flush=True,
                    )
    by_seed = {key: np.concatenate(v) for key, v in ap.items()}
    customer_weeks = int(next(iter(by_seed.values())).size)
    return {
        "pooled": pooled_table(by_seed, seeds),
        "customer_weeks": customer_weeks,
        "seeds": list(seeds),
        "runs": runs,
    }


def pooled_table(by_seed: dict[tuple[str, int], np.ndarray], seeds: tuple[int, ...]) -> dict:
    """One row per "ranker (setting)": the seed-averaged per-buyer AP@12 (buyers aligned across
    keys), paired against merge on the same setting, and each seed's own ratio to that seed's merge."""
    keys = list(dict.fromkeys(key for key, _ in by_seed))
    pooled = {key: np.mean([by_seed[key, s] for s in seeds], axis=0) for key in keys}
    table = {}
    for key, values in pooled.items():
        ranker, setting = key.split(" (")[0], key.split(" (")[1].rstrip(")")
        base_key = f"merge ({setting})"
        base = pooled.get(base_key)
        row = {"map@12": mean_se(values)}
        if base is not None and ranker != "merge":
            row["minus_merge"] = mean_se(values - base)
            row["x_merge"] = ratio(values, base)
            if len(seeds) > 1:
                row["x_merge_by_seed"] = [ratio(by_seed[key, s], by_seed[base_key, s]) for s in seeds]
        if ranker == "merge" and setting == "auto" and "merge (default)" in pooled:
            row["minus_default_merge"] = mean_se(values - pooled["merge (default)"])
        table[key] = row
    return table


def ratio(values: np.ndarray, base: np.ndarray) -> float:
    return float(values.mean() / base.mean()) if base.mean() else float("nan")


def markdown(name: str, report: dict) -> str:
    shape = report["shape"]
    lines = [
        f"**{name}**: {np.mean(shape['buyers_per_week']):.0f} buyers a week "
        f"({', '.join(map(str, shape['buyers_per_week']))}), {shape['repeat_share']:.0%} of a week's pairs repeat "
        f"an earlier purchase; weeks {', '.join(report['weeks'])}",
        "",
    ]
    if report.get("retrievers"):
        lines += ["| retriever | recall@100 | x ALS |", "|---|---|---|"]
        for r, row in report["retrievers"].items():
            lines.append(f"| {r} | {row['recall@100']:.4f} | {row.get('x_als', float('nan')):.2f} |")
        lines.append("")
    if report.get("rankers"):
        seeds = report["rankers"].get("seeds", [0])
        spread = len(seeds) > 1
        lines += [
            "| ranker (sources) | MAP@12 | SE | minus merge (paired SE) | x merge |"
            + (f" x merge, seeds {', '.join(map(str, seeds))} |" if spread else ""),
            "|---|---|---|---|---|" + ("---|" if spread else ""),
        ]
        for key, row in report["rankers"]["pooled"].items():
            diff = row.get("minus_merge") or row.get("minus_default_merge")
            paired = f"{diff['mean']:+.5f} ({diff['stderr']:.5f})" if diff else ""
            by_seed = ", ".join(f"{x:.3f}" for x in row.get("x_merge_by_seed", []))
            lines.append(
                f"| {key} | {row['map@12']['mean']:.5f} | {row['map@12']['stderr']:.5f} | {paired} "
                f"| {row.get('x_merge', float('nan')):.3f} |" + (f" {by_seed} |" if spread else "")
            )
        chosen = sorted({",".join(r["sources"]) for r in report["rankers"]["runs"] if r["candidates"] == "auto"})
        if chosen:
            lines.append("")
            lines.append("auto chose: " + "; ".join(chosen))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--log", action="append", required=True, help="NAME=FOLDER, NAME one of: " + ", ".join([*CONVERTERS, "hm-real"])
    )
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument(
        "--week", type=int, default=0, help="the newest scored week, this many weeks back from the last"
    )
    parser.add_argument("--retrievers", default="all", help="comma-separated, or all: " + ",".join(RETRIEVERS))
    parser.add_argument("--rankers", default="merge,lgbm,din")
    parser.add_argument(
        "--candidates",
        default="default,auto",
        help="comma-separated settings: default (the default sources), auto (--candidates auto); both unless named",
    )
    parser.add_argument("--skip-retrievers", action="store_true")
    parser.add_argument("--skip-rankers", action="store_true")
    parser.add_argument("-o", dest="options", action="append", default=[], help="plugin:key=value, to every call")
    parser.add_argument(
        "--seeds",
        default="0",
        help="comma-separated: every ranker runs once per seed; rows average each buyer's AP over them",
    )
    parser.add_argument("--tag", default="", help="suffix of the report files, e.g. after")
    args = parser.parse_args()
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        parser.error(f"--seeds {args.seeds}: expected comma-separated integers, e.g. 0,1,2")
    unknown = set(args.candidates.split(",")) - {"default", "auto"}
    if unknown:
        parser.error(f"--candidates: {', '.join(sorted(unknown))} is neither default nor auto")

    from hmrec_cli.data.splits import resolve_week, rolling_weeks
    from hmrec_cli.data.store import Store

    args.workdir.mkdir(parents=True, exist_ok=True)
    options = [x for o in args.options for x in ("-o", o)]
    names = list(RETRIEVERS) if args.retrievers == "all" else args.retrievers.split(",")
    ran_on = {"machine": machine(), "date": date.today().isoformat(), "packages": packages()}
    for spec in args.log:
        name, _, folder = spec.partition("=")
        if name not in (*CONVERTERS, "hm-real") or not folder:
            raise SystemExit(
                f"--log {spec}: expected NAME=FOLDER with NAME one of {', '.join([*CONVERTERS, 'hm-real'])}"
            )
        started, load_start = time.time(), load()
        data = ingest(name, Path(folder), args.workdir)
        cache = args.workdir / f"{name}-cache"
        store = Store.open(data)
        weeks = rolling_weeks(
            resolve_week(str(args.week), store.first_date, store.last_date), args.weeks, store.first_date
        )
        transactions = store.transactions.select("customer", "article", "t_dat")
        report = {
            "log": name,
            "source": folder,
            "weeks": [w.start.isoformat() for w in weeks],
            **ran_on,
            "options": args.options,
            "shape": log_shape(transactions, weeks),
        }
        if not args.skip_retrievers:
            report["retrievers"] = retrievers(data, cache, weeks, names, transactions, options)
        if not args.skip_rankers:
            report["rankers"] = rankers(
                data,
                cache,
                weeks,
                args.rankers.split(","),
                args.candidates.split(","),
                transactions,
                options,
                seeds,
            )
        report["wall_s"], report["load"] = round(time.time() - started), [load_start, load()]
        path = args.workdir / f"{name}{'-' + args.tag if args.tag else ''}.json"
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(report, indent=1))
        partial.replace(path)
        print(markdown(name, report) + "\n", flush=True)


if __name__ == "__main__":
    main()
