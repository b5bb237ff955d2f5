"""Weeks: naming, history cut strictly before the week, truth as distinct pairs in its 7 days."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from hmrec_cli.data.splits import Week, history, in_week, recent_history, resolve_week, rolling_weeks, truth, weeks_back
from hmrec_cli.errors import InputError

FIRST, LAST = date(2020, 1, 1), date(2020, 9, 22)


@pytest.mark.parametrize(
    ("spec", "start", "has_truth"),
    [
        ("last", date(2020, 9, 16), True),
        ("0", date(2020, 9, 16), True),
        ("1", date(2020, 9, 9), True),
        ("3", date(2020, 8, 26), True),
        ("2020-09-01", date(2020, 9, 1), True),
        ("next", date(2020, 9, 23), False),
        ("2020-09-23", date(2020, 9, 23), False),
    ],
)
def test_resolve_week(spec: str, start: date, has_truth: bool) -> None:
    week = resolve_week(spec, FIRST, LAST)
    assert (week.start, week.has_truth) == (start, has_truth)
    assert (week.end - week.start).days == 6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("2020-09-20", "runs past the data's last date 2020-09-22"),
        ("2019-12-30", "no history to learn from"),
        ("100", "no history to learn from"),
        ("yesterday", "expected last, next"),
    ],
)
def test_bad_weeks_are_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        resolve_week(spec, FIRST, LAST)


def test_rolling_weeks_end_at_the_target_oldest_first() -> None:
    weeks = rolling_weeks(resolve_week("last", FIRST, LAST), 3, FIRST)
    assert [w.start for w in weeks] == [date(2020, 9, 2), date(2020, 9, 9), date(2020, 9, 16)]
    with pytest.raises(InputError):
        rolling_weeks(resolve_week("next", FIRST, LAST), 2, FIRST)


def tx_frame() -> pl.DataFrame:
    days = [date(2020, 9, d) for d in (14, 15, 16, 16, 16, 22)]
    return pl.DataFrame({"t_dat": days, "customer": [1, 1, 1, 1, 2, 3], "article": [5, 6, 7, 7, 7, 8]}).with_columns(
        pl.col("customer", "article").cast(pl.UInt32)
    )


def test_history_is_strictly_before_the_week_and_truth_is_distinct_pairs() -> None:
    week = Week(date(2020, 9, 16), "last")
    assert history(tx_frame(), week)["t_dat"].max() == date(2020, 9, 15)
    assert in_week(tx_frame(), week).height == 4
    assert truth(tx_frame(), week).rows() == [(1, 7), (2, 7), (3, 8)]
    assert history(tx_frame().lazy(), week).collect().height == 2


def test_history_does_not_change_when_the_future_does() -> None:
    week = Week(date(2020, 9, 16), "last")
    altered = tx_frame().with_columns(
        pl.when(pl.col("t_dat") >= week.start).then(pl.col("article") + 100).otherwise("article").alias("article")
    )
    assert history(altered, week).equals(history(tx_frame(), week))


def test_no_truth_for_next_week() -> None:
    with pytest.raises(InputError, match="no purchases"):
        truth(tx_frame(), resolve_week("next", FIRST, LAST))


def test_weeks_back_numbers_weeks_from_the_last_date() -> None:
    got = tx_frame().select(weeks_back(LAST))["week"].to_list()
    assert got == [1, 1, 0, 0, 0, 0]


def test_recent_history_is_the_days_just_before_the_week() -> None:
    week = Week(date(2020, 9, 16), "last")
    assert recent_history(tx_frame(), week, days=1)["t_dat"].to_list() == [date(2020, 9, 15)]
    assert recent_history(tx_frame(), week, days=7).height == 2
