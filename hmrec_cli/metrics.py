"""Kaggle MAP@12 and candidate recall, vectorised over customers.

Predictions are long frames `customer, article, rank` (lower rank = earlier in the list; ties
keep row order). Only the first `k` *distinct* articles of a customer count. An article the store
does not know is given a negative id by the reader: it takes a slot and never matches.

For a customer with truth set T (distinct articles bought in the week) and predictions P:
AP@k = sum_{i<=k} precision(i) * rel(i) / min(k, |T|). MAP@k is the mean over customers with a
purchase in the week; such a customer with no predictions scores 0, customers without purchases
are not scored. Every figure is a per-customer value, so results are invariant to chunking.
"""

from __future__ import annotations

import numpy as np
import polars as pl

K = 12


def first_distinct(predictions: pl.DataFrame, k: int) -> pl.DataFrame:
    """Each customer's first `k` distinct articles in rank order, numbered `pos` = 1..k."""
    return (
        predictions.sort("customer", "rank", maintain_order=True)
        .unique(subset=["customer", "article"], keep="first", maintain_order=True)
        .with_columns(pos=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over("customer"))
        .filter(pl.col("pos") <= k)
    )


def _marked(predictions: pl.DataFrame, truth: pl.DataFrame, k: int) -> pl.DataFrame:
    top = first_distinct(predictions.select("customer", pl.col("article").cast(pl.Int64), "rank"), k)
    hits = truth.select("customer", pl.col("article").cast(pl.Int64), hit=pl.lit(True))
    return top.join(hits, on=["customer", "article"], how="left").with_columns(pl.col("hit").fill_null(False))


def _truth_sizes(truth: pl.DataFrame) -> pl.DataFrame:
    return truth.group_by("customer").agg(n_truth=pl.len())


def average_precision(predictions: pl.DataFrame, truth: pl.DataFrame, k: int = K) -> pl.DataFrame:
    """AP@k for every customer in `truth` (columns customer, ap), sorted by customer."""
    marked = _marked(predictions, truth, k).sort("customer", "pos")
    per_customer = (
        marked.with_columns(cum_hits=pl.col("hit").cast(pl.UInt32).cum_sum().over("customer"))
        .filter("hit")
        .group_by("customer")
        .agg(precision_sum=(pl.col("cum_hits") / pl.col("pos")).sum())
    )
    return (
        _truth_sizes(truth)
        .join(per_customer, on="customer", how="left")
        .select(
            "customer",
            ap=pl.col("precision_sum").fill_null(0.0) / pl.min_horizontal(pl.col("n_truth"), pl.lit(k)),
        )
        .sort("customer")
    )


def map_at_k(predictions: pl.DataFrame, truth: pl.DataFrame, k: int = K) -> float:
    """Kaggle MAP@k: mean AP@k over the customers who bought something (0.0 when nobody did)."""
    ap = average_precision(predictions, truth, k)
    return float(ap["ap"].mean()) if ap.height else 0.0


def recall(predictions: pl.DataFrame, truth: pl.DataFrame, k: int) -> pl.DataFrame:
    """|T ∩ first k distinct| / |T| per customer in truth (columns customer, recall, hits, n_truth)."""
    hits = _marked(predictions, truth, k).group_by("customer").agg(hits=pl.col("hit").sum())
    return (
        _truth_sizes(truth)
        .join(hits, on="customer", how="left")
        .with_columns(pl.col("hits").fill_null(0))
        .with_columns(recall=pl.col("hits") / pl.col("n_truth"))
        .sort("customer")
    )


def ap_of_scores(candidates: pl.DataFrame, scores, k: int = K) -> pl.DataFrame:
    """AP@k per listed customer (customer, ap; sorted by customer) of ordering a labelled week's
    candidates by `scores` (ties by article id); see `map_of_scores` for the columns it needs."""
    if candidates.height and candidates["bought"].min() == 0:
        raise ValueError("map_of_scores: every listed customer must be a buyer of the week (bought >= 1)")
    top = (
        candidates.select("customer", "article", "label", "bought", score=pl.Series(scores, dtype=pl.Float64))
        .sort(["customer", "score", "article"], descending=[False, True, False])
        .group_by("customer", maintain_order=True)
        .head(k)
        .with_columns(
            pos=pl.int_range(1, pl.len() + 1).over("customer"),
            hits=pl.col("label").cast(pl.UInt32).cum_sum().over("customer"),
        )
    )
    return (
        top.group_by("customer")
        .agg(
            ap=(pl.col("hits") / pl.col("pos") * pl.col("label")).sum()
            / pl.min_horizontal(pl.col("bought").first(), pl.lit(k))
        )
        .sort("customer")
    )


