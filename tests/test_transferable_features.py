"""The features that carry over between shops: repeat rates and group lifts count what they claim,
and nothing on or after the week moves them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hmrec_cli.data.splits import Week, resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline.ranking import context
from hmrec_cli.plugin_api import RankingWeek
from hmrec_cli.toolkit.candidate_features import candidate_features
from hmrec_cli.toolkit.features import article_activity, customer_activity, customer_groups, group_lift, group_sales

WEEK = Week(date(2020, 9, 16), "last")
NEW = ("article_repeat_rate", "customer_repeat_rate", "age_band_lift", "postal_code_lift")


def _history(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    """(days before the week, customer, article) -> a history frame."""
    return pl.DataFrame(
        {
            "t_dat": [WEEK.start - timedelta(days=d) for d, _, _ in rows],
            "customer": [c for _, c, _ in rows],
            "article": [a for _, _, a in rows],
        },
        schema={"t_dat": pl.Date, "customer": pl.UInt32, "article": pl.UInt32},
    ).with_columns(price=pl.lit(0.02, pl.Float32), channel=pl.lit(2, pl.UInt8))


def test_repeat_rates_count_purchases_on_later_days() -> None:
    # customer 0 buys article 1 on three days (twice on one of them) and article 2 once;
    # customer 1 buys article 1 once and article 3 on two days
    history = _history([(9, 0, 1), (5, 0, 1), (5, 0, 1), (2, 0, 1), (3, 0, 2), (8, 1, 1), (7, 1, 3), (1, 1, 3)])
    people = customer_activity(history, WEEK, pl.Series([0, 1, 2], dtype=pl.UInt32)).sort("customer")
    # purchase days of an article: customer 0 has 4 (3 of article 1, 1 of article 2) of 2 articles
    assert people["customer_repeat_rate"].to_list() == pytest.approx([1 - 2 / 4, 1 - 2 / 3, 0.0])
    customers = pl.DataFrame({"customer": [0, 1], "age": [30, 40]}, schema={"customer": pl.UInt32, "age": pl.UInt8})
    act = article_activity(history, WEEK, customers).sort("article")
    # article 1: both buyers, one on several days; 2: one buyer once; 3: one buyer on two days
    assert act["article_repeat_rate"].to_list() == pytest.approx([0.5, 0.0, 1.0])


def test_group_lift_compares_the_groups_sales_with_its_share() -> None:
    # customers 0, 1 in their twenties, 2 in their fifties; articles 1 and 2 sell 4 each
    history = _history([(1, 0, 1), (2, 0, 1), (3, 1, 1), (4, 1, 1), (1, 2, 2), (2, 2, 2), (3, 2, 2), (4, 2, 2)])
    customers = pl.DataFrame(
        {"customer": [0, 1, 2, 3], "age": [22, 23, 55, 0]}, schema={"customer": pl.UInt32, "age": pl.UInt8}
    )
    groups = customer_groups(customers)
    assert groups["postal_code"].to_list() == ["", "", "", ""]  # no postal codes: one group of everyone
    pairs = pl.DataFrame(
        {"customer": [0, 0, 2, 3], "article": [1, 2, 1, 1]}, schema={"customer": pl.UInt32, "article": pl.UInt32}
    )
    age = group_lift(group_sales(history, WEEK, groups, "age_band"), groups, pairs).to_numpy()
    # the twenties bought 4 of 8 sales: article 1 sells 4 there against an expected 2, article 2 none of 2
    assert age == pytest.approx(np.log([5 / 3, 1 / 3, 1 / 3, 1.0]), rel=1e-6)  # customer 3: no age, no sales
    postal = group_lift(group_sales(history, WEEK, groups, "postal_code"), groups, pairs).to_numpy()
    assert postal == pytest.approx(np.zeros(4), abs=1e-7)  # neutral where the log lacks the attribute


def test_the_new_features_ignore_rows_on_or_after_the_week(altered_store: Path) -> None:
    original, altered = Store.open(altered_store.parent / "original"), Store.open(altered_store)
    week = resolve_week("1", original.first_date, original.last_date)
    customers = original.transactions["customer"].unique().sort().head(200)
    articles = original.transactions["article"].value_counts(sort=True)["article"].head(30)
    cands = (
        pl.DataFrame({"customer": customers})
        .join(pl.DataFrame({"article": articles}), how="cross")
        .sort("customer", "article")
        .with_columns(x_score=pl.lit(1.0, pl.Float32), x_rank=pl.lit(0, pl.UInt16))
    )
    tables = [candidate_features(RankingWeek(context(s, week), cands, ("x",), 100)) for s in (original, altered)]
    columns = [tables[0].names.index(n) for n in NEW]
    one, other = tables[0].dense[:, columns], tables[1].dense[:, columns]
    assert (np.abs(one) > 0).any(axis=0).all()  # every new feature varies, so the check can fail
    assert np.array_equal(one, other) and np.array_equal(tables[0].dense, tables[1].dense)
