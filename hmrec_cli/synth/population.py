"""The synthetic customers: who they are (customers.csv), how often they shop, and what they like.

Taste: a demographic group (gender x age band) sets how a customer's attention splits over index
groups and product types; on top, each customer has four favourite segments and two favourite
colours. Activity: a heavy-tailed weekly shopping rate that is excited for a few weeks after each
purchase (people who just bought come back). Early customers (60%) shop from the first week; the others
arrive at a steady rate, each in its first-purchase week. Everybody buys at least once, as in
the real customers.csv: an early customer who has not bought by their first-purchase week buys
then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hmrec_cli.synth import vocabulary as voc

AGE_BANDS = np.array([16, 25, 35, 45, 55])  # lower bounds
# P(index group | gender, age band); index groups as in vocabulary.INDEX_GROUPS
WOMEN_GROUP_TASTE = np.array(
    [
        [0.56, 0.36, 0.02, 0.01, 0.05],
        [0.76, 0.10, 0.04, 0.05, 0.05],
        [0.78, 0.04, 0.05, 0.08, 0.05],
        [0.85, 0.03, 0.05, 0.03, 0.04],
        [0.88, 0.02, 0.05, 0.02, 0.03],
    ]
)
MEN_GROUP_TASTE = np.array([0.08, 0.08, 0.74, 0.04, 0.06])
FAVOURITE_SEGMENTS = 4
FAVOURITE_COLOURS = 2
EARLY_SHARE = 0.6  # customers who shop from the first week; the rest arrive at a steady rate
MEAN_RATE = 0.037  # mean weekly shopping rate at activity 1 (times calendar demand and excitement)


@dataclass(frozen=True)
class Population:
    """Per-customer arrays (index = position in customers.csv, which is sorted by customer_id)."""

    ids: np.ndarray
    group: np.ndarray  # demographic group: gender * 5 + age band
    rate: np.ndarray  # base weekly shopping rate
    basket: np.ndarray  # mean extra articles per shopping week
    first_week: np.ndarray  # week of the first purchase, unless an early customer bought before it
    arrives_early: np.ndarray  # a customer from before the data starts: may shop from week 0
    online: np.ndarray  # probability a basket is bought online
    loyalty: np.ndarray  # weight of the favourite segments in the customer's taste
    favourite_segments: np.ndarray  # (n, 4) segment indexes
    favourite_colours: np.ndarray  # (n, 2) colour-master indexes
    table: pl.DataFrame  # customers.csv as text columns

    @property
    def size(self) -> int:
        return self.ids.size


def group_segment_taste(
    segment_group: np.ndarray, segment_type: np.ndarray, type_demand: np.ndarray, segment_size: np.ndarray
) -> np.ndarray:
    """P(segment | demographic group), shape (10, segments): index-group taste x type demand."""
    taste = np.vstack([WOMEN_GROUP_TASTE, np.tile(MEN_GROUP_TASTE, (5, 1))])
    within = type_demand[segment_type] * np.sqrt(segment_size)
    out = np.zeros((taste.shape[0], segment_group.size))
    for g in range(len(voc.INDEX_GROUPS)):
        mine = segment_group == g
        if mine.any():
            out[:, mine] = taste[:, [g]] * (within[mine] / within[mine].sum())[None, :]
    return out / out.sum(axis=1, keepdims=True)


def build_population(
    rng: np.random.Generator,
    ids: np.ndarray,
    n_weeks: int,
    activity: float,
    taste: np.ndarray,
) -> Population:
    n = ids.size
    female = rng.random(n) < 0.8
    young = rng.random(n) < 0.47
    age = np.where(young, rng.normal(23.5, 4.0, n), rng.normal(49.0, 10.0, n)).clip(16, 99).astype(int)
    band = np.searchsorted(AGE_BANDS, age, side="right") - 1
    group = np.where(female, 0, 5) + band

    rate = rng.gamma(1.2, MEAN_RATE / 1.2, n) * activity
    basket = np.minimum(1.2 * rate / (MEAN_RATE * activity), 40.0)
    rate *= np.where(rng.random(n) < 0.0005, 1.6, 1.0)  # a few shop even more often (over 1,000 rows)
    early = rng.random(n) < EARLY_SHARE
    first_week = rng.integers(0, n_weeks, n)
    online = np.where(rng.random(n) < 0.68, rng.beta(9, 1.5, n), rng.beta(1.5, 3.5, n))
    loyalty = rng.beta(2.0, 2.0, n)

    cdf = np.cumsum(taste, axis=1)
    picks = rng.random((n, FAVOURITE_SEGMENTS))
    favourite_segments = np.empty((n, FAVOURITE_SEGMENTS), dtype=np.int32)
    for g in range(taste.shape[0]):
        mine = group == g
        favourite_segments[mine] = np.minimum(np.searchsorted(cdf[g], picks[mine]), taste.shape[1] - 1)
    shares = np.array([s for _, s in voc.COLOUR_MASTERS])
    favourite_colours = rng.choice(shares.size, p=shares / shares.sum(), size=(n, FAVOURITE_COLOURS))

    table = _customers_table(rng, ids, age)
    return Population(
        ids, group, rate, basket, first_week, early, online, loyalty, favourite_segments, favourite_colours, table
    )


def _customers_table(rng: np.random.Generator, ids: np.ndarray, age: np.ndarray) -> pl.DataFrame:
    """customers.csv rows: FN/Active as 1.0 or empty, membership and news status, age, postal code."""
    from hmrec_cli.synth.kaggle_csv import hex_ids, optional_text

    n = ids.size
    fn = rng.random(n) < 0.35
    active = fn & (rng.random(n) < 0.97)
    news = np.where(fn & (rng.random(n) < 0.97), "Regularly", np.where(rng.random(n) < 0.002, "Monthly", "NONE"))
    club = rng.choice(["ACTIVE", "PRE-CREATE", "LEFT CLUB"], p=[0.929, 0.0706, 0.0004], size=n)
    codes = hex_ids(rng, max(2, n // 4))
    placeholder = rng.random(n) < 0.09
    postal = np.where(placeholder, codes[0], codes[1 + rng.integers(0, codes.size - 1, n)])
    return pl.DataFrame(
        {
            "customer_id": ids,
            "FN": optional_text("1.0", fn),
            "Active": optional_text("1.0", active),
            "club_member_status": club,
            "fashion_news_frequency": news,
            "age": optional_text(age.astype(str), rng.random(n) >= 0.012),
            "postal_code": postal,
        }
    )