def map_of_scores(candidates: pl.DataFrame, scores, k: int = K) -> float:
    """MAP@k of ordering a labelled week's candidates by `scores` (ties by article id).

    `candidates`: customer, article, label (1 = bought that week), bought (how many distinct
    articles the customer bought that week, candidates or not): exactly the Kaggle MAP@k of the
    week's buyers listed, for training rankers and picking their epochs without the truth table.
    """
    customers = candidates["customer"].n_unique()
    return float(ap_of_scores(candidates, scores, k)["ap"].sum() / customers) if customers else 0.0


class ManyOrders:
    """MAP@k of many score vectors over the same labelled candidates (tuning the fusion scores ~80):
    a purchase's position is 1 + the number of its customer's candidates ahead of it (higher score,
    or the same score and a lower article id, as in `ap_of_scores`), so each vector costs one pass
    over (purchase, candidate of the same customer) pairs instead of a sort of every row. Equal to
    `map_of_scores`; the pairs take 8 bytes each (purchases x candidates per customer).

    `negative_share` < 1: the candidates hold that share of each customer's non-purchases (a
    sampled training week), so each one ahead counts 1 / share: the expected position in the
    whole list, not the position among the sample (which flatters orders unevenly)."""

    def __init__(self, candidates: pl.DataFrame, k: int = K, negative_share: float = 1.0):
        if candidates.height and candidates["bought"].min() == 0:
            raise ValueError("ManyOrders: every listed customer must be a buyer of the week (bought >= 1)")
        customer = candidates["customer"].to_numpy()
        self.order = np.argsort(customer, kind="stable")
        customer = customer[self.order]
        starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]]) if customer.size else np.zeros(0, np.int64)
        sizes = np.diff(np.r_[starts, customer.size])
        bought = candidates["bought"].to_numpy()[self.order][starts]
        self.customers, self.k = starts.size, k
        self.denominator = np.minimum(bought, k).astype(np.float64)
        label = candidates["label"].to_numpy()[self.order]
        purchase = np.flatnonzero(label > 0)
        self.block = np.repeat(np.arange(starts.size), sizes)[purchase]  # each purchase's customer, ascending
        span = sizes[self.block]
        self.offsets = (np.cumsum(span) - span).astype(np.int64)  # each purchase's first pair; none without purchases
        self.pair_purchase = np.repeat(purchase, span).astype(np.int32)
        self.pair_row = (
            np.arange(int(span.sum())) - np.repeat(self.offsets, span) + np.repeat(starts[self.block], span)
        ).astype(np.int32)
        article = candidates["article"].to_numpy()[self.order]
        self.lower_article = article[self.pair_row] < article[self.pair_purchase]
        self.weight = np.where(label[self.pair_row] > 0, 1.0, 1.0 / negative_share) if negative_share < 1.0 else None

    def ap(self, scores) -> np.ndarray:
        """AP@k per customer, in ascending customer order (as `ap_of_scores`)."""
        if not self.block.size:
            return np.zeros(self.customers)
        s = np.asarray(scores, dtype=np.float64)[self.order]
        mine, theirs = s[self.pair_purchase], s[self.pair_row]
        ahead = (theirs > mine) | ((theirs == mine) & self.lower_article)
        position = (
            np.add.reduceat(
                ahead if self.weight is None else ahead * self.weight,
                self.offsets,
                dtype=np.int64 if self.weight is None else np.float64,
            )
            + 1
        )
        ranked = np.lexsort((position, self.block))  # within a customer, purchases by position
        first = np.r_[True, self.block[ranked][1:] != self.block[ranked][:-1]]
        run_start = np.maximum.accumulate(np.where(first, np.arange(ranked.size), 0))
        hits = np.empty(ranked.size)
        hits[ranked] = np.arange(ranked.size) - run_start + 1  # purchases at or before this one
        gain = np.where(position <= self.k, hits / position, 0.0)
        return np.bincount(self.block, gain, minlength=self.customers) / self.denominator

    def map(self, scores) -> float:
        return float(self.ap(scores).sum() / self.customers) if self.customers else 0.0
