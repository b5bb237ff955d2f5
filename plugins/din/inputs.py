"""DIN's inputs for one week: the shared candidate feature table (`hmrec_cli.toolkit.candidate_features`,
the same one every ranker gets) plus what only DIN uses: article and customer indexes for its
embeddings, the price band, and per customer the purchase sequence it attends over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hmrec_cli.plugin_api import RankingWeek
from hmrec_cli.toolkit.candidate_features import candidate_features
from hmrec_cli.toolkit.sequences import purchase_sequences


@dataclass
class WeekInputs:
    """Row arrays aligned with the week's candidate rows, and the week's sequences."""

    article: np.ndarray  # int64, article index + 1
    customer: np.ndarray  # int64 customer index
    seq_row: np.ndarray  # int64 row into items/age_days
    price_band: np.ndarray  # int64
    dense: np.ndarray  # float32 [rows, features]
    items: np.ndarray  # int32 [customers, length]
    age_days: np.ndarray  # int16 [customers, length]
    label: np.ndarray | None  # float32, training weeks only
    group: np.ndarray  # int64 customer of the row, for per-customer losses
    prior: np.ndarray  # float32 starting score (the candidates' `prior` column; 0 without one)


def week_inputs(week: RankingWeek, length: int, activity: pl.DataFrame | None = None) -> WeekInputs:
    """Build the inputs; `activity` (article_activity of this week) may be passed when scoring in chunks."""
    ctx = week.ctx
    features = candidate_features(week, activity)
    rows, dense = features.rows, features.dense
    customers = rows["customer"].unique().sort()
    seqs = purchase_sequences(ctx.history, ctx.week, customers, length)
    customer = rows["customer"]
    return WeekInputs(
        article=rows["article"].cast(pl.Int64).to_numpy() + 1,
        customer=customer.cast(pl.Int64).to_numpy(),
        seq_row=seqs.rows(customer),
        price_band=rows["price_band"].fill_null(0).cast(pl.Int64).to_numpy(),
        dense=dense,
        items=seqs.items,
        age_days=seqs.age_days,
        label=rows["label"].cast(pl.Float32).to_numpy() if "label" in rows.columns else None,
        group=customer.cast(pl.Int64).to_numpy(),
        prior=rows["prior"].cast(pl.Float32).to_numpy()
        if "prior" in rows.columns
        else np.zeros(rows.height, dtype=np.float32),
    )


def concat(weeks: list[WeekInputs]) -> WeekInputs:
    """Several weeks as one table: sequence rows offset per week, groups made distinct per week."""
    offsets = np.cumsum([0] + [w.items.shape[0] for w in weeks[:-1]])
    group_offsets = np.cumsum([0] + [int(w.group.max(initial=0)) + 1 for w in weeks[:-1]])
    return WeekInputs(
        article=np.concatenate([w.article for w in weeks]),
        customer=np.concatenate([w.customer for w in weeks]),
        seq_row=np.concatenate([w.seq_row + o for w, o in zip(weeks, offsets, strict=True)]),
        price_band=np.concatenate([w.price_band for w in weeks]),
        dense=np.concatenate([w.dense for w in weeks]),
        items=np.concatenate([w.items for w in weeks]),
        age_days=np.concatenate([w.age_days for w in weeks]),
        label=np.concatenate([w.label for w in weeks]) if all(w.label is not None for w in weeks) else None,
        group=np.concatenate([w.group + o for w, o in zip(weeks, group_offsets, strict=True)]),
        prior=np.concatenate([w.prior for w in weeks]),
    )
