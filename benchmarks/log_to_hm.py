"""Any (customer, item, date) log as H&M-shaped CSVs, to try hmrec on your own shop's data.

    python benchmarks/log_to_hm.py LOG.csv OUT --customer Member_number --item itemDescription --date Date --date-format %d-%m-%Y
    hmrec data ingest OUT --data my-store
    python benchmarks/rank_pooled.py --workdir W --raw OUT --weeks 4 --candidates auto

Each row becomes a purchase on its day (price 0.01, channel 1, duplicates kept as quantity);
customers and items get ids in order of first appearance (items are articles of their own
product; the item's text, when it is not a number, becomes the article's name); customers have
no age. Item values may be any text: the ids are what hmrec keys on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl


def convert(log: Path, out: Path, customer: str, item: str, day: str, date_format: str | None) -> int:
    rows = pl.read_csv(log, infer_schema=False, columns=[customer, item, day])
    date = pl.col(day).str.to_date(date_format) if date_format else pl.col(day).str.slice(0, 10).str.to_date()
    rows = rows.select(customer=pl.col(customer), item=pl.col(item), t_dat=date).drop_nulls()
    customers = rows.select(pl.col("customer").unique(maintain_order=True)).with_row_index("customer_no", offset=1)
    items = rows.select(pl.col("item").unique(maintain_order=True)).with_row_index("article_no", offset=1)
    out.mkdir(parents=True, exist_ok=True)
    transactions = rows.join(customers, on="customer").join(items, on="item").select(
        t_dat=pl.col("t_dat").cast(pl.String), customer_id=pl.col("customer_no").cast(pl.String).str.zfill(8),
        article_id=pl.col("article_no").cast(pl.String).str.zfill(10), price=pl.lit(0.01), sales_channel_id=pl.lit(1),
    ).sort("t_dat", "customer_id", "article_id")
    transactions.write_csv(out / "transactions_train.csv")
    customers.select(customer_id=pl.col("customer_no").cast(pl.String).str.zfill(8)).write_csv(out / "customers.csv")
    items.select(
        article_id=pl.col("article_no").cast(pl.String).str.zfill(10), product_code=pl.col("article_no").cast(pl.Int64), prod_name=pl.col("item"),
    ).write_csv(out / "articles.csv")
    return transactions.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--customer", required=True, help="column holding the customer")
    parser.add_argument("--item", required=True, help="column holding the item")
    parser.add_argument("--date", required=True, help="column holding the day (or a timestamp starting YYYY-MM-DD)")
    parser.add_argument("--date-format", help="strftime format of the day when it is not ISO, e.g. %%d-%%m-%%Y")
    args = parser.parse_args()
    rows = convert(args.log, args.out, args.customer, args.item, args.date, args.date_format)
    print(f"wrote {rows:,} purchases to {args.out}")


if __name__ == "__main__":
    main()
