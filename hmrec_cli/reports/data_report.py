"""`hmrec data report`: the facts that make a data set look like H&M's, beside the real values.

The real values were measured on the full competition data (the synthetic-world issue lists them).
A fact passes when the store's value is within +-25% of the real one, or inside the real range.
Weekly dynamics (repurchase, popularity, recency) are averaged over the last eight weeks.

A store with fewer customers than the real 1,371,980 (a small synthetic world, a customer sample)
is compared per customer: volumes are per 1,000 customers, and the facts that are counts per
article or the most of anything grow with the number of customers, so they are shown but compared
at full scale only. `recent_weeks` puts the last eight weeks beside the real ones, scaled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from hmrec_cli.data.splits import weeks_back
from hmrec_cli.data.store import Store
from hmrec_cli.synth import calendar

WEEKS = 8
REAL_CUSTOMERS = 1_371_980
FULL_SCALE_ONLY = "full scale only"
WEEK_TOLERANCE = 0.15


@dataclass(frozen=True)
class Fact:
    name: str
    value: float
    real: float | None = None  # a point value checked at +-25% ...
    low: float | None = None  # ... or a range the value must fall in
    high: float | None = None
    percent: bool = False
    note: str = ""  # why the fact is not compared on this store

    @property
    def ok(self) -> bool | None:
        if self.note:
            return None
        if self.real is not None:
            return abs(self.value - self.real) <= 0.25 * abs(self.real)
        if self.low is not None:
            return self.low <= self.value <= self.high
        return None

    def text(self, value: float) -> str:
        return f"{100 * value:.1f}%" if self.percent else f"{value:,.4g}"

    @property
    def real_text(self) -> str:
        if self.real is not None:
            return self.text(self.real)
        if self.low is not None:
            return f"{self.text(self.low)} .. {self.text(self.high)}"
        return ""


def describe(store: Store) -> list[Fact]:
    """Every fact of the report, computed from the store's tables."""
    tx = store.transactions.with_columns(weeks_back(store.last_date))
    days_per_week = tx.group_by("week").agg(pl.col("t_dat").n_unique().alias("days"))
    whole = days_per_week.filter(pl.col("days") == 7)["week"]
    tx_whole = tx.filter(pl.col("week").is_in(whole.implode()))
    by_size = FULL_SCALE_ONLY if store.customers.height < 0.9 * REAL_CUSTOMERS else ""
    return [
        *_volume(tx_whole, store),
        *_customers_and_articles(tx, store, by_size),
        *_dynamics(tx),
        *_tables(tx, store, by_size),
    ]


def _volume(tx: pl.DataFrame, store: Store) -> list[Fact]:
    weekly = tx.group_by("week").agg(rows=pl.len(), buyers=pl.col("customer").n_unique())
    weekday = tx.group_by(pl.col("t_dat").dt.weekday().alias("day")).len().sort("len")
    quiet = set(weekday["day"].head(2).to_list())
    return [
        Fact(
            "rows per week per 1,000 customers",
            1000 * weekly["rows"].mean() / store.customers.height,
            real=303_000 / (REAL_CUSTOMERS / 1000),
        ),
        Fact("rows per week, min / mean", weekly["rows"].min() / weekly["rows"].mean(), real=177 / 303),
        Fact("rows per week, max / mean", weekly["rows"].max() / weekly["rows"].mean(), real=636 / 303),
        Fact("busiest weekday is Saturday (1 = yes)", float(weekday["day"][-1] == 6), real=1.0),
        Fact("quietest two weekdays are Sunday and Monday (share)", len(quiet & {7, 1}) / 2, real=1.0),
        Fact(
            "buyers in a week, share of customers",
            weekly["buyers"].mean() / store.customers.height,
            real=0.055,
            percent=True,
        ),
        Fact("rows per active customer-week", weekly["rows"].sum() / weekly["buyers"].sum(), real=3.5),
        Fact(
            "exact duplicate rows",
            1 - store.transactions.unique().height / store.transactions.height,
            real=0.094,
            percent=True,
        ),
    ]


