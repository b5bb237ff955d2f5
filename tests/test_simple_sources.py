"""Options real logs need: popular without what the customer bought, repurchase switched off where
nobody buys twice, itemcf's plain co-purchase count, and `--train-weeks auto`."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
from hmrec_plugins.itemcf import item_similarity
from hmrec_plugins.popular import Popular, PopularParams
from hmrec_plugins.repurchase import Repurchase, RepurchaseParams

from hmrec_cli.data.splits import Week
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline.ranking import auto_train_weeks
from hmrec_cli.plugin_api import Context, RunSettings

WEEK = Week(date(2020, 9, 16), "last")


def _context(rows: list[tuple[int, int, int]]) -> Context:
    """rows: (customer, article, days before the week)."""
    history = pl.DataFrame(
        {
            "t_dat": [WEEK.start - timedelta(days=d) for _, _, d in rows],
            "customer": pl.Series([c for c, _, _ in rows], dtype=pl.UInt32),
            "article": pl.Series([a for _, a, _ in rows], dtype=pl.UInt32),
            "price": pl.Series([0.01] * len(rows), dtype=pl.Float32),
            "channel": pl.Series([1] * len(rows), dtype=pl.UInt8),
        }
    )
    customers = pl.DataFrame({"customer": pl.Series(range(6), dtype=pl.UInt32), "age": pl.Series([30.0] * 6)})
    return Context(
        history=history,
        articles=pl.DataFrame({"article": pl.Series(range(8), dtype=pl.UInt32)}),
        customers=customers,
        week=WEEK,
    )


def test_popular_can_leave_out_what_the_customer_bought() -> None:
    # article 0 sells most, then 1, 2, 3; customer 0 bought 0 and 2, customer 5 nothing
    ctx = _context([(0, 0, 2), (1, 0, 2), (2, 0, 3), (3, 0, 3), (0, 2, 4), (1, 1, 2), (2, 1, 3), (3, 2, 1), (4, 3, 1)])
    plain, fresh = Popular(PopularParams()), Popular(PopularParams(exclude_bought=True))
    for model in (plain, fresh):
        model.fit(ctx, RunSettings())
    who = pl.Series([0, 5], dtype=pl.UInt32)
    assert plain.retrieve(who, 2).filter(pl.col("customer") == 0)["article"].to_list() == [0, 1]
    got = fresh.retrieve(who, 2)
    assert got.filter(pl.col("customer") == 0)["article"].to_list() == [
        1,
        3,
    ]  # 0 and 2 were bought: the next ones fill in
    assert got.filter(pl.col("customer") == 5)["article"].to_list() == [0, 1]


def test_repurchase_switches_itself_off_where_nobody_buys_twice() -> None:
    once = _context([(c, c, 5) for c in range(5)] + [(c, c + 1, 40) for c in range(5)])
    twice = _context([(c, c, 5) for c in range(5)] + [(c, c, 40) for c in range(5)])
    who = pl.Series(range(5), dtype=pl.UInt32)
    for ctx, on in ((once, False), (twice, True)):
        model = Repurchase(RepurchaseParams())
        log = model.fit(ctx, RunSettings())
        assert log["active"] is on and log["repeat_share"] == (1.0 if on else 0.0)
        got = model.retrieve(who, 3)
        assert bool((got["score"] > 1e-5).any()) is on  # off: only the popular fill (scored share * 1e-6)
        assert got["customer"].n_unique() == 5
    forced = Repurchase(RepurchaseParams(active="on"))
    assert forced.fit(once, RunSettings())["active"] is True
    assert (forced.retrieve(who, 3)["score"] > 1e-5).all()


def test_itemcf_count_is_the_plain_co_purchase_count() -> None:
    bought = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0]], dtype=np.float32))
    similar = item_similarity(bought, "count").toarray()
    assert np.array_equal(similar, np.array([[0, 2, 1], [2, 0, 2], [1, 2, 0]], dtype=np.float32))


def test_auto_train_weeks_goes_back_until_enough_purchases(store_dir: Path) -> None:
    store = Store.open(store_dir)
    week = Week(store.last_date - timedelta(days=6), "last")
    pairs = store.transactions.filter(pl.col("t_dat") < week.start).select("customer", "article", "t_dat")
    one_week = (
        pairs.filter(pl.col("t_dat") >= week.start - timedelta(days=7)).select("customer", "article").unique().height
    )
    assert auto_train_weeks(store, week, 1) == 1
    assert auto_train_weeks(store, week, one_week) == 1
    assert auto_train_weeks(store, week, one_week + 1) == 2
    most = ((week.start - store.first_date).days - 1) // 7
    assert auto_train_weeks(store, week, 10**9) == min(most, 26)
