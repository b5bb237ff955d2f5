"""DIN's inputs for one week, built with polars from the week's cut history and its candidates:
per row the article, customer, dense features and price band; per customer the purchase sequence.

Dense features (raw counts are log1p-scaled; the model standardises them with training statistics):
per source its score (signed log1p), rank / k and whether it proposed the article; the article's
sales in the last 1/7/28 days and overall, trend, days since its first sale, mean buyer age, mean
price; the customer's purchases overall / last 28 days, online share, days since the last purchase,
mean price paid; and the pair's counts (this article, product code, product type) and days since
the customer last bought the article.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hmrec_cli.features import NEVER, article_activity, customer_activity, pair_activity
from hmrec_cli.plugin_api import RankingWeek
from hmrec_cli.sequences import purchase_sequences

ARTICLE_DENSE = ("sales_1d", "sales_7d", "sales_28d", "sales_all", "days_since_first_sale")
CUSTOMER_DENSE = ("purchases", "purchases_28d", "days_since_last")
PAIR_DENSE = ("bought_article", "bought_product", "bought_type", "days_since_article")


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


def dense_names(sources: tuple[str, ...]) -> list[str]:
    per_source = [f"{s}_{kind}" for s in sources for kind in ("score", "rank", "present")]
    return [*per_source, *ARTICLE_DENSE, "trend", "mean_buyer_age", "mean_price", *CUSTOMER_DENSE, "online_share", "mean_price_paid", *PAIR_DENSE]


def week_inputs(week: RankingWeek, length: int, activity: pl.DataFrame | None = None) -> WeekInputs:
    """Build the inputs; `activity` (article_activity of this week) may be passed when scoring in chunks."""
    ctx, k = week.ctx, week.k
    cands = week.candidates.with_row_index("row")
    customers = cands["customer"].unique().sort()
    if activity is None:
        activity = article_activity(ctx.history, ctx.week, ctx.customers)
    people = customer_activity(ctx.history, ctx.week, customers)
    pairs = pair_activity(ctx.history, ctx.week, ctx.articles, cands)
    rows = (
        cands.join(activity, on="article", how="left")
        .join(people, on="customer", how="left")
        .join(pairs, on=["customer", "article"], how="left")
        .sort("row")
    )
    log1p = lambda name: pl.col(name).fill_null(0).cast(pl.Float32).log1p()  # noqa: E731
    exprs = []
    for s in week.sources:
        score = pl.col(f"{s}_score").cast(pl.Float32)
        exprs += [score.sign() * score.abs().log1p(), pl.col(f"{s}_rank").cast(pl.Float32) / k, (pl.col(f"{s}_rank") < k).cast(pl.Float32)]
    exprs += [log1p(n) for n in ARTICLE_DENSE]
    exprs += [
        pl.col("trend").fill_null(1.0).log(),
        pl.col("mean_buyer_age").fill_null(0.0) / 100,
        pl.col("mean_price").fill_null(0.0) * 30,
    ]
    exprs += [log1p(n) for n in CUSTOMER_DENSE]
    exprs += [pl.col("online_share").fill_null(0.0), pl.col("mean_price_paid").fill_null(0.0) * 30]
    exprs += [log1p(n) if n != "days_since_article" else pl.col(n).fill_null(NEVER).cast(pl.Float32).log1p() for n in PAIR_DENSE]
    dense = rows.select(e.cast(pl.Float32).alias(str(i)) for i, e in enumerate(exprs)).to_numpy().astype(np.float32)
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
    )


def concat(weeks: list[WeekInputs]) -> WeekInputs:
    """Several weeks as one table: sequence rows offset per week, groups made distinct per week."""
    offsets = np.cumsum([0] + [w.items.shape[0] for w in weeks[:-1]])
    group_offsets = np.cumsum([0] + [int(w.group.max(initial=0)) + 1 for w in weeks[:-1]])
    return WeekInputs(
        article=np.concatenate([w.article for w in weeks]),
        customer=np.concatenate([w.customer for w in weeks]),
        seq_row=np.concatenate([w.seq_row + o for w, o in zip(weeks, offsets)]),
        price_band=np.concatenate([w.price_band for w in weeks]),
        dense=np.concatenate([w.dense for w in weeks]),
        items=np.concatenate([w.items for w in weeks]),
        age_days=np.concatenate([w.age_days for w in weeks]),
        label=np.concatenate([w.label for w in weeks]) if all(w.label is not None for w in weeks) else None,
        group=np.concatenate([w.group + o for w, o in zip(weeks, group_offsets)]),
    )