def _customers_and_articles(tx: pl.DataFrame, store: Store, by_size: str) -> list[Fact]:
    """`by_size` notes the facts that grow with the number of customers (see the module doc)."""
    per_customer = tx.group_by("customer").len()["len"]
    ranked = per_customer.sort(descending=True)
    needed = int((ranked.cum_sum() < 0.8 * ranked.sum()).sum()) + 1
    per_article = tx.group_by("article").len()["len"]
    return [
        Fact("rows per customer, mean", per_customer.mean(), real=23),
        Fact("rows per customer, median", per_customer.median(), real=9),
        Fact("rows per customer, max", per_customer.max(), real=1_900, note=by_size),
        Fact("customers making 80% of purchases", needed / store.customers.height, real=0.31, percent=True),
        Fact("rows per article, mean", per_article.mean(), real=304, note=by_size),
        Fact("rows per article, median", per_article.median(), real=65, note=by_size),
    ]


def _dynamics(tx: pl.DataFrame) -> list[Fact]:
    """Repurchase, popularity and recency, each over the last WEEKS target weeks."""
    targets = list(range(WEEKS))
    pairs = tx.select("customer", "article", "week").unique()
    first_pair = pairs.group_by("customer", "article").agg(first=pl.col("week").max())
    week_pairs = pairs.filter(pl.col("week").is_in(targets))
    rep_share = (
        week_pairs.join(first_pair, on=["customer", "article"]).select((pl.col("first") > pl.col("week")).mean()).item()
    )

    weekly_rows = tx.filter(pl.col("week").is_in([t + 1 for t in targets] + targets))
    top12, top36 = [], []
    for t in targets:
        previous = (
            weekly_rows.filter(pl.col("week") == t + 1)
            .group_by("article")
            .len()
            .sort(["len", "article"], descending=[True, False])
        )
        now = weekly_rows.filter(pl.col("week") == t)
        now_pairs = week_pairs.filter(pl.col("week") == t)
        top12.append(now["article"].is_in(previous["article"].head(12).implode()).mean())
        top36.append(now_pairs["article"].is_in(previous["article"].head(36).implode()).mean())

    buyers = pairs.select("customer", "week").unique()
    target_buyers = buyers.filter(pl.col("week").is_in(targets))
    gaps = (
        target_buyers.join(buyers.rename({"week": "earlier"}), on="customer")
        .filter(pl.col("earlier") > pl.col("week"))
        .group_by("customer", "week")
        .agg(gap=(pl.col("earlier") - pl.col("week")).min())
    )
    gap = target_buyers.join(gaps, on=["customer", "week"], how="left")["gap"]  # null: no earlier purchase
    return [
        Fact("week's pairs bought before by the customer", rep_share, real=0.04, percent=True),
        Fact("last week's top-12 share of next week's purchases", sum(top12) / len(top12), real=0.028, percent=True),
        Fact("last week's top-36 coverage of next week's pairs", sum(top36) / len(top36), real=0.055, percent=True),
        Fact("buyers who bought the week before", (gap == 1).mean(), real=0.20, percent=True),
        Fact("buyers who bought within 4 weeks", (gap <= 4).mean(), real=0.48, percent=True),
        Fact("buyers who bought within 13 weeks", (gap <= 13).mean(), real=0.71, percent=True),
        Fact("buyers with no history", gap.is_null().mean(), real=0.08, percent=True),
    ]


