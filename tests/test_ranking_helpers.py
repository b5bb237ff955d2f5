"""The core helpers rankers are built from: sequences, features, the labelled MAP, devices, merge."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
import torch
from hmrec_plugins.merge import given_weights

from hmrec_cli.data.splits import Week
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import map_at_k, map_of_scores
from hmrec_cli.toolkit.features import NEVER, article_activity, pair_activity
from hmrec_cli.toolkit.fusion import fuse
from hmrec_cli.toolkit.sequences import purchase_sequences
from hmrec_cli.toolkit.training import resolve_device

WEEK = Week(date(2020, 9, 16), "last")


def _history(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    """(days before the week, customer, article) -> a history frame sorted by date."""
    return (
        pl.DataFrame(
            {
                "t_dat": [WEEK.start - timedelta(days=d) for d, _, _ in rows],
                "customer": [c for _, c, _ in rows],
                "article": [a for _, _, a in rows],
            },
            schema={"t_dat": pl.Date, "customer": pl.UInt32, "article": pl.UInt32},
        )
        .with_columns(price=pl.lit(0.02, pl.Float32), channel=pl.lit(2, pl.UInt8))
        .sort("t_dat")
    )


def test_sequences_are_the_last_purchases_most_recent_first() -> None:
    history = _history([(30, 0, 5), (3, 0, 7), (10, 0, 6), (1, 0, 8), (2, 2, 9)])
    seqs = purchase_sequences(history, WEEK, pl.Series([2, 0, 1], dtype=pl.UInt32), length=3)
    assert seqs.customers.to_list() == [0, 1, 2]
    assert seqs.items.tolist() == [[9, 8, 7], [0, 0, 0], [10, 0, 0]]  # article + 1; customer 1 has no history
    assert seqs.age_days.tolist() == [[1, 3, 10], [0, 0, 0], [2, 0, 0]]
    assert seqs.rows(pl.Series([2, 2, 0], dtype=pl.UInt32)).tolist() == [2, 2, 0]


def test_sequences_refuse_a_history_that_reaches_into_the_week() -> None:
    leaked = _history([(3, 0, 7), (0, 0, 8)])  # 0 days before = the week's first day
    with pytest.raises(ValueError, match="on or after the week start"):
        purchase_sequences(leaked, WEEK, pl.Series([0], dtype=pl.UInt32), length=4)


def test_article_and_pair_activity_count_only_the_past() -> None:
    history = _history([(1, 0, 1), (1, 1, 1), (5, 0, 1), (20, 1, 2), (40, 0, 3)])
    customers = pl.DataFrame({"customer": [0, 1], "age": [20, 40]}, schema={"customer": pl.UInt32, "age": pl.UInt8})
    act = article_activity(history, WEEK, customers).select(
        "article", "sales_1d", "sales_7d", "sales_28d", "sales_all", "days_since_first_sale", "mean_buyer_age"
    )
    assert act.drop("mean_buyer_age").rows() == [(1, 2, 3, 3, 3, 5), (2, 0, 0, 1, 1, 20), (3, 0, 0, 0, 1, 40)]
    ages = act["mean_buyer_age"].to_list()  # buyers in the last 28 days: 20, 40, 20 / 40 / none
    assert ages[0] == pytest.approx(80 / 3) and ages[1] == pytest.approx(40.0) and ages[2] is None
    articles = pl.DataFrame(
        {"article": [1, 2, 3, 4], "product_code": [10, 10, 30, 40], "product_type_no": [7, 7, 7, 8]},
        schema_overrides={"article": pl.UInt32},
    )
    pairs = pl.DataFrame(
        {"customer": [0, 0, 1], "article": [2, 4, 1]}, schema={"customer": pl.UInt32, "article": pl.UInt32}
    )
    got = pair_activity(history, WEEK, articles, pairs).sort("customer", "article")
    assert got.rows() == [(0, 2, 0, 2, 3, NEVER), (0, 4, 0, 0, 0, NEVER), (1, 1, 1, 2, 2, 1)]


def test_labelled_map_is_the_kaggle_map_of_the_same_order() -> None:
    rng = np.random.default_rng(4)
    rows = []
    for customer in range(60):
        articles = rng.choice(50, size=rng.integers(1, 30), replace=False)
        bought = set(rng.choice(50, size=rng.integers(1, 6), replace=False).tolist())
        rows += [(customer, int(a), int(a in bought), len(bought)) for a in articles]
    cands = pl.DataFrame(
        rows, schema={"customer": pl.UInt32, "article": pl.UInt32, "label": pl.UInt8, "bought": pl.UInt16}, orient="row"
    )
    truth_rows = []
    for customer in range(60):
        mine = cands.filter(pl.col("customer") == customer)
        hits = mine.filter(pl.col("label") == 1)["article"].to_list()
        truth_rows += [(customer, a) for a in hits] + [
            (customer, 1000 + i) for i in range(mine["bought"][0] - len(hits))
        ]
    truth = pl.DataFrame(truth_rows, schema={"customer": pl.UInt32, "article": pl.Int64}, orient="row")
    scores = rng.random(cands.height)
    order = cands.with_columns(score=scores).sort(["customer", "score", "article"], descending=[False, True, False])
    predictions = order.with_columns(rank=pl.int_range(pl.len(), dtype=pl.UInt32).over("customer")).select(
        "customer", "article", "rank"
    )
    assert map_of_scores(cands, scores) == pytest.approx(map_at_k(predictions, truth))


def test_device_auto_is_cpu_here_and_cuda_falls_back_with_one_warning() -> None:
    warnings: list[str] = []
    assert resolve_device("auto", warnings.append).type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        assert resolve_device("cuda", warnings.append).type == "cpu" and len(warnings) == 1 and "no CUDA" in warnings[0]
    with pytest.raises(InputError, match="--device tpu"):
        resolve_device("tpu")


def test_merge_fuses_reciprocal_ranks_and_rejects_unknown_sources() -> None:
    ranks = np.array([[0, 100], [2, 0], [100, 100]], dtype=np.float32)  # k = 100: absent
    np.testing.assert_allclose(fuse(ranks, [1.0, 2.0], 10.0, 100), [1 / 11, 1 / 13 + 2 / 11, 0.0])
    with pytest.raises(InputError, match="'bogus' is not one of the sources"):
        given_weights("bogus=2", ("popular", "repurchase"))


def test_bought_before_decides_per_week_from_the_past_and_works_the_share_out_once(monkeypatch) -> None:
    from hmrec_cli.pipeline import bought

    week = Week(date(2020, 9, 16), "last")
    day = lambda n: week.start - timedelta(days=n)  # noqa: E731
    repeats = pl.DataFrame(
        {"t_dat": [day(20), day(3), day(2)], "customer": [1, 1, 2], "article": [5, 5, 6]},
        schema_overrides={"customer": pl.UInt32, "article": pl.UInt32},
    )
    once = repeats.with_columns(pl.Series("article", [5, 7, 6], dtype=pl.UInt32))
    assert (
        bought.bought_before(repeats, week, "auto") is None
    )  # 1 of the 3 recent purchases repeats one: keep what was bought
    assert bought.bought_before(once, week, "auto").sort("customer", "article").rows() == [(1, 5), (1, 7), (2, 6)]
    assert bought.bought_before(repeats, week, "yes").height == 2 and bought.bought_before(once, week, "no") is None
    calls = []
    monkeypatch.setattr(bought, "repeat_share", lambda history, w, days: calls.append(w) or 0.0)
    for _ in range(3):
        bought.bought_before(once, week, "auto", fingerprint="store-a")
    bought.bought_before(once, week, "auto", fingerprint="store-b")
    assert len(calls) == 2  # once per store and week
    with pytest.raises(InputError, match="--drop-bought maybe"):
        bought.bought_before(once, week, "maybe")


def test_without_bought_keeps_each_customers_best_k_not_yet_bought() -> None:
    from hmrec_cli.pipeline.recall import without_bought

    candidates = pl.DataFrame(
        {"customer": [1, 1, 1, 1, 2], "article": [10, 11, 12, 13, 10], "score": [4.0, 3.0, 2.0, 1.0, 1.0]},
        schema_overrides={"customer": pl.UInt32, "article": pl.UInt32, "score": pl.Float32},
    )
    bought = pl.DataFrame({"customer": [1], "article": [10]}, schema={"customer": pl.UInt32, "article": pl.UInt32})
    kept = without_bought(candidates, bought, 2)
    assert kept.select("customer", "article").rows() == [(1, 11), (1, 12), (2, 10)]
