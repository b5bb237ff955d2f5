"""usercf on hand-built histories: a customer gets what their look-alikes bought lately."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hmrec_plugins.usercf import UserCF, UserCFParams

from hmrec_cli.data.splits import Week
from hmrec_cli.plugin_api import Context, RunSettings

WEEK = Week(date(2020, 9, 16), "last")


def test_neighbours_recent_purchases_come_first() -> None:
    # customer 0 shares taste with 1 (articles 0, 1) more than with 2 (article 0 only); 3 shares nothing.
    # In the last days 1 bought article 5, 2 bought article 6, 3 bought article 7.
    old, new = WEEK.start - timedelta(days=30), WEEK.start - timedelta(days=2)
    rows = [
        (0, 0, old),
        (0, 1, old),
        (1, 0, old),
        (1, 1, old),
        (2, 0, old),
        (2, 4, old),
        (3, 3, old),
        (1, 5, new),
        (2, 6, new),
        (3, 7, new),
    ]
    history = pl.DataFrame(
        {
            "t_dat": [d for _, _, d in rows],
            "customer": pl.Series([c for c, _, _ in rows], dtype=pl.UInt32),
            "article": pl.Series([a for _, a, _ in rows], dtype=pl.UInt32),
        }
    )
    ctx = Context(
        history=history,
        week=WEEK,
        customers=pl.DataFrame({"customer": pl.Series(range(5), dtype=pl.UInt32)}),
        articles=pl.DataFrame({"article": pl.Series(range(8), dtype=pl.UInt32)}),
    )
    model = UserCF(UserCFParams(half_life_days=0))
    model.fit(ctx, RunSettings())
    got = model.retrieve(pl.Series([0, 4], dtype=pl.UInt32), 10)
    mine = got.filter(pl.col("customer") == 0).sort("score", descending=True)["article"].to_list()
    assert mine == [5, 6]  # 1 is the closer look-alike, 2 the next; 3 shares nothing, so 7 never comes
    assert got.filter(pl.col("customer") == 4).height > 0  # no history: the popular fill
