"""Which earlier purchases to leave out of a week's candidates (`--drop-bought`).

In a log where nobody buys the same item twice (films watched, books, furniture) an article the
customer already bought is a sure miss that takes a slot of the 12; in fashion, where 3-5% of a
week's purchases repeat one, it is among the best candidates. `auto` tells them apart from the
data before the week, so a candidate set, a ranking and a submission all make the same choice."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hmrec_cli.data.splits import Week, repeat_share
from hmrec_cli.pipeline.settings import DropBought, drop_bought


@dataclass(frozen=True)
class BoughtPolicy:
    """The drop rule's constants; every candidate set's and ranking's cache key hashes them."""

    drop_below: float = 0.01  # auto drops when repeats are rarer than this share of the recent purchases
    window_days: int = 28  # the recent purchases: those of this many days before the week
    refill: int = 2  # a set that drops asks its retriever for k + refill * k, so dropped slots are refilled


POLICY = BoughtPolicy()


_SHARES: dict[tuple[str, str, int], float] = {}  # (store fingerprint, week, window) -> repeat share, once per process


def drops_bought(history: pl.DataFrame, week: Week, mode: DropBought | str, fingerprint: str | None = None) -> bool:
    """Whether `week`'s candidates leave out what each customer bought before: `yes` always, `auto`
    when fewer than POLICY.drop_below of the purchases of the POLICY.window_days days before it
    repeat an earlier one, `no` never. `history`: the rows before the week. With the store's `fingerprint` the share is worked
    out once per week and process (0.5 s on medium's 6.7M rows, more on the full log; a ranking asks for every source of
    every week)."""
    mode = drop_bought(mode)  # a Python caller may hand in the word
    if mode is not DropBought.AUTO:
        return mode is DropBought.YES
    key = (fingerprint, week.start.isoformat(), POLICY.window_days)
    share = _SHARES.get(key) if fingerprint else None
    if share is None:
        share = repeat_share(history, week, POLICY.window_days)
        if fingerprint:
            _SHARES[key] = share
    return share < POLICY.drop_below


def bought_before(
    history: pl.DataFrame, week: Week, mode: DropBought | str, fingerprint: str | None = None
) -> pl.DataFrame | None:
    """The (customer, article) pairs bought before `week` to leave out, or None to keep them (see `drops_bought`)."""
    return history.select("customer", "article").unique() if drops_bought(history, week, mode, fingerprint) else None