def _tables(tx: pl.DataFrame, store: Store, by_size: str) -> list[Fact]:
    c, a = store.customers.filter("known"), store.articles.filter("known")
    age = c["age"].drop_nulls()
    young = age.filter(age < 35)
    older = age.filter(age >= 35)
    sales = tx.join(a.select("article", "index_group_name", "product_code"), on="article")
    group_sales = sales["index_group_name"].cast(pl.String)
    group_articles = a["index_group_name"].cast(pl.String)
    product_repeat = _other_colour_share(tx, a)
    return [
        Fact("other colours of a product bought before", product_repeat, real=0.037, percent=True),
        Fact("age, most common under 35", float(young.mode().min()), real=21),
        Fact("age, most common from 35", float(older.mode().min()), real=50),
        Fact("age, median", float(age.median()), real=32),
        Fact("age missing", c["age"].null_count() / c.height, real=0.012, percent=True),
        Fact("FN missing", c["FN"].null_count() / c.height, real=0.65, percent=True),
        Fact("Active missing", c["Active"].null_count() / c.height, real=0.66, percent=True),
        Fact(
            "club status ACTIVE", (c["club_member_status"].cast(pl.String) == "ACTIVE").mean(), real=0.93, percent=True
        ),
        Fact(
            "fashion news NONE", (c["fashion_news_frequency"].cast(pl.String) == "NONE").mean(), real=0.64, percent=True
        ),
        Fact(
            "fashion news Regularly",
            (c["fashion_news_frequency"].cast(pl.String) == "Regularly").mean(),
            real=0.35,
            percent=True,
        ),
        Fact(
            "largest postal code's share of customers",
            c["postal_code"].value_counts()["count"].max() / c.height,
            real=0.09,
            percent=True,
        ),
        Fact("index groups", float(a["index_group_name"].n_unique()), real=5),
        Fact("product groups", float(a["product_group_name"].n_unique()), real=19),
        Fact("product types", float(a["product_type_name"].n_unique()), real=130),
        Fact("colour groups", float(a["colour_group_name"].n_unique()), real=50),
        Fact("articles per product code", a.height / a["product_code"].n_unique(), real=105_542 / 47_224),
        Fact("Ladieswear share of articles", (group_articles == "Ladieswear").mean(), real=0.38, percent=True),
        Fact("Ladieswear share of sales", (group_sales == "Ladieswear").mean(), real=0.64, percent=True),
        Fact("Baby/Children share of articles", (group_articles == "Baby/Children").mean(), real=0.33, percent=True),
        Fact("Baby/Children share of sales", (group_sales == "Baby/Children").mean(), real=0.04, percent=True),
        Fact("price, mean", tx["price"].mean(), real=0.0278),
        Fact("price, max", tx["price"].max(), real=0.59, note=by_size),
        Fact("online share (channel 2)", (tx["channel"] == 2).mean(), real=0.70, percent=True),
    ]


def _other_colour_share(tx: pl.DataFrame, articles: pl.DataFrame) -> float:
    """Share of the target weeks' pairs whose article is new to the customer but whose product is not."""
    rows = (
        tx.join(articles.select("article", "product_code"), on="article")
        .select("customer", "article", "product_code", "week")
        .unique()
    )
    first_article = rows.group_by("customer", "article").agg(first_a=pl.col("week").max())
    first_product = rows.group_by("customer", "product_code").agg(first_p=pl.col("week").max())
    target = (
        rows.filter(pl.col("week") < WEEKS)
        .join(first_article, on=["customer", "article"])
        .join(first_product, on=["customer", "product_code"])
    )
    return float(((target["first_a"] == target["week"]) & (target["first_p"] > target["week"])).mean())


@dataclass(frozen=True)
class WeekVolume:
    """One recent week's rows and buyers beside the real shop's same week (scaled to the store's
    customers); the real buyers are known for the last week only."""

    week: int
    start: date
    rows: int
    buyers: int
    real_rows: float | None
    real_buyers: float | None

    @property
    def ok(self) -> bool | None:
        checks = [
            abs(v - r) <= WEEK_TOLERANCE * r
            for v, r in ((self.rows, self.real_rows), (self.buyers, self.real_buyers))
            if r is not None
        ]
        return all(checks) if checks else None


def recent_weeks(store: Store, weeks: int = WEEKS) -> list[WeekVolume]:
    """The last `weeks` weeks of the store beside the real weeks that start on the same days."""
    scale = store.customers.height / REAL_CUSTOMERS
    starts = calendar.week_starts(calendar.FULL_WEEKS)
    real_rows = dict(zip(starts, calendar.REAL_WEEKLY_ROWS.tolist(), strict=False))
    real_buyers = {starts[-1]: calendar.REAL_LAST_WEEK_BUYERS}
    per_week = (
        store.transactions.with_columns(weeks_back(store.last_date))
        .filter(pl.col("week") < weeks)
        .group_by("week")
        .agg(rows=pl.len(), buyers=pl.col("customer").n_unique())
        .sort("week")
    )
    last_start = store.last_date.toordinal() - 6
    out = []
    for week, rows, buyers in per_week.iter_rows():
        start = date.fromordinal(last_start - 7 * week)
        real_r, real_b = real_rows.get(start), real_buyers.get(start)
        out.append(
            WeekVolume(
                week, start, rows, buyers, real_r * scale if real_r else None, real_b * scale if real_b else None
            )
        )
    return out
