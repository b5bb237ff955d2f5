"""Which rows of a labelled training week a ranker learns from, drawn so that the chunking never
changes them: a per-(customer, article) hash of the seed and the week decides, not the order rows
arrive in (`keep_draw`)."""

from __future__ import annotations

import numpy as np
import polars as pl

from hmrec_cli.data.splits import Week


def at_most(buyers: pl.Series, n: int, seed: int) -> pl.Series:
    """At most `n` of the (sorted) `buyers`, drawn with the seed, sorted."""
    if buyers.len() <= n:
        return buyers
    return pl.Series(
        "customer", np.sort(np.random.default_rng(seed).choice(buyers.to_numpy(), n, replace=False)), dtype=pl.UInt32
    )


def whole_rows(candidates: pl.DataFrame, sources: tuple[str, ...], seed: int, week: Week, share: float) -> pl.DataFrame:
    """Every row (ranks and labels) of the customers with a purchase among their candidates whose
    `customer_draw` is below `share`: the sample fusion tuning scores merge's order on exactly."""
    hit = candidates.filter(pl.col("label") > 0)["customer"].unique()
    chosen = hit.filter(pl.Series(customer_draw(hit.to_numpy(), seed, week) < share))
    return candidates.filter(pl.col("customer").is_in(chosen.implode())).select(
        "customer", "article", "label", "bought", *(f"{s}_rank" for s in sources)
    )


def first_customers(customers: pl.Series, n: int, seed: int, week: Week) -> pl.Series:
    """The `n` distinct customers with the smallest `customer_draw` (all when fewer): a seeded
    sample that does not depend on how the week was chunked."""
    distinct = customers.unique().sort().to_numpy()
    if distinct.size <= n:
        return pl.Series(distinct)
    return pl.Series(np.sort(distinct[np.argsort(customer_draw(distinct, seed, week), kind="stable")[:n]]))


def customer_draw(customer: np.ndarray, seed: int, week: Week) -> np.ndarray:
    """A uniform number in [0, 1) per customer, fixed by the seed and the week."""
    return keep_draw(customer, np.full(customer.shape, 2**32 - 1, dtype=np.uint64), seed, week)


def kept(candidates: pl.DataFrame, share: float, seed: int, week: Week) -> pl.DataFrame:
    """The rows a ranker learns from: customers with a purchase among their candidates, every
    positive, and the negatives whose `keep_draw` is below `share`."""
    positive = pl.col("label") > 0
    draw = (
        pl.lit(True)
        if share >= 1.0
        else pl.Series(
            keep_draw(candidates["customer"].to_numpy(), candidates["article"].to_numpy(), seed, week) < share
        )
    )
    return candidates.filter(positive.any().over("customer") & (positive | draw))


def keep_draw(customer: np.ndarray, article: np.ndarray, seed: int, week: Week) -> np.ndarray:
    """A uniform number in [0, 1) per (customer, article), fixed by the seed and the week
    (splitmix64 of the pair): which rows are kept never depends on how customers are chunked."""
    x = (customer.astype(np.uint64) << np.uint64(32)) | article.astype(np.uint64)
    x ^= np.uint64((seed * 1_000_003 + week.start.toordinal()) % 2**64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53
