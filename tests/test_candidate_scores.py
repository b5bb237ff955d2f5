"""candidate_scores reads every figure from one ranking of the set: it must give exactly what the
Kaggle metrics (metrics.average_precision, metrics.recall) give on the set's own order."""

from __future__ import annotations

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from hmrec_cli.metrics import average_precision, recall
from hmrec_cli.pipeline.recall import candidate_scores, ordered
from hmrec_cli.reports.candidates_report import recall_sums, scored


def _by_the_metrics(candidates: pl.DataFrame, target: pl.DataFrame) -> pl.DataFrame:
    """The figures computed one metric at a time (how candidate_scores was first written)."""
    ranked = ordered(candidates)
    out = average_precision(ranked, target)
    for k in (12, 50, 100):
        out = out.join(
            recall(ranked, target, k).select("customer", pl.col("recall").alias(f"recall@{k}")), on="customer"
        )
    whole = recall(ranked, target, 10**9).select("customer", pl.col("recall").alias("recall@all"), "hits", "n_truth")
    sizes = candidates.group_by("customer").agg(n_candidates=pl.len())
    return (
        out.join(whole, on="customer")
        .join(sizes, on="customer", how="left")
        .with_columns(pl.col("n_candidates").fill_null(0))
    )


def test_candidate_scores_equal_the_kaggle_metrics_with_ties_repeats_and_strangers() -> None:
    rng = np.random.default_rng(7)
    target = (
        pl.DataFrame(
            {
                "customer": rng.integers(0, 300, 900).astype(np.uint32),
                "article": rng.integers(0, 400, 900).astype(np.uint32),
            }
        )
        .unique()
        .sort("customer", "article")
    )
    n = 40_000  # ~130 rows per customer: positions past 100 count for recall@all only
    candidates = pl.DataFrame(
        {
            "customer": rng.integers(0, 350, n).astype(np.uint32),  # customers 300..349 bought nothing: not scored
            "article": rng.integers(0, 400, n).astype(
                np.uint32
            ),  # an article repeated for a customer: its best row counts
            "score": rng.integers(0, 6, n).astype(np.float32),  # many ties, broken by article id
        }
    )
    mine = candidate_scores(candidates, target)
    assert_frame_equal(mine, _by_the_metrics(candidates, target), check_dtypes=False)
    assert mine["hits"].sum() > 0 and (mine["recall@all"] > mine["recall@12"]).any()

    scores, curve = scored(candidates, target)  # what evaluate --candidates uses: the same, with the curve
    assert_frame_equal(scores, mine)
    assert np.allclose(curve, recall_sums(candidates, target))
    assert np.isclose(curve[99] / scores.height, scores["recall@100"].mean())


def test_a_buyer_without_candidates_scores_zero() -> None:
    target = pl.DataFrame(
        {"customer": [1, 1, 2], "article": [5, 6, 7]}, schema={"customer": pl.UInt32, "article": pl.UInt32}
    )
    candidates = pl.DataFrame(
        {"customer": [1, 1], "article": [6, 9], "score": [2.0, 1.0]},
        schema={"customer": pl.UInt32, "article": pl.UInt32, "score": pl.Float32},
    )
    rows = {r["customer"]: r for r in candidate_scores(candidates, target).to_dicts()}
    assert rows[1]["ap"] == 0.5 and rows[1]["recall@12"] == 0.5 and rows[1]["n_candidates"] == 2
    assert rows[2]["ap"] == 0 and rows[2]["hits"] == 0 and rows[2]["n_candidates"] == 0


def test_the_recall_curve_is_the_same_bits_every_time() -> None:
    """Regression: `ranked_hits` joined the buyers' sizes without keeping its order, so the curve's
    sums ran in another order each call and `evaluate --candidates` differed in the last digits
    between two runs on the same sets (seen as `--engine ray` against the plain run)."""
    rng = np.random.default_rng(3)
    size = 200_000
    target = pl.DataFrame(
        {
            "customer": rng.integers(0, 20_000, size // 4).astype(np.uint32),
            "article": rng.integers(0, 500, size // 4).astype(np.uint32),
        }
    )
    candidates = pl.DataFrame(
        {
            "customer": rng.integers(0, 20_000, size).astype(np.uint32),
            "article": rng.integers(0, 500, size).astype(np.uint32),
            "score": rng.random(size).astype(np.float32),
        }
    )
    first = recall_sums(candidates, target)
    assert all((recall_sums(candidates, target) == first).all() for _ in range(5))
