"""Which earlier purchases to leave out of a week's candidates (`--drop-bought`).

In a log where nobody buys the same item twice (films watched, books, furniture) an article the
customer already bought is a sure miss that takes a slot of the 12; in fashion, where 3-5% of a
week's purchases repeat one, it is among the best candidates. `auto` tells them apart from the
data before the week, so a candidate set, a ranking and a submission all make the same choice."""

from __future__ import annotations

import polars as pl

from hmrec_cli.errors import InputError
from hmrec_cli.data.splits import Week, repeat_share

DROP_BOUGHT_BELOW = 0.01  # auto: repeats rarer than this share of the last 28 days' purchases
DROP_BOUGHT = ("auto", "yes", "no")
REFILL = 2  # a set that drops asks its retriever for k + REFILL * k, so dropped slots are refilled


_SHARES: dict[tuple[str, str], float] = {}  # (store fingerprint, week) -> repeat share, once per process


def drops_bought(history: pl.DataFrame, week: Week, mode: str, fingerprint: str | None = None) -> bool:
    """Whether `week`'s candidates leave out what each customer bought before: `yes` always, `auto`
    when fewer than DROP_BOUGHT_BELOW of the last 28 days' purchases repeat an earlier one, `no`
    never. `history`: the rows before the week. With the store's `fingerprint` the share is worked
    out once per week and process (0.5 s on medium's 6.7M rows, more on the full log; a ranking asks for every source of
    every week)."""
    if mode not in DROP_BOUGHT:
        raise InputError(f"--drop-bought {mode}: expected one of {', '.join(DROP_BOUGHT)}")
    if mode != "auto":
        return mode == "yes"
    key = (fingerprint, week.start.isoformat())
    share = _SHARES.get(key) if fingerprint else None
    if share is None:
        share = repeat_share(history, week)
        if fingerprint:
            _SHARES[key] = share
    return share < DROP_BOUGHT_BELOW


def bought_before(history: pl.DataFrame, week: Week, mode: str, fingerprint: str | None = None) -> pl.DataFrame | None:
    """The (customer, article) pairs bought before `week` to leave out, or None to keep them (see `drops_bought`)."""
    return history.select("customer", "article").unique() if drops_bought(history, week, mode, fingerprint) else None
