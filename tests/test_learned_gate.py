"""The learned-vs-merge gate: earlier training weeks validate only where the newest one is small and
inconclusive, and the decision pools every validated buyer."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from hmrec_cli.plugin_api import RankingWeek
from hmrec_cli.toolkit.fusion import ROLLING_BELOW, buyers_with_a_hit, halves_with_a_hit, learned_gain, rolling_weeks


def test_a_small_inconclusive_newest_week_rolls_over_every_earlier_week() -> None:
    noisy = np.array([0.1, -0.1, 0.05, 0.0])
    assert rolling_weeks(noisy, weeks=4, min_gain_se=2.0) == [2, 1]  # week 0 has no week before it to fit on
    assert rolling_weeks(noisy, weeks=2, min_gain_se=2.0) == []
    assert rolling_weeks(np.zeros(0), weeks=4, min_gain_se=2.0) == [2, 1]


def test_a_clear_or_large_newest_week_decides_alone() -> None:
    clear = np.full(50, 0.02) + np.linspace(-0.001, 0.001, 50)
    assert rolling_weeks(clear, weeks=4, min_gain_se=2.0) == []
    large = np.random.default_rng(0).normal(0.0, 0.1, ROLLING_BELOW)
    assert rolling_weeks(large, weeks=4, min_gain_se=2.0) == []


def test_pooling_weeks_shrinks_the_standard_error_of_the_same_gain() -> None:
    rng = np.random.default_rng(1)
    weeks = [rng.normal(0.01, 0.1, 200) for _ in range(3)]
    mean_one, se_one = learned_gain(weeks[:1])
    mean, se = learned_gain(weeks)
    pooled = np.concatenate(weeks)
    assert mean == pytest.approx(pooled.mean()) and se == pytest.approx(pooled.std(ddof=1) / np.sqrt(600))
    assert se < se_one * 0.65  # about 1 / sqrt(3)
    assert learned_gain([np.array([0.3])]) == (0.3, float("inf"))  # one buyer: never clear


def test_the_halves_split_the_buyers_with_a_hit_the_same_way_at_every_seed() -> None:
    """Half 0 picks a model, half 1 judges it: together every buyer with a purchase among the
    candidates, once; about half each; the same split whatever the draw; the week's share of buyers
    with a hit (what a half's MAP@12 is scaled by) is the whole week's, not the half's."""
    customers = np.repeat(np.arange(0, 4000, 2, dtype=np.uint32), 3)  # even ids only: a parity split would fail
    label = (np.arange(customers.size) % 3 == 0) & (customers % 10 != 0)  # a fifth of them buy nothing listed
    week = RankingWeek(None, pl.DataFrame({"customer": customers, "label": label.astype(np.uint8)}), (), 12)
    everyone, share = buyers_with_a_hit(week, 10**6, np.random.default_rng(0))
    by_half, half_share = halves_with_a_hit(week, 10**6, np.random.default_rng(1))
    halves = [(rows, half_share) for rows in by_half]  # each half with the share it is scaled by
    ids = [set(rows["customer"]) for rows, _ in halves]
    assert not ids[0] & ids[1] and ids[0] | ids[1] == set(everyone["customer"]) and share == pytest.approx(0.8)
    assert all(abs(len(h) - 800) < 80 for h in ids) and all(s == share for _, s in halves)
    assert set(halves_with_a_hit(week, 10**6, np.random.default_rng(9))[0][1]["customer"]) == ids[1]
    capped = halves_with_a_hit(week, 100, np.random.default_rng(0))[0][1]
    assert capped["customer"].n_unique() == 100 and set(capped["customer"]) <= ids[1]


def test_no_halves_when_one_half_has_no_buyer_with_a_hit() -> None:
    """One buyer with a hit falls in one half: the other has nothing to pick or measure on."""
    customers = np.arange(50, dtype=np.uint32)
    label = (customers == 7).astype(np.uint8)
    week = RankingWeek(None, pl.DataFrame({"customer": customers, "label": label}), (), 12)
    assert buyers_with_a_hit(week, 10**6, np.random.default_rng(0))[0].height == 1
    assert halves_with_a_hit(week, 10**6, np.random.default_rng(0)) is None
