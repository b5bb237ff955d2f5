"""The shop's calendar: weeks of the synthetic period, weekly demand and the day-of-week cycle.

Demand swells in the June sale, on Black Friday and at the end of September, dips after Christmas
and during the spring 2020 lockdown; Saturdays are busiest, Sundays and Mondays quietest.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

END = date(2020, 9, 22)
FULL_START = date(2018, 9, 20)
# Monday .. Sunday
DAY_WEIGHT = np.array([0.82, 0.92, 0.97, 1.0, 1.1, 1.32, 0.8])


def week_starts(n_weeks: int, end: date = END) -> list[date]:
    """First days of `n_weeks` consecutive 7-day weeks ending on `end` (the last week ends on `end`)."""
    last = end - timedelta(days=6)
    return [last - timedelta(days=7 * k) for k in range(n_weeks - 1, -1, -1)]


def season_phase(day: date) -> float:
    """0 on 1 January, 0.5 at midsummer."""
    return (day.timetuple().tm_yday - 1) / 365.0


def demand(day: date) -> float:
    """How busy the shop is in the week starting `day`, relative to an ordinary week."""
    phase = season_phase(day + timedelta(days=3))
    level = 1.0 + 0.08 * np.cos(2 * np.pi * (phase - 0.45)) + 0.04 * (day.year - 2019)
    mid = day + timedelta(days=3)
    md = (mid.month, mid.day)
    if (6, 14) <= md <= (7, 4):
        level *= 1.75  # summer sale
    elif mid.month == 11 and _black_friday(mid.year) - timedelta(days=3) <= mid <= _black_friday(mid.year) + timedelta(days=3):
        level *= 1.5
    elif (9, 18) <= md <= (9, 30):
        level *= 1.3  # new season
    elif (12, 26) <= md or md <= (1, 1):
        level *= 0.72
    elif (1, 2) <= md <= (1, 12):
        level *= 1.15  # January sale
    if date(2020, 3, 16) <= mid <= date(2020, 4, 26):
        level *= 0.55  # lockdown
    return float(level)


def _black_friday(year: int) -> date:
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + timedelta(days=1)


def days_of_week(start: date, first_day: date) -> tuple[np.ndarray, np.ndarray]:
    """The week's days on or after `first_day` (as day offsets from `start`) and their weights."""
    offsets = np.array([d for d in range(7) if start + timedelta(days=d) >= first_day])
    weights = DAY_WEIGHT[[(start + timedelta(days=int(d))).weekday() for d in offsets]]
    return offsets, weights / weights.sum()
