"""Feature encoders for rankers and neural retrievers, computed from a history already cut at the
week's start (`Context.history`), so a feature can never see the week it is used for.

- `article_codes` / `customer_codes`: static attributes as dense integer codes (0 = missing), ready
  for embedding tables; one row per article / customer index.
- `article_activity`, `customer_activity`, `pair_activity`: what happened before the week (sales in
  the last days, trend, price band, repeat buying, how often a customer bought this article / product / type).
- `group_lift`: how much more an article sells among the customer's age band or postal code than
  overall (what transfers across shops: the 2nd-place H&M Kaggle team's largest single gain).
Everything is vectorised polars; counts are raw (callers choose their own scaling).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from hmrec_cli.data.splits import Week

ARTICLE_FIELDS = (
    "product_type_no",
    "product_group_name",
    "index_group_name",
    "colour_group_code",
    "department_no",
    "garment_group_no",
)
CUSTOMER_FIELDS = ("age_band", "club_member_status", "fashion_news_frequency", "FN", "Active")
PRICE_BANDS = 10
NEVER = 9999  # days since an event that never happened
GROUP_DAYS = 28  # the window a group's popularity is counted over
GROUP_KEYS = ("age_band", "postal_code")  # customer attributes `group_lift` compares an article's sales across


@dataclass(frozen=True)
class Codes:
    """Categorical fields as codes 1..n (0 = missing), int64 [rows, fields]; `sizes[i]` = n + 1."""

    values: np.ndarray
    fields: tuple[str, ...]
    sizes: tuple[int, ...]


def encode(frame: pl.DataFrame, fields: tuple[str, ...]) -> Codes:
    """Dense codes per field in the order of the values (Enum fields by their category order)."""
    exprs = []
    for name in fields:
        col = pl.col(name)
        if isinstance(frame.schema[name], (pl.Enum, pl.Categorical, pl.Boolean)):
            col = col.to_physical() if not isinstance(frame.schema[name], pl.Boolean) else col.cast(pl.UInt8)
        exprs.append(col.rank("dense").fill_null(0).cast(pl.Int64).alias(name))
    codes = frame.select(exprs)
    sizes = tuple(int(codes[name].max() or 0) + 1 for name in fields)
    return Codes(codes.to_numpy().astype(np.int64).reshape(frame.height, len(fields)), fields, sizes)


def article_codes(articles: pl.DataFrame) -> Codes:
    """Row i = article index i (the store's articles are sorted by index)."""
    return encode(articles.sort("article"), ARTICLE_FIELDS)


def age_band() -> pl.Expr:
    """`age_band`: the customer's 5-year age band (16-19 -> 3, 20-24 -> 4, ...; null where unknown)."""
    return pl.when(pl.col("age") > 0).then(pl.col("age").clip(16, 79).cast(pl.Int32) // 5).alias("age_band")


def customer_codes(customers: pl.DataFrame) -> Codes:
    """Row i = customer index i; age in 5-year bands (16-19, 20-24, ...; unknown = 0)."""
    return encode(customers.sort("customer").with_columns(age_band()), CUSTOMER_FIELDS)


def article_side_table(articles: pl.DataFrame, history: pl.DataFrame, week: Week, customers: pl.DataFrame) -> Codes:
    """`article_codes` plus the price band (by mean price paid before the week; 0 = never sold) as
    a last field, with a padding row 0 in front: row i + 1 = article index i, for tables indexed
    by article + 1 (0 = padding)."""
    codes = article_codes(articles)
    bands = article_activity(history, week, customers).select("article", "price_band")
    band = pl.DataFrame({"article": articles.sort("article")["article"]}).join(
        bands, on="article", how="left", maintain_order="left"
    )
    values = np.hstack([codes.values, band["price_band"].fill_null(0).to_numpy().astype(np.int64).reshape(-1, 1)])
    return Codes(
        np.vstack([np.zeros((1, values.shape[1]), dtype=np.int64), values]),
        (*codes.fields, "price_band"),
        (*codes.sizes, PRICE_BANDS + 1),
    )


def unsold_articles(history: pl.DataFrame, week: Week, articles: int, days: int) -> np.ndarray | None:
    """True for articles with no sale in the `days` before the week (a retriever need not propose
    them); None when no filter applies (days = 0, or nothing sold in that window)."""
    if days <= 0:
        return None
    sold = history.filter(pl.col("t_dat") >= week.start - timedelta(days=days))["article"].unique().to_numpy()
    if sold.size == 0:
        return None
    mask = np.ones(articles, dtype=bool)
    mask[sold] = False
    return mask


def recent_sales(history: pl.DataFrame, starts, articles: int, days: int = 7) -> np.ndarray:
    """int64 [len(starts), articles]: each article's sales in the `days` before each of `starts`
    (dates), from `history` (rows on or after a start are not counted for it). Each window is a
    slice found by binary search on the dates (the store's history is sorted by date)."""
    sold = history.select("t_dat", "article")
    if not sold["t_dat"].is_sorted():
        sold = sold.sort("t_dat")
    edges = pl.Series([d for start in starts for d in (start - timedelta(days=days), start)])
    bounds = sold["t_dat"].search_sorted(edges, side="left").to_numpy().reshape(-1, 2)
    counts = np.zeros((len(starts), articles), dtype=np.int64)
    for row, (lo, hi) in enumerate(bounds):  # one slice per week: a handful of weeks
        window = sold["article"].slice(lo, hi - lo).to_numpy().astype(np.int64)
        counts[row] = np.bincount(window, minlength=articles)
    return counts


def _days_before(week: Week) -> pl.Expr:
    return (pl.lit(week.start) - pl.col("t_dat")).dt.total_days()


class WeekActivity:
    """`article_activity` of the week being scored, computed once per week: `rank` and `submit`
    hand a ranker the target week chunk by chunk, and every chunk shares the week's articles."""

    def __init__(self) -> None:
        self.week, self.table = None, None

    def __call__(self, ctx) -> pl.DataFrame:
        if self.week != ctx.week.start:
            self.table, self.week = article_activity(ctx.history, ctx.week, ctx.customers), ctx.week.start
        return self.table


def article_activity(history: pl.DataFrame, week: Week, customers: pl.DataFrame) -> pl.DataFrame:
    """Per article sold before the week: sales in the last 1/7/28 days, trend (last 7 days over the
    7 before, smoothed), days since its first sale, mean age of its last-28-day buyers, mean price,
    the price band (1..10 by deciles of mean price; 0 = never sold) and its repeat rate (the share
    of its buyers who bought it on more than one day: what a grocery staple has and a dress lacks)."""
    days = _days_before(week)
    recent = history.filter(pl.col("t_dat") >= week.start - timedelta(days=28))
    ages = customers.select("customer", age=pl.when(pl.col("age") > 0).then(pl.col("age").cast(pl.Float32)))
    buyer_age = (
        recent.join(ages, on="customer", how="left").group_by("article").agg(mean_buyer_age=pl.col("age").mean())
    )
    windows = recent.group_by("article").agg(
        sales_1d=(days <= 1).sum(),
        sales_7d=(days <= 7).sum(),
        sales_prev_7d=((days > 7) & (days <= 14)).sum(),
        sales_28d=pl.len(),
    )
    overall = history.group_by("article").agg(
        days_since_first_sale=days.max(),
        sales_all=pl.len(),
        mean_price=pl.col("price").mean(),
    )
    repeats = (
        history.group_by("article", "customer")
        .agg(days=pl.col("t_dat").n_unique())
        .group_by("article")
        .agg(article_repeat_rate=(pl.col("days") > 1).mean().cast(pl.Float32))
    )
    out = (
        overall.sort("article")  # group_by order varies between runs; ties in the price rank must not
        .join(windows, on="article", how="left", maintain_order="left")
        .join(repeats, on="article", how="left", maintain_order="left")
        .join(buyer_age, on="article", how="left", maintain_order="left")
        .with_columns(pl.col("sales_1d", "sales_7d", "sales_prev_7d", "sales_28d").fill_null(0))
        .with_columns(
            trend=((pl.col("sales_7d") + 1) / (pl.col("sales_prev_7d") + 1)).cast(pl.Float32),
            price_band=(pl.col("mean_price").rank("ordinal") * PRICE_BANDS / pl.len())
            .ceil()
            .clip(1, PRICE_BANDS)
            .cast(pl.Int64),
        )
        .drop("sales_prev_7d")
    )
    return out.sort("article")


def customer_activity(history: pl.DataFrame, week: Week, customers: pl.Series) -> pl.DataFrame:
    """Per customer of `customers` (all of them, history or not): purchases overall and in the last
    28 days, share bought online, days since the last purchase (NEVER when none), mean price paid,
    and their repeat rate: the share of their purchase days of an article that rebought it (0 for a
    customer who never bought the same article on two days), how far their past predicts their next basket."""
    days = _days_before(week)
    mine = history.filter(pl.col("customer").is_in(customers.implode()))
    stats = mine.group_by("customer").agg(
        purchases=pl.len(),
        purchases_28d=(days <= 28).sum(),
        online_share=(pl.col("channel") == 2).mean().cast(pl.Float32),
        days_since_last=days.min(),
        mean_price_paid=pl.col("price").mean(),
        customer_repeat_rate=(1 - pl.col("article").n_unique() / pl.struct("article", "t_dat").n_unique()).cast(
            pl.Float32
        ),
    )
    return (
        pl.DataFrame({"customer": customers.cast(pl.UInt32)})
        .join(stats, on="customer", how="left")
        .with_columns(
            pl.col("purchases", "purchases_28d").fill_null(0),
            pl.col("online_share", "mean_price_paid", "customer_repeat_rate").fill_null(0.0),
            pl.col("days_since_last").fill_null(NEVER),
        )
    )


def pair_activity(history: pl.DataFrame, week: Week, articles: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Per (customer, article) of `pairs`, in the order of `pairs`: how often the customer bought
    this article, this product code and this product type before the week, and days since they
    last bought the article."""
    days = _days_before(week)
    kinds = articles.select("article", "product_code", "product_type_no")
    mine = (
        history.filter(pl.col("customer").is_in(pairs["customer"].unique().implode()))
        .select("customer", "article", "t_dat")
        .join(kinds, on="article")
    )
    by_article = mine.group_by("customer", "article").agg(bought_article=pl.len(), days_since_article=days.min())
    by_product = mine.group_by("customer", "product_code").agg(bought_product=pl.len())
    by_type = mine.group_by("customer", "product_type_no").agg(bought_type=pl.len())
    return (
        pairs.select("customer", "article")
        .join(kinds, on="article", how="left", maintain_order="left")
        .join(by_article, on=["customer", "article"], how="left", maintain_order="left")
        .join(by_product, on=["customer", "product_code"], how="left", maintain_order="left")
        .join(by_type, on=["customer", "product_type_no"], how="left", maintain_order="left")
        .select(
            "customer",
            "article",
            pl.col("bought_article", "bought_product", "bought_type").fill_null(0),
            pl.col("days_since_article").fill_null(NEVER),
        )
    )


def customer_groups(customers: pl.DataFrame) -> pl.DataFrame:
    """customer and each of GROUP_KEYS as a string: the 5-year age band (16-19, 20-24, ...) and the
    postal code; "" where unknown or where the log has no such attribute (one group of everyone)."""
    band = age_band() if "age" in customers.columns else pl.lit(None)
    postal = pl.col("postal_code") if "postal_code" in customers.columns else pl.lit(None)
    return customers.select(
        "customer",
        age_band=band.cast(pl.String).fill_null(""),
        postal_code=postal.cast(pl.String).fill_null(""),
    )


@dataclass(frozen=True)
class GroupSales:
    """Sales in the GROUP_DAYS before a week, per (group of `key`, article), per article and per
    group, and in all: counted once per week, looked up for every chunk of candidates."""

    key: str
    by_pair: pl.DataFrame
    by_article: pl.DataFrame
    by_group: pl.DataFrame
    total: int


def group_sales(history: pl.DataFrame, week: Week, groups: pl.DataFrame, key: str) -> GroupSales:
    """`GroupSales` of `key` (a column of `customer_groups`) from a history cut at the week's start."""
    recent = (
        history.filter(pl.col("t_dat") >= week.start - timedelta(days=GROUP_DAYS))
        .join(groups.select("customer", key), on="customer", how="left")
        .with_columns(pl.col(key).fill_null(""))
    )
    return GroupSales(
        key,
        recent.group_by(key, "article").agg(n=pl.len()),
        recent.group_by("article").agg(n_article=pl.len()),
        recent.group_by(key).agg(n_group=pl.len()),
        recent.height,
    )


def group_lift(sales: GroupSales, groups: pl.DataFrame, pairs: pl.DataFrame) -> pl.Series:
    """Per (customer, article) of `pairs`, in their order: log((n + 1) / (e + 1)), n = the article's
    sales among the customer's group, e = what its overall sales give the group by the group's
    share of all sales. 0 = as popular in the group as everywhere (every pair, where the log lacks
    the attribute); a group or an article with few sales moves it little."""
    key = sales.key
    rows = (
        pairs.select("customer", "article")
        .join(groups.select("customer", key), on="customer", how="left", maintain_order="left")
        .with_columns(pl.col(key).fill_null(""))
        .join(sales.by_pair, on=[key, "article"], how="left", maintain_order="left")
        .join(sales.by_article, on="article", how="left", maintain_order="left")
        .join(sales.by_group, on=key, how="left", maintain_order="left")
    )
    expected = pl.col("n_article").fill_null(0).cast(pl.Float64) * pl.col("n_group").fill_null(0) / max(sales.total, 1)
    lift = ((pl.col("n").fill_null(0) + 1) / (expected + 1)).log()
    return rows.select(lift.cast(pl.Float32).alias(f"{key}_lift")).to_series()
