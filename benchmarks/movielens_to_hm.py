"""A public interaction log in the competition's shape: MovieLens 100k as H&M CSVs.

    python benchmarks/movielens_to_hm.py ML_100K_FOLDER OUT_FOLDER
    hmrec data ingest OUT_FOLDER --data ml-store
    python benchmarks/rank_pooled.py --workdir W --raw OUT_FOLDER --weeks 4 --candidates auto

MovieLens 100k (GroupLens: 943 users rate 1,682 films, 1997-09-20 .. 1998-04-22) is a real log
unlike fashion: nobody rates a film twice, half of a week's raters are new, and a few hundred
raters a week. Each rating becomes a purchase on its day (price 0.01, channel 1); a film is an
article of its own product, typed by its first genre; a user is a customer with their age and
zip code. The folder needs u.data, u.item, u.user and u.genre (the GroupLens zip's files); its
rows stay out of this repository. Adapt it to convert your own (user, item, time) log.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl


def convert(source: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    ratings = pl.read_csv(
        source / "u.data",
        separator="\t",
        has_header=False,
        new_columns=["user", "item", "rating", "time"],
        schema_overrides=[pl.Int64] * 4,
    )
    customer_id = pl.col("user").cast(pl.String).str.zfill(8)
    article_id = pl.col("item").cast(pl.String).str.zfill(10)
    transactions = ratings.select(
        t_dat=pl.from_epoch("time").dt.date().cast(pl.String),
        customer_id=customer_id,
        article_id=article_id,
        price=pl.lit(0.01),
        sales_channel_id=pl.lit(1),
    ).sort("t_dat", "customer_id", "article_id")
    transactions.write_csv(out / "transactions_train.csv")
    users = pl.read_csv(
        source / "u.user",
        separator="|",
        has_header=False,
        new_columns=["user", "age", "sex", "occupation", "zip"],
        infer_schema=False,
    )
    users.select(customer_id=customer_id, age=pl.col("age").cast(pl.Int64), postal_code="zip").write_csv(
        out / "customers.csv"
    )
    genres = [line.split("|")[0] for line in (source / "u.genre").read_text().splitlines() if line.strip()]
    items = pl.read_csv(source / "u.item", separator="|", has_header=False, encoding="utf8-lossy", infer_schema=False)
    flags = items.select(
        pl.concat_list(pl.col(items.columns[5 : 5 + len(genres)]).cast(pl.Int8)).list.arg_max().alias("genre")
    )["genre"]
    items.select(
        article_id=pl.col(items.columns[0]).str.zfill(10),
        product_code=pl.col(items.columns[0]).cast(pl.Int64),
        prod_name=pl.col(items.columns[1]),
        product_type_name=pl.Series([genres[g] for g in flags]),
    ).write_csv(out / "articles.csv")
    return transactions.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with u.data, u.item, u.user, u.genre")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    rows = convert(args.source, args.out)
    print(f"wrote {rows:,} purchases to {args.out}")


if __name__ == "__main__":
    main()
