"""Time: the one module that names weeks and filters rows by date.

The data ends on its last date D. Week `last` (= `0`) is the 7 days D-6 .. D; week `k` is k weeks
earlier; `YYYY-MM-DD` names a week by its first day; `next` is D+1 .. D+7 (the submission week, no
truth). For a target week W everything fitted sees only rows with `t_dat < W.start` (`history`);
the truth is the distinct articles each customer bought in W's 7 days (`truth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import polars as pl

from hmrec_cli.errors import InputError

DAYS = 7
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True)
class Week:
    """Seven days starting at `start`; `label` is how the user named it."""

    start: date
    label: str
    has_truth: bool = True

    @property
    def end(self) -> date:
        return self.start + timedelta(days=DAYS - 1)

    def earlier(self, weeks: int) -> Week:
        """The week `weeks` whole weeks before this one (always with truth)."""
        start = self.start - timedelta(days=DAYS * weeks)
        return Week(start, start.isoformat())

    def __str__(self) -> str:
        named = "" if self.label == self.start.isoformat() else f" ({self.label})"
        return f"{self.start} .. {self.end}{named}"


def resolve_week(spec: str, first_date: date, last_date: date) -> Week:
    """Turn `--week` text into a Week of this data set, or raise InputError saying why not and
    which weeks exist. A number of weeks back is ASCII digits only (`²` passes `isdigit` but not
    `int`), and both numbers and dates are checked against the data before any date arithmetic
    (`999999999` weeks or `9999-12-31` would overflow it)."""
    text = spec.strip().lower()
    last_start = last_date - timedelta(days=DAYS - 1)
    if text == "next":
        return Week(last_date + timedelta(days=1), "next", has_truth=False)
    if text in ("last", "0") or (text.isascii() and text.isdigit()):
        back = 0 if text == "last" else int(text)
        if back > max(weeks_with_history(first_date, last_date), 0) + 1:  # far before the data: no date arithmetic
            raise InputError(
                f"--week {spec}: {back} weeks back is before the data starts {first_date}; no history to learn from; {existing_weeks(first_date, last_date)}"
            )
        week = Week(last_start - timedelta(days=DAYS * back), "last" if back == 0 else text)
    else:
        try:
            start = date.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"--week {spec!r}: expected last, next, a number of weeks back (0, 1, ...) or a date YYYY-MM-DD; {existing_weeks(first_date, last_date)}"
            ) from None
        if start == last_date + timedelta(days=1):
            return Week(start, "next", has_truth=False)
        if start > last_start:
            raise InputError(
                f"--week {spec}: the week from {start} runs past the data's last date {last_date}; {existing_weeks(first_date, last_date)}"
            )
        week = Week(start, start.isoformat())
    if week.start <= first_date:
        raise InputError(
            f"--week {spec}: the week starts {week.start}, but the data starts {first_date}; no history to learn from; {existing_weeks(first_date, last_date)}"
        )
    return week


def weeks_with_history(first_date: date, last_date: date) -> int:
    """How many weeks back the oldest week with history is (its start after `first_date`); -1
    when even week `last` has none (a log shorter than a week)."""
    return earlier_weeks_with_history(last_date - timedelta(days=DAYS - 1), first_date)


def earlier_weeks_with_history(start: date, first_date: date) -> int:
    """How many whole weeks before the week starting `start` start after `first_date` (have
    history): the most a count of earlier weeks (--weeks, --train-weeks) may ask for, checked
    before any date arithmetic (a count of 10**20 weeks would overflow it)."""
    return (start - first_date - timedelta(days=1)).days // DAYS


def existing_weeks(first_date: date, last_date: date) -> str:
    """The weeks `--week` may name on this data, for error messages."""
    most = weeks_with_history(first_date, last_date)
    following = last_date + timedelta(days=1)
    if most < 0:
        return f"the data ({first_date} .. {last_date}) is shorter than a week, so only next ({following}) has history"
    last_start = last_date - timedelta(days=DAYS - 1)
    oldest = last_start - timedelta(days=DAYS * most)
    return f"weeks with history: last (= 0, from {last_start}) back to {most} (from {oldest}), or next ({following})"


def rolling_weeks(target: Week, count: int, first_date: date) -> list[Week]:
    """`count` consecutive weeks ending with `target`, oldest first (for rolling back-tests); the
    oldest must start after `first_date`, as `resolve_week` asks of any week (history to learn from)."""
    if count < 1:
        raise InputError(f"--weeks {count}: must be at least 1")
    if count > 1 and not target.has_truth:
        raise InputError("--weeks needs weeks with truth; week `next` has none")
    most = earlier_weeks_with_history(target.start, first_date) + 1  # the target and the earlier weeks with history
    if count > most:
        first = target.earlier(most - 1).start
        raise InputError(
            f"--weeks {count}: the data starts {first_date}, so the first week with history is {first}; "
            f"at most --weeks {most} ending at the week {target.start}"
        )
    return [target.earlier(k) if k else target for k in range(count - 1, -1, -1)]


def weeks_back(last_date: date) -> pl.Expr:
    """Per row, which week it falls in counted back from `last` (0 = last week, 1 = the one before)."""
    last_start = last_date - timedelta(days=DAYS - 1)
    return (((pl.lit(last_start) - pl.col("t_dat")).dt.total_days() + DAYS - 1) // DAYS).alias("week")


def history(transactions: Frame, week: Week) -> Frame:
    """Rows strictly before the week starts: all any model may see when predicting `week`."""
    return transactions.filter(pl.col("t_dat") < week.start)


def history_prefix(transactions: pl.DataFrame, week: Week) -> pl.DataFrame:
    """`history` for a frame sorted by date (as the store's is), as a zero-copy slice: rankers hold
    one history per training week, and at full scale each filtered copy is ~0.5 GiB."""
    if not transactions["t_dat"].is_sorted():
        return history(transactions, week)
    return transactions.slice(0, transactions["t_dat"].search_sorted(week.start, side="left"))


def recent_history(transactions: Frame, week: Week, days: int) -> Frame:
    """The last `days` days of history before the week (e.g. last week's sales for popularity)."""
    return history(transactions, week).filter(pl.col("t_dat") >= week.start - timedelta(days=days))


def repeat_share(history: pl.DataFrame, week: Week, days: int = 28) -> float:
    """Share of the purchases in the `days` before the week whose (customer, article) was bought
    on an earlier day (same-day duplicates are one basket, not a repeat): near 0 on a log where
    nobody buys the same item twice, 0.03-0.05 in the real H&M extract."""
    recent = recent_history(history, week, days)
    pairs = recent.select(
        "customer", "article"
    ).unique()  # only their first days are needed: no group_by over all history
    first = (
        history.join(pairs, on=["customer", "article"], how="semi")
        .group_by("customer", "article")
        .agg(first=pl.col("t_dat").min())
    )
    recent = recent.join(first, on=["customer", "article"])
    return float((recent["t_dat"] > recent["first"]).mean()) if recent.height else 0.0


def in_week(transactions: Frame, week: Week) -> Frame:
    """The week's own rows (its 7 days)."""
    return transactions.filter(pl.col("t_dat").is_between(week.start, week.end))


def with_purchases(transactions: pl.DataFrame, weeks: list[Week]) -> list[Week]:
    """The weeks that hold a purchase: a week without any (a closed shop; ingest accepts gaps of
    up to 28 days) has no buyers to learn from or to score."""
    dates = transactions["t_dat"].unique()
    return [w for w in weeks if dates.is_between(w.start, w.end).any()]


def truth(transactions: Frame, week: Week) -> Frame:
    """Distinct (customer, article) pairs bought in the week, sorted: what MAP@12 scores against."""
    if not week.has_truth:
        raise InputError(f"week {week} has no purchases to score against (it is after the data ends)")
    return in_week(transactions, week).select("customer", "article").unique().sort("customer", "article")
