"""The feature table every ranker scores: one row per candidate of a `RankingWeek`, built from the
week's cut history only, so DIN, lgbm and any third-party ranker learn from identical inputs.

Dense features (raw counts are log1p-scaled, so a linear model or a network can use them as they
are; trees do not care): per source its score (signed log1p), rank / k and whether it proposed
the article; the sources' reciprocal-rank fusion (merge's untuned order, sum of 1 / (11 + rank):
with few buyers to learn from, a ranker can start from it); the article's sales in the last 1/7/28 days and overall, trend, days since its first
sale, mean buyer age, mean price; the customer's purchases overall / last 28 days, online share,
days since the last purchase, mean price paid; and the pair's counts (this article, product code,
product type) and days since the customer last bought the article.

Built in customer chunks (`FEATURE_CHUNK` customers at a time, into one preallocated float32
matrix), so the polars intermediates of a pass (about 25 columns per candidate row) stay bounded
at any scale; every feature is per article (computed once per week) or per customer, so the
chunks give exactly the table a single pass would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from hmrec_cli.plugin_api import RankingWeek
from hmrec_cli.toolkit.features import (
    GROUP_KEYS,
    NEVER,
    GroupSales,
    article_activity,
    customer_activity,
    customer_groups,
    group_lift,
    group_sales,
    pair_activity,
)

ARTICLE_DENSE = ("sales_1d", "sales_7d", "sales_28d", "sales_all", "days_since_first_sale")
CUSTOMER_DENSE = ("purchases", "purchases_28d", "days_since_last")
PAIR_DENSE = ("bought_article", "bought_product", "bought_type", "days_since_article")
FUSION_C = 10.0  # merge's default rank offset
FEATURE_CHUNK = 20_000  # customers per pass: ~10M candidate rows at 500 per customer, ~3 GiB of intermediates


@dataclass
class CandidateFeatures:
    """`rows`: the week's candidates (their order and columns kept: customer, article, label when
    labelled, ...) with the article's `price_band`; `dense`: float32 [rows, features] named by `names`."""

    rows: pl.DataFrame
    dense: np.ndarray
    names: list[str]


def dense_names(sources: tuple[str, ...]) -> list[str]:
    per_source = [f"{s}_{kind}" for s in sources for kind in ("score", "rank", "present")]
    return [
        *per_source,
        "fused_rank",
        *ARTICLE_DENSE,
        "trend",
        "mean_buyer_age",
        "mean_price",
        "article_repeat_rate",
        *CUSTOMER_DENSE,
        "online_share",
        "mean_price_paid",
        "customer_repeat_rate",
        *PAIR_DENSE,
        *(f"{key}_lift" for key in GROUP_KEYS),
    ]


def customer_chunks(customers: pl.Series, size: int) -> list[pl.Series]:
    """The distinct customers, sorted, in consecutive slices of `size`: the one chunking every
    week (training or target) is built and scored in."""
    distinct = customers.unique().sort()
    return [distinct.slice(lo, size) for lo in range(0, distinct.len(), size)] or [distinct]


def row_ranges(customer: pl.Series, size: int) -> list[tuple[int, int]]:
    """Row ranges [lo, hi) of a column sorted by customer, `size` customers each."""
    if customer.len() == 0:
        return [(0, 0)]
    starts = [int(customer.search_sorted(chunk[0], side="left")) for chunk in customer_chunks(customer, size)]
    return list(zip(starts, [*starts[1:], customer.len()], strict=True))


