"""`hmrec data synth`: simulate the shop week by week and write the Kaggle files plus the oracle.

Each week: the real shop's weekly volume (calendar.py) sets demand; every customer shops with a
probability driven by their rate, the demand and how recently they last bought (first-time shoppers
appear in their first week);
each shopper picks a basket from their `Choice` distribution (see choice.py); baskets land on one
or two days, with a channel and a price (list price, marked down late in an article's life and in
sales); repeated units of an article are repeated rows, as in the real file.

For the last `oracle_weeks` weeks the true top-100 of every shopper is written to oracle.parquet.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.data.kaggle_tables import ARTICLES, CUSTOMERS, SAMPLE_SUBMISSION, SUFFIXES, TRANSACTIONS
from hmrec_cli.errors import InputError
from hmrec_cli.synth import calendar
from hmrec_cli.synth.catalogue import ProductTypes, build_catalogue
from hmrec_cli.synth.choice import MEMORY_WEEKS, build_choice
from hmrec_cli.synth.kaggle_csv import TRANSACTIONS_HEADER, hex_ids, write_transactions_chunk
from hmrec_cli.synth.population import EARLY_SHARE, build_population, group_segment_taste

EXCITEMENT = 3.0  # a purchase multiplies the shopping rate by up to 1 + this, fading over weeks
EXCITEMENT_WEEKS = 3.0
EXTRA_UNITS = 0.06  # share of picked articles bought in several units (duplicate rows)
SECOND_DAY = 0.15  # share of shopping weeks spread over two days
ORACLE_K = 100
SALE_VOLUME = 1.4  # weeks this much busier than average are sales: older stock is marked down
WRITTEN = ("articles.csv", "customers.csv", "transactions_train.csv", "sample_submission.csv", "oracle.parquet")


@dataclass(frozen=True)
class Scale:
    """Size of a synthetic world. `activity` scales shopping rates (1.0: the real shop's customers).

    small and medium are the full shop with fewer customers, like the customer samples people take
    of the real data: the whole catalogue, the whole calendar and real behaviour, so the weekly facts
    that decide which methods win are the real ones and only counts per article shrink. tiny is a
    dense toy world (fewer weeks and articles, customers twice as active) for fast unit tests."""

    customers: int
    articles: int
    weeks: int
    activity: float
    oracle_weeks: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.weeks <= calendar.FULL_WEEKS:
            raise ValueError(f"a world spans 1 .. {calendar.FULL_WEEKS} weeks of the real calendar, not {self.weeks}")
        if not self.activity > 0:
            raise ValueError(f"activity must be above 0, not {self.activity}")


SCALES = {
    "tiny": Scale(2_000, 1_000, 20, 2.0, 2),
    "small": Scale(50_000, 105_542, calendar.FULL_WEEKS, 1.0),
    "medium": Scale(300_000, 105_542, calendar.FULL_WEEKS, 1.0),
    "full": Scale(1_371_980, 105_542, calendar.FULL_WEEKS, 1.0),
}


@dataclass(frozen=True)
class SynthSummary:
    rows: int
    customers: int
    articles: int
    first_date: date
    last_date: date
    oracle_rows: int


class PurchaseLog:
    """Distinct (customer, article, week) purchases so far, in growable arrays."""

    def __init__(self, capacity: int):
        self.customer = np.empty(capacity, dtype=np.int64)
        self.article = np.empty(capacity, dtype=np.int64)
        self.week = np.empty(capacity, dtype=np.int32)
        self.size = 0

    def add(self, customer: np.ndarray, article: np.ndarray, week: int) -> None:
        pairs = np.unique(customer * (1 << 32) + article)
        n = pairs.size
        if self.size + n > self.customer.size:
            grow = max(self.customer.size, n) * 2
            for name in ("customer", "article", "week"):
                old = getattr(self, name)
                new = np.empty(grow, dtype=old.dtype)
                new[: self.size] = old[: self.size]
                setattr(self, name, new)
        self.customer[self.size : self.size + n] = pairs >> 32
        self.article[self.size : self.size + n] = pairs & 0xFFFFFFFF
        self.week[self.size : self.size + n] = week
        self.size += n

    def since(self, week: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Purchases from `week` on (the log is in week order, so this is a tail slice)."""
        lo = int(np.searchsorted(self.week[: self.size], week))
        return self.customer[lo : self.size], self.article[lo : self.size], self.week[lo : self.size]


def synthesize(
    out: Path, scale: Scale, seed: int = 0, on_week: Callable[[int, int, int], None] = lambda w, n, rows: None
) -> SynthSummary:
    """Write articles.csv, customers.csv, transactions_train.csv, sample_submission.csv and
    oracle.parquet to `out`; each file appears whole (written aside, then renamed)."""
    check_out(out)
    rng = np.random.default_rng(seed)
    starts = calendar.week_starts(scale.weeks)
    first_day = max(starts[0], calendar.FULL_START)
    catalogue = build_catalogue(rng, scale.articles, scale.weeks)
    segment_size = np.bincount(catalogue.segment, minlength=catalogue.segment_group.size)
    taste = group_segment_taste(
        catalogue.segment_group, catalogue.segment_type, ProductTypes.build().demand, segment_size
    )
    population = build_population(rng, hex_ids(rng, scale.customers), scale.weeks, scale.activity, taste)
    customer_ids, article_ids = pl.Series(population.ids), pl.Series(catalogue.article_id)

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {out}: cannot make the folder ({error.strerror or error})") from None
    with tempfile.TemporaryDirectory(prefix=".synth-", dir=out) as tmp_name:
        tmp = Path(tmp_name)
        catalogue.table.write_csv(tmp / "articles.csv")
        population.table.write_csv(tmp / "customers.csv")
        last_bought = np.full(population.size, -(10**6))
        log = PurchaseLog(capacity=max(1024, scale.customers * 16))
        oracle_parts: list[pl.DataFrame] = []
        rows_total = 0
        last_week_rows = None
        with open(tmp / "transactions_train.csv", "wb") as fh:
            fh.write(TRANSACTIONS_HEADER)
            for w, start in enumerate(starts):
                volume = calendar.volume(start)
                demand = _shopping_demand(volume, w, scale.weeks)
                pop = catalogue.popularity(w, calendar.season_phase(start + timedelta(days=3)))
                shoppers = _shoppers(rng, population, w, demand, last_bought)
                choice = build_choice(shoppers, w, pop, catalogue, population, taste, log.since(w - MEMORY_WEEKS))
                basket_mean = population.basket[shoppers] * _basket_boost(volume)
                picks = 1 + rng.poisson(basket_mean)
                draws = np.repeat(np.arange(shoppers.size), picks)
                article = choice.sample(rng, draws)
                rows = _rows(rng, shoppers, draws, article, catalogue, population, w, start, first_day, volume)
                write_transactions_chunk(fh, rows, start, customer_ids, article_ids)
                rows_total += rows.height
                log.add(shoppers[draws], article, w)
                last_bought[shoppers] = w
                if w >= scale.weeks - scale.oracle_weeks:
                    oracle_parts.append(_oracle(choice, start, basket_mean, customer_ids, catalogue.article_id))
                if w == scale.weeks - 1:
                    last_week_rows = rows
                on_week(w, scale.weeks, rows_total)
        _write_sample_submission(tmp / "sample_submission.csv", population.ids, last_week_rows, catalogue.article_id)
        oracle = pl.concat(oracle_parts)
        oracle.write_parquet(tmp / "oracle.parquet")
        for path in tmp.iterdir():
            os.replace(path, out / path.name)
    return SynthSummary(
        rows_total, population.size, catalogue.size, first_day, starts[-1] + timedelta(days=6), oracle.height
    )


def check_out(out: Path) -> None:
    """Refuse, before anything is simulated or written, an `out` that is a file, or a folder holding
    other tables' files that `hmrec data ingest` would also find there (it would then refuse the
    folder as ambiguous, after the world was written)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder for the synthetic files")
    if not out.is_dir():
        return
    others = sorted(
        {
            p.name
            for spec in (TRANSACTIONS, CUSTOMERS, ARTICLES, SAMPLE_SUBMISSION)
            for stem in spec.stems
            for suffix in SUFFIXES
            for p in out.glob(f"{stem}*{suffix}")
        }
        - set(WRITTEN)
    )
    if others:
        raise InputError(
            f"--out {out}: holds other data files ({', '.join(others)}) that ingest would read beside the world's; choose another folder"
        )


def _basket_boost(volume: float) -> float:
    """Busy weeks (sales) fill bigger baskets, up to x1.22."""
    return min(volume, 1.5) ** 0.5


def _shopping_demand(volume: float, week: int, n_weeks: int) -> float:
    """The multiplier on every present customer's shopping rate that makes the week's rows follow
    the real volume: what bigger baskets do not already give, spread over the customers who have
    arrived by then (the rest arrive at a steady rate)."""
    arrived = EARLY_SHARE + (1 - EARLY_SHARE) * (week + 1) / n_weeks
    return volume / _basket_boost(volume) / arrived


def _shoppers(rng, population, week: int, demand: float, last_bought: np.ndarray) -> np.ndarray:
    """Who shops this week: rate x demand, excited by a recent purchase; newcomers from their
    first week on; anyone still without a purchase in their first week buys then."""
    excitement = 1 + EXCITEMENT * np.exp(-(week - last_bought) / EXCITEMENT_WEEKS)
    p = 1 - np.exp(-population.rate * demand * excitement)
    arrived = population.arrives_early | (population.first_week <= week)
    shop = (rng.random(population.size) < p) & arrived
    shop |= (population.first_week == week) & (last_bought < 0)
    return np.flatnonzero(shop)


def _rows(rng, shoppers, draws, article, catalogue, population, week, start, first_day, volume) -> pl.DataFrame:
    """Transaction rows for the week: days, channels, prices and repeated units."""
    offsets, weights = calendar.days_of_week(start, first_day)
    n = shoppers.size
    day1 = offsets[rng.choice(offsets.size, p=weights, size=n)]
    day2 = offsets[rng.choice(offsets.size, p=weights, size=n)]
    two_days = rng.random(n) < SECOND_DAY
    day = np.where(two_days[draws] & (rng.random(draws.size) < 0.5), day2[draws], day1[draws])
    online = rng.random(n) < population.online[shoppers]
    units = 1 + (rng.random(draws.size) < EXTRA_UNITS) * rng.geometric(0.6, draws.size)
    age = week - catalogue.launch[article]
    late = age > 1.3 * catalogue.lifetime[article]
    sale = volume > SALE_VOLUME
    markdown = np.where(late, 0.3, 0.0) + np.where(sale & (age > 2), 0.2, 0.0)
    price = catalogue.list_price[article] * (1 - markdown)
    rows = pl.DataFrame(
        {
            "day": np.repeat(day, units).astype(np.int32),
            "customer": np.repeat(shoppers[draws], units).astype(np.uint32),
            "article": np.repeat(article, units).astype(np.uint32),
            "price": np.repeat(price, units),
            "channel": np.repeat(np.where(online[draws], 2, 1), units).astype(np.int8),
        }
    )
    return rows.sort("day", "customer", maintain_order=True)


def _oracle(
    choice, start: date, basket_mean: np.ndarray, customer_ids: pl.Series, article_ids: np.ndarray
) -> pl.DataFrame:
    """Each shopper's true top-100 with P(bought this week | shops) = 1 - (1 - q) exp(-mu q)."""
    articles, q = choice.top(ORACLE_K)
    mu = basket_mean[:, None].astype(np.float32)
    prob = 1 - (1 - q) * np.exp(-mu * q)
    shape = (choice.size, articles.shape[1])
    return pl.DataFrame(
        {
            "week": pl.Series([start] * choice.size, dtype=pl.Date),
            "customer_id": customer_ids.gather(choice.customers),
            "article_id": pl.Series(article_ids[articles].ravel()).reshape(shape).cast(pl.List(pl.Int64)),
            "probability": pl.Series(prob.ravel()).reshape(shape).cast(pl.List(pl.Float32)),
        }
    )


def _write_sample_submission(path: Path, ids: np.ndarray, last_week: pl.DataFrame, article_ids: np.ndarray) -> None:
    top = last_week.group_by("article").len().sort(["len", "article"], descending=[True, False]).head(12)["article"]
    text = " ".join(f"{a:010d}" for a in article_ids[top.to_numpy()])
    pl.DataFrame({"customer_id": ids, "prediction": text}).write_csv(path)
