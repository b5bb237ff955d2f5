"""Writing tables in the competition's exact text format (ids, empty fields, date and price text)."""

from __future__ import annotations

from datetime import date
from typing import BinaryIO

import numpy as np
import polars as pl

TRANSACTIONS_HEADER = b"t_dat,customer_id,article_id,price,sales_channel_id\n"


def hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct random 64-character lowercase hex strings, sorted (as Kaggle's ids are)."""
    ids = np.empty(0, dtype="S64")
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    while ids.size < n:  # collisions are astronomically rare; the loop only tops up after one
        raw = rng.integers(0, 256, size=(n - ids.size, 32), dtype=np.uint8)
        chars = np.empty((raw.shape[0], 64), dtype=np.uint8)
        chars[:, 0::2] = digits[raw >> 4]
        chars[:, 1::2] = digits[raw & 15]
        ids = np.unique(np.concatenate([ids, chars.view("S64").ravel()]))
    return ids.astype(str)


def optional_text(value: str | np.ndarray, present: np.ndarray) -> pl.Series:
    """Text where `present`, else an empty field (Kaggle writes missing values as nothing)."""
    values = pl.Series(np.broadcast_to(np.asarray(value), present.shape), dtype=pl.String)
    return values.zip_with(pl.Series(present), pl.Series([None] * present.size, dtype=pl.String))


def write_transactions_chunk(
    fh: BinaryIO, rows: pl.DataFrame, start: date, customer_ids: pl.Series, article_ids: pl.Series
) -> None:
    """Append rows (day offset, customer index, article index, price, channel) as Kaggle CSV text."""
    rows.select(
        (pl.lit(start) + pl.duration(days=pl.col("day"))).dt.strftime("%Y-%m-%d").alias("t_dat"),
        customer_ids.gather(rows["customer"]).alias("customer_id"),
        article_ids.gather(rows["article"]).cast(pl.String).str.zfill(10).alias("article_id"),
        "price",
        pl.col("channel").alias("sales_channel_id"),
    ).write_csv(fh, include_header=False)
