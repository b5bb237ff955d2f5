"""Training examples for retrievers, over many weeks: for each training week w (the `weeks` weeks
before the target week) and each customer who bought in w, their history cut at w's start (last
purchases as padded ids and ages, plus activity features) and the distinct articles they bought
in w as targets. Next week's purchases from the history before it: exactly the task at serving.

Built once with polars (one pass per week, no loop over customers) and reused across epochs. The
inputs of week w come from rows before w's start only, so a model trained on them is trained as
it is used; `user_inputs` builds the same inputs for any customers at the target week's cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from hmrec_cli.data.splits import Week, history_prefix, in_week
from hmrec_cli.toolkit.features import customer_activity
from hmrec_cli.toolkit.sequences import purchase_sequences

USER_DENSE = ("log_purchases", "log_purchases_28d", "online_share", "log_days_since_last", "mean_price_paid")


@dataclass(frozen=True)
class UserInputs:
    """What a user tower reads about customers at one cut (one row per customer or example).

    `items`: article index + 1 (0 = padding), most recent first, int64 [n, length]; `age_days`:
    days between the purchase and the cut (>= 1), 0 on padding, int64 [n, length]; `dense`:
    float32 [n, len(USER_DENSE)] activity before the cut (log1p counts, share of purchases online,
    log1p days since the last purchase, mean price paid x 30)."""

    customer: np.ndarray  # int64 [n]
    items: np.ndarray
    age_days: np.ndarray
    dense: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {"customer": self.customer, "items": self.items, "age_days": self.age_days, "dense": self.dense}


def user_inputs(history: pl.DataFrame, week: Week, customers: pl.Series, length: int) -> UserInputs:
    """Inputs of `customers` (sorted and made distinct) at `week`'s start; `history` is cut there."""
    wanted = customers.cast(pl.UInt32).unique().sort()
    seqs = purchase_sequences(history, week, wanted, length)
    activity = customer_activity(history, week, wanted).sort("customer")
    dense = (
        activity.select(
            pl.col("purchases").cast(pl.Float32).log1p(),
            pl.col("purchases_28d").cast(pl.Float32).log1p(),
            pl.col("online_share").cast(pl.Float32),
            pl.col("days_since_last").cast(pl.Float32).log1p(),
            (pl.col("mean_price_paid") * 30).cast(pl.Float32),
        )
        .to_numpy()
        .astype(np.float32)
    )
    return UserInputs(
        wanted.cast(pl.Int64).to_numpy(),
        seqs.items.astype(np.int64),
        seqs.age_days.astype(np.int64),
        dense.reshape(wanted.len(), len(USER_DENSE)),
    )


@dataclass(frozen=True)
class WeeklyExamples:
    """One row per (training week, buyer); `pair_example`/`pair_article` list each distinct article
    the row's customer bought that week (a row has at least one)."""

    users: UserInputs
    week: np.ndarray  # int64 [n]: index into `starts` (0 = oldest week)
    starts: tuple[date, ...]
    pair_example: np.ndarray  # int64 [m], sorted
    pair_article: np.ndarray  # int64 [m]

    @property
    def rows(self) -> int:
        return int(self.week.size)


def training_weeks(week: Week, weeks: int, first_date: date) -> list[Week]:
    """The `weeks` weeks before `week`, oldest first, dropping those without history before them."""
    return [w for w in (week.earlier(i) for i in range(weeks, 0, -1)) if w.start > first_date]


def weeks_holding(history: pl.DataFrame, week: Week, weeks: int, min_purchases: int) -> int:
    """`weeks`, or more when those hold fewer than `min_purchases` purchases (rows of `history`,
    cut at `week`'s start): the fewest weeks back from `week` that reach it, or every week of the
    history if none do. Binary searches on the sorted dates: no pass over the rows."""
    if min_purchases <= 0 or history.height == 0:
        return weeks
    dates = history["t_dat"] if history["t_dat"].is_sorted() else history["t_dat"].sort()
    span = -(-(week.start - dates[0]).days // 7)  # weeks back to the first purchase
    starts = pl.Series([week.start - timedelta(days=7 * i) for i in range(1, span + 1)])
    held = history.height - dates.search_sorted(starts, side="left").to_numpy()  # purchases in the i weeks before
    reached = np.flatnonzero(held >= min_purchases)
    return max(weeks, int(reached[0]) + 1 if reached.size else span)


def weekly_examples(
    history: pl.DataFrame, week: Week, weeks: int, length: int, min_purchases: int = 0
) -> WeeklyExamples:
    """Examples of the `weeks` weeks before `week` (more if they hold fewer than `min_purchases`
    purchases: `weeks_holding`), from `history` (cut at `week`'s start, sorted by date as the
    store's is). Weeks without buyers or without earlier history contribute nothing."""
    if history.height and history["t_dat"].max() >= week.start:
        raise ValueError(f"history reaches {history['t_dat'].max()}, on or after the week start {week.start}")
    weeks = weeks_holding(history, week, weeks, min_purchases)
    first = history["t_dat"].min() if history.height else week.start
    parts, pairs, starts = [], [], []
    offset = 0
    for w in training_weeks(week, weeks, first):
        bought = (
            in_week(history, w)
            .select(pl.col("customer").cast(pl.Int64), pl.col("article").cast(pl.Int64))
            .unique()
            .sort("customer", "article")
        )
        if bought.height == 0:
            continue
        buyers = bought["customer"].unique().sort()
        inputs = user_inputs(history_prefix(history, w), w, buyers, length)
        row = np.searchsorted(inputs.customer, bought["customer"].to_numpy()) + offset
        parts.append((inputs, len(starts)))
        pairs.append((row, bought["article"].to_numpy()))
        starts.append(w.start)
        offset += inputs.customer.size
    if not parts:
        empty = UserInputs(
            np.zeros(0, np.int64),
            np.zeros((0, length), np.int64),
            np.zeros((0, length), np.int64),
            np.zeros((0, len(USER_DENSE)), np.float32),
        )
        return WeeklyExamples(empty, np.zeros(0, np.int64), (), np.zeros(0, np.int64), np.zeros(0, np.int64))
    users = UserInputs(
        *(np.concatenate([getattr(p, f) for p, _ in parts]) for f in ("customer", "items", "age_days", "dense"))
    )
    week_index = np.concatenate([np.full(p.customer.size, i, dtype=np.int64) for p, i in parts])
    return WeeklyExamples(
        users, week_index, tuple(starts), np.concatenate([r for r, _ in pairs]), np.concatenate([a for _, a in pairs])
    )