def candidate_features(
    week: RankingWeek, activity: pl.DataFrame | None = None, chunk: int = FEATURE_CHUNK
) -> CandidateFeatures:
    """Features of each candidate row, built `chunk` customers at a time; `activity`
    (`article_activity` of this week) may be passed when a ranker scores a week in customer
    chunks, so it is computed once."""
    ctx = week.ctx
    if activity is None:
        activity = article_activity(ctx.history, ctx.week, ctx.customers)
    cands = week.candidates
    order = None if cands["customer"].is_sorted() else np.argsort(cands["customer"].to_numpy(), kind="stable")
    if order is not None:
        cands = cands[order]
    names = dense_names(week.sources)
    groups = customer_groups(ctx.customers)
    sales = [group_sales(ctx.history, ctx.week, groups, key) for key in GROUP_KEYS]
    ranges = row_ranges(cands["customer"], chunk)
    if len(ranges) == 1:  # one chunk (a scoring call): its matrix as it is, without a copy
        rows, dense = _chunk_features(
            week if order is None else replace(week, candidates=cands), activity, groups, sales
        )
    else:
        dense = np.empty((cands.height, len(names)), dtype=np.float32)
        parts = []
        for lo, hi in ranges:
            part, dense[lo:hi] = _chunk_features(
                replace(week, candidates=cands.slice(lo, hi - lo)), activity, groups, sales
            )
            parts.append(part)
        rows = pl.concat(parts)
    if order is not None:  # back to the caller's row order
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        rows, dense = rows[back], dense[back]
    return CandidateFeatures(rows, dense, names)


def _chunk_features(
    week: RankingWeek, activity: pl.DataFrame, groups: pl.DataFrame, sales: list[GroupSales]
) -> tuple[pl.DataFrame, np.ndarray]:
    """The candidate rows (with `price_band`) and their dense features, for one chunk of customers."""
    ctx, k = week.ctx, week.k
    cands = week.candidates
    customers = cands["customer"].unique().sort()
    mine = ctx.history.filter(pl.col("customer").is_in(customers.implode()))  # one pass over the history per chunk
    people = customer_activity(mine, ctx.week, customers)
    pairs = pair_activity(mine, ctx.week, ctx.articles, cands)  # row for row with cands: no join on the pair, no sort
    rows = (
        cands.join(activity, on="article", how="left", maintain_order="left")
        .join(people, on="customer", how="left", maintain_order="left")
        .hstack(pairs.drop("customer", "article"))
        .hstack([group_lift(s, groups, cands) for s in sales])
    )
    log1p = lambda name: pl.col(name).fill_null(0).cast(pl.Float32).log1p()  # noqa: E731
    exprs = []
    for s in week.sources:
        score = pl.col(f"{s}_score").cast(pl.Float32)
        exprs += [
            score.sign() * score.abs().log1p(),
            pl.col(f"{s}_rank").cast(pl.Float32) / k,
            (pl.col(f"{s}_rank") < k).cast(pl.Float32),
        ]
    exprs.append(
        pl.sum_horizontal(
            pl.when(pl.col(f"{s}_rank") < k)
            .then(1.0 / (FUSION_C + 1 + pl.col(f"{s}_rank").cast(pl.Float32)))
            .otherwise(0.0)
            for s in week.sources
        )
    )
    exprs += [log1p(n) for n in ARTICLE_DENSE]
    exprs += [
        pl.col("trend").fill_null(1.0).log(),
        pl.col("mean_buyer_age").fill_null(0.0) / 100,
        pl.col("mean_price").fill_null(0.0) * 30,
        pl.col("article_repeat_rate").fill_null(0.0),
    ]
    exprs += [log1p(n) for n in CUSTOMER_DENSE]
    exprs += [
        pl.col("online_share").fill_null(0.0),
        pl.col("mean_price_paid").fill_null(0.0) * 30,
        pl.col("customer_repeat_rate").fill_null(0.0),
    ]
    exprs += [
        log1p(n) if n != "days_since_article" else pl.col(n).fill_null(NEVER).cast(pl.Float32).log1p()
        for n in PAIR_DENSE
    ]
    exprs += [pl.col(f"{key}_lift") for key in GROUP_KEYS]
    dense = rows.select(e.cast(pl.Float32).alias(str(i)) for i, e in enumerate(exprs)).to_numpy(
        order="c"
    )  # float32 already: no second copy
    return rows.select(*week.candidates.columns, "price_band"), dense.reshape(rows.height, len(exprs))
