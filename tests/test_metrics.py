"""Kaggle MAP@12: hand-computed cases, a brute-force reference, chunk invariance."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmrec_cli.metrics import ManyOrders, ap_of_scores, average_precision, map_at_k, map_of_scores, recall


def preds(lists: dict[int, list[int]]) -> pl.DataFrame:
    rows = [(c, a, r) for c, arts in lists.items() for r, a in enumerate(arts)]
    return pl.DataFrame(rows, schema={"customer": pl.UInt32, "article": pl.Int64, "rank": pl.UInt32}, orient="row")


def truth(sets: dict[int, set[int]]) -> pl.DataFrame:
    rows = [(c, a) for c, arts in sets.items() for a in sorted(arts)]
    return pl.DataFrame(rows, schema={"customer": pl.UInt32, "article": pl.UInt32}, orient="row")


def reference_ap(predicted: list[int], actual: set[int], k: int = 12) -> float:
    """The Kaggle competition's apk, written plainly."""
    seen: list[int] = []
    for a in predicted:
        if a not in seen:
            seen.append(a)
    seen = seen[:k]
    hits, score = 0, 0.0
    for i, a in enumerate(seen, start=1):
        if a in actual:
            hits += 1
            score += hits / i
    return score / min(k, len(actual))


@pytest.mark.parametrize(
    ("predicted", "actual", "expected"),
    [
        ([1, 2, 3], {1}, 1.0),
        ([2, 1, 3], {1}, 1 / 2),
        ([1, 9, 2], {1, 2}, (1 / 1 + 2 / 3) / 2),
        ([9, 8, 7], {1, 2}, 0.0),
        ([1, 1, 2], {1, 2}, 1.0),  # duplicates are dropped before positions are counted
        (list(range(100, 111)) + [5, 6], {5, 6}, (1 / 12) / 2),  # 6 is the 13th prediction: cut
        ([1], set(range(1, 21)), 1 / 12),  # denominator min(12, |truth|)
        ([], {1}, 0.0),
    ],
)
def test_hand_computed_cases(predicted, actual, expected) -> None:
    ap = average_precision(preds({0: predicted}), truth({0: actual}))
    assert ap["ap"].to_list() == [pytest.approx(expected)]
    assert reference_ap(predicted, actual) == pytest.approx(expected)


def test_customers_without_purchases_are_not_scored_and_missing_predictions_score_zero() -> None:
    p = preds({0: [1, 2], 1: [3], 7: [1]})  # customer 7 bought nothing: ignored
    t = truth({0: {2}, 1: {3}, 2: {4}})  # customer 2 has no predictions: 0
    assert map_at_k(p, t) == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def test_unknown_articles_take_a_slot_and_never_match() -> None:
    p = preds({0: [-108775015, 1]})  # the reader writes unknown ids as negatives
    assert map_at_k(p, truth({0: {1}})) == pytest.approx(0.5)


def test_rank_decides_order_not_row_order() -> None:
    p = pl.DataFrame(
        {"customer": [0, 0], "article": [1, 2], "rank": [5, 1]},
        schema={"customer": pl.UInt32, "article": pl.Int64, "rank": pl.UInt32},
    )
    assert map_at_k(p, truth({0: {2}})) == 1.0


def test_recall_counts_distinct_hits_in_the_first_k() -> None:
    r = recall(preds({0: [1, 1, 2, 3], 1: [9]}), truth({0: {2, 3, 4, 5}, 1: {9}}), k=3)
    assert r["recall"].to_list() == [pytest.approx(0.5), 1.0]


customer_lists = st.dictionaries(st.integers(0, 30), st.lists(st.integers(0, 25), max_size=20), max_size=25)
customer_sets = st.dictionaries(st.integers(0, 30), st.sets(st.integers(0, 25), min_size=1, max_size=15), max_size=25)


@settings(max_examples=200, deadline=None)
@given(customer_lists, customer_sets)
def test_matches_brute_force_reference(predicted: dict, actual: dict) -> None:
    expected = [reference_ap(predicted.get(c, []), actual[c]) for c in sorted(actual)]
    got = average_precision(preds(predicted), truth(actual))
    assert got["customer"].to_list() == sorted(actual)
    assert got["ap"].to_list() == pytest.approx(expected)
    mean = sum(expected) / len(expected) if expected else 0.0
    assert map_at_k(preds(predicted), truth(actual)) == pytest.approx(mean)


@settings(max_examples=50, deadline=None)
@given(customer_lists, customer_sets, st.integers(1, 5))
def test_invariant_to_chunking_by_customer(predicted: dict, actual: dict, chunks: int) -> None:
    whole = average_precision(preds(predicted), truth(actual))
    parts = []
    for i in range(chunks):
        mine = lambda d: {c: v for c, v in d.items() if c % chunks == i}  # noqa: E731, B023  (used at once)
        parts.append(average_precision(preds(mine(predicted)), truth(mine(actual))))
    assert pl.concat(parts).sort("customer").equals(whole)


@pytest.mark.parametrize("seed", range(6))
def test_many_orders_equals_ap_of_scores_ties_included(seed: int) -> None:
    """The pairwise positions fusion tuning uses give the sort's AP@12 exactly, ties by article id,
    rows in any order, customers with no purchase among their candidates at 0."""
    rng = np.random.default_rng(seed)
    frames = []
    for customer in range(int(rng.integers(1, 40))):
        size = int(rng.integers(1, 60))
        label = (rng.random(size) < 0.15).astype(np.uint8)
        bought = int(label.sum()) + int(rng.integers(0 if label.sum() else 1, 3))
        frames.append(
            pl.DataFrame(
                {
                    "customer": customer,
                    "article": rng.choice(300, size, replace=False),
                    "label": label,
                    "bought": bought,
                }
            )
        )
    candidates = pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=seed)
    orders = ManyOrders(candidates)
    for scores in (
        rng.integers(0, 4, candidates.height).astype(float),
        rng.random(candidates.height),
        np.zeros(candidates.height),
    ):
        np.testing.assert_allclose(orders.ap(scores), ap_of_scores(candidates, scores)["ap"].to_numpy(), atol=1e-12)
        assert orders.map(scores) == pytest.approx(map_of_scores(candidates, scores), abs=1e-12)


def test_many_orders_on_sampled_negatives_estimates_the_whole_lists_map() -> None:
    """Fusion tuning sees older training weeks with a share of their negatives: counting each
    negative ahead as 1 / share estimates the whole list's MAP@12; counting it once flatters it."""
    rng = np.random.default_rng(0)
    customers, size = 400, 200
    customer = np.repeat(np.arange(customers), size)
    label = (rng.random(customers * size) < 0.01).astype(np.uint8)
    label[::size] = 1  # every customer a buyer with a purchase among the candidates
    bought = np.repeat(np.add.reduceat(label, np.arange(0, customers * size, size)), size)
    whole = pl.DataFrame(
        {"customer": customer, "article": np.tile(np.arange(size), customers), "label": label, "bought": bought}
    )
    scores = rng.random(whole.height) + 0.5 * label  # an order that puts purchases early, not first
    kept = (label > 0) | (rng.random(whole.height) < 0.25)
    sample = whole.filter(pl.Series(kept))
    truth = map_of_scores(whole, scores)
    corrected, naive = ManyOrders(sample, negative_share=0.25).map(scores[kept]), ManyOrders(sample).map(scores[kept])
    assert abs(corrected - truth) < 0.03 * truth and naive - truth > 4 * abs(corrected - truth)
