"""The shop's calendar: weeks of the synthetic period, how busy each week is, and the day-of-week cycle.

How busy a week is comes from the real shop: `REAL_WEEKLY_ROWS` are the competition's transactions
per week (summed from its published daily totals), so every sale, holiday and the spring-2020
lockdown fall where they fell, and the last weeks are as quiet as they really were. Saturdays are
busiest, Sundays and Mondays quietest.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

END = date(2020, 9, 22)
FULL_START = date(2018, 9, 20)
# Monday .. Sunday
DAY_WEIGHT = np.array([0.82, 0.92, 0.97, 1.0, 1.1, 1.32, 0.8])
# Real transactions per week, oldest first; weeks end on END, the first (from FULL_START) has 6 days.
REAL_WEEKLY_ROWS = np.array(
    [
        255_648,
        417_737,
        246_456,
        347_621,
        316_090,
        369_640,
        252_598,
        236_574,
        260_214,
        467_921,
        211_605,
        239_817,
        246_608,
        318_840,
        242_038,
        301_674,
        304_334,
        263_223,
        298_723,
        277_490,
        258_935,
        247_222,
        359_477,
        269_667,
        287_488,
        279_540,
        296_800,
        326_247,
        362_641,
        301_143,
        341_243,
        385_095,
        374_847,
        276_725,
        350_990,
        371_908,
        411_210,
        313_336,
        355_099,
        635_891,
        518_946,
        393_207,
        373_175,
        389_212,
        454_130,
        316_675,
        291_496,
        320_906,
        242_362,
        237_717,
        264_120,
        246_046,
        232_332,
        424_805,
        320_493,
        252_130,
        226_079,
        240_114,
        276_141,
        211_518,
        191_375,
        220_402,
        518_403,
        176_816,
        216_916,
        363_939,
        208_382,
        241_815,
        244_472,
        216_586,
        265_331,
        240_313,
        250_156,
        232_726,
        231_362,
        260_277,
        299_791,
        205_868,
        198_818,
        238_450,
        337_283,
        401_878,
        229_433,
        297_896,
        213_483,
        259_586,
        300_024,
        387_772,
        363_092,
        310_996,
        298_890,
        549_443,
        517_428,
        337_419,
        286_672,
        289_528,
        299_469,
        319_469,
        289_161,
        265_211,
        256_644,
        283_181,
        264_657,
        255_241,
        240_311,
    ]
)
REAL_LAST_WEEK_BUYERS = 68_984
FULL_WEEKS = REAL_WEEKLY_ROWS.size


def week_starts(n_weeks: int, end: date = END) -> list[date]:
    """First days of `n_weeks` consecutive 7-day weeks ending on `end` (the last week ends on `end`)."""
    last = end - timedelta(days=6)
    return [last - timedelta(days=7 * k) for k in range(n_weeks - 1, -1, -1)]


def season_phase(day: date) -> float:
    """0 on 1 January, 0.5 at midsummer."""
    return (day.timetuple().tm_yday - 1) / 365.0


def volume(start: date) -> float:
    """How busy the real shop was in the week starting `start`, relative to its average week."""
    weeks_before_end = (END - timedelta(days=6) - start).days // 7
    if not 0 <= weeks_before_end < FULL_WEEKS:
        raise ValueError(f"{start} is outside the real calendar ({FULL_START} .. {END})")
    return float(REAL_WEEKLY_ROWS[FULL_WEEKS - 1 - weeks_before_end] / REAL_WEEKLY_ROWS[1:].mean())


def days_of_week(start: date, first_day: date) -> tuple[np.ndarray, np.ndarray]:
    """The week's days on or after `first_day` (as day offsets from `start`) and their weights."""
    offsets = np.array([d for d in range(7) if start + timedelta(days=d) >= first_day])
    weights = DAY_WEIGHT[[(start + timedelta(days=int(d))).weekday() for d in offsets]]
    return offsets, weights / weights.sum()
