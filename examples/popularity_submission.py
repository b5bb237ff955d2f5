"""Write a last-week-popularity submission with the hmrec store API, for `hmrec evaluate`.

Every customer gets the 12 articles sold most often in the 7 days before the target week starts;
only history before the week is read (splits.recent_history), so the score is an honest back-test,
and each file's provenance sidecar (`FILE.json`) says so to `hmrec evaluate`.

    python examples/popularity_submission.py --data hm --week last --out submission.csv
    python examples/popularity_submission.py --data hm --week last --weeks 4 --out-dir preds/
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import polars as pl

from hmrec_cli.atomic import atomic_file
from hmrec_cli.data import provenance
from hmrec_cli.data.splits import Week, recent_history, resolve_week, rolling_weeks
from hmrec_cli.data.store import Store


def popularity_submission(store: Store, week: Week) -> pl.DataFrame:
    """Kaggle-format rows (customer_id, prediction) for every customer the store lists."""
    recent = recent_history(store.transactions, week, days=7)
    top = (
        recent.group_by("article")
        .agg(n=pl.len())
        .sort(["n", "article"], descending=[True, False])
        .head(12)
        .join(store.articles.select("article", "article_id"), on="article")
        .sort(["n", "article"], descending=[True, False])
    )
    prediction = " ".join(f"{a:010d}" for a in top["article_id"].to_list())
    customers = store.customers.select("customer", "customer_id")
    order = pl.DataFrame({"customer": store.submission_customers})
    return order.join(customers, on="customer").select("customer_id", prediction=pl.lit(prediction))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("hm"))
    parser.add_argument("--week", default="last")
    parser.add_argument("--weeks", type=int, default=1, help="also the weeks before, one file each")
    parser.add_argument("--out", type=Path, help="file for a single week")
    parser.add_argument("--out-dir", type=Path, help="folder for <week start>.csv files")
    args = parser.parse_args()
    store = Store.open(args.data)
    target = resolve_week(args.week, store.first_date, store.last_date)
    for week in rolling_weeks(target, args.weeks, store.first_date):
        path = args.out if args.out else args.out_dir / f"{week.start.isoformat()}.csv"
        with atomic_file(path) as tmp:
            popularity_submission(store, week).write_csv(tmp)
        provenance.write(
            path,
            store.fingerprint,
            week.start - timedelta(days=1),
            week.start,
            {"name": "examples/popularity_submission.py"},
        )
        print(f"wrote {path} (week {week})")


if __name__ == "__main__":
    main()
