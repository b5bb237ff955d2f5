"""Which purchases does each retriever find: articles the buyer bought before, or new ones?

    python benchmarks/studies/repeat_hits.py --data STORE --cache CACHE --week 2001-02-22 SET [SET ...]

SET is a cached candidate set, `method@key` (`hmrec evaluate --candidates` prints the keys), or a
method name alone for its newest set of the week. For each, the week's (buyer, article) purchase
pairs it holds among its 100 best candidates, split by whether the buyer had bought the article
before the week, and the paired difference in per-buyer recall@100 against the first SET. A
retriever that trails ALS where customers rebuy shows here whether it misses the repeats or the
new articles (docs/results.md, "The repeat term").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.data.store import Store

K = 100


def candidate_file(cache: Path, spec: str, week: str) -> Path:
    """The parquet of `method@key`, or of the method's newest set for the week."""
    method, _, key = spec.partition("@")
    folder = cache / "candidates" / method / week
    if key:
        return folder / f"{key}.parquet"
    newest = max(folder.glob("*.json"), key=lambda p: json.loads(p.read_text())["created"])
    return newest.with_suffix(".parquet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--week", required=True, help="the week's first day, YYYY-MM-DD")
    ap.add_argument("sets", nargs="+")
    args = ap.parse_args()
    start = dt.date.fromisoformat(args.week)
    tx = Store.open(args.data).transactions.select("t_dat", "customer", "article")
    bought = tx.filter(pl.col("t_dat") < start).select("customer", "article").unique().with_columns(repeat=pl.lit(True))
    truth = (
        tx.filter(pl.col("t_dat").is_between(start, start + dt.timedelta(days=6)))
        .select("customer", "article")
        .unique()
        .join(bought, on=["customer", "article"], how="left")
        .with_columns(pl.col("repeat").fill_null(False))
    )
    print(f"{args.week}: {truth.height:,} purchase pairs, {truth['repeat'].mean():.1%} bought before by the buyer")
    first = None
    for spec in args.sets:
        top = (
            pl.read_parquet(candidate_file(args.cache, spec, args.week))
            .sort(["customer", "score"], descending=[False, True])
            .group_by("customer", maintain_order=True)
            .head(K)
            .select("customer", "article", hit=pl.lit(1.0))
        )
        found = truth.join(top, on=["customer", "article"], how="left").with_columns(pl.col("hit").fill_null(0.0))
        recall = found.group_by("customer").agg(pl.col("hit").mean()).sort("customer")["hit"].to_numpy()
        repeats = int(found.filter(pl.col("repeat"))["hit"].sum())
        line = f"{spec}: recall@{K} {recall.mean():.4f}, hits {int(found['hit'].sum()):,} (repeats {repeats:,}, new {int(found['hit'].sum()) - repeats:,})"
        if first is None:
            first = recall
        else:
            diff = recall - first
            line += f", minus the first {diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(diff.size):.4f}"
        print(line)


if __name__ == "__main__":
    main()
