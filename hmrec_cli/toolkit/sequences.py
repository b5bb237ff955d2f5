"""Purchase histories as padded arrays: the input of every sequence model (DIN, two-tower, TDM).

Built with polars once per week from the history already cut at the week's start, so a sequence
can never hold a purchase made on or after the week it is used for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hmrec_cli.data.splits import Week


@dataclass(frozen=True)
class Sequences:
    """Row i holds the last `length` purchases of `customers[i]`, most recent first.

    `items`: article index + 1 (0 = padding), int32 [n, length]; `age_days`: days between the
    purchase and the week's start (>= 1), int16 [n, length], 0 on padding. Customers without
    history get an all-padding row.
    """

    customers: pl.Series  # u32, sorted, distinct
    items: np.ndarray
    age_days: np.ndarray

    def rows(self, customers: pl.Series) -> np.ndarray:
        """Row index of each of `customers` (every one must be among this batch's customers)."""
        index = np.searchsorted(self.customers.to_numpy(), customers.cast(pl.UInt32).to_numpy())
        if index.size and (
            index.max() >= self.customers.len() or not (self.customers.to_numpy()[index] == customers.to_numpy()).all()
        ):
            raise KeyError("a customer has no row in these sequences")
        return index.astype(np.int64)


def purchase_sequences(history: pl.DataFrame, week: Week, customers: pl.Series, length: int) -> Sequences:
    """The last `length` purchases before `week` of each customer (vectorised, no per-customer loop).

    `history` must already be cut at the week (`splits.history`); rows on or after the week start
    are refused rather than silently dropped, because receiving them means a caller leaked.
    """
    if history.height and history["t_dat"].max() >= week.start:
        raise ValueError(f"history reaches {history['t_dat'].max()}, on or after the week start {week.start}")
    wanted = customers.cast(pl.UInt32).unique().sort()
    recent = (
        history.lazy()
        .filter(pl.col("customer").is_in(wanted.implode()))
        .select("customer", "article", "t_dat")
        .with_row_index("order")  # history is sorted by date; later rows win ties within a day
        .sort(["customer", "t_dat", "order"], descending=[False, True, True])
        .with_columns(position=pl.int_range(pl.len(), dtype=pl.UInt32).over("customer"))
        .filter(pl.col("position") < length)
        .collect()
    )
    items = np.zeros((wanted.len(), length), dtype=np.int32)
    ages = np.zeros((wanted.len(), length), dtype=np.int16)
    rows = np.searchsorted(wanted.to_numpy(), recent["customer"].to_numpy())
    cols = recent["position"].to_numpy()
    items[rows, cols] = recent["article"].to_numpy().astype(np.int32) + 1
    days = recent.select(days=(pl.lit(week.start) - pl.col("t_dat")).dt.total_days())["days"].to_numpy()
    ages[rows, cols] = np.minimum(days, np.iinfo(np.int16).max).astype(np.int16)
    return Sequences(wanted, items, ages)
