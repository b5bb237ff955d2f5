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
import json
from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.data.splits import history, resolve_week, truth
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline.recall import candidate_scores, ranked_hits

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
    store = Store.open(args.data)
    week = resolve_week(args.week, store.first_date, store.last_date)
    target = truth(store.transactions, week)
    before = history(store.transactions, week).select("customer", "article").unique()
    repeats = target.join(before, on=["customer", "article"], how="semi")
    print(
        f"{args.week}: {target.height:,} purchase pairs, {repeats.height / target.height:.1%} bought before by the buyer"
    )
    first = None
    for spec in args.sets:
        candidates = pl.read_parquet(candidate_file(args.cache, spec, args.week))
        hits = ranked_hits(candidates, target).filter(pl.col("pos") <= K)
        recall = candidate_scores(candidates, target, (K,))[f"recall@{K}"].to_numpy()
        again = hits.join(repeats, on=["customer", "article"], how="semi").height
        line = f"{spec}: recall@{K} {recall.mean():.4f}, hits {hits.height:,} (repeats {again:,}, new {hits.height - again:,})"
        if first is None:
            first = recall
        else:
            diff = recall - first
            line += f", minus the first {diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(diff.size):.4f}"
        print(line)


if __name__ == "__main__":
    main()
