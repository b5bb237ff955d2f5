"""A quick, vectorised writer of Kaggle-format H&M files at any size.

It exists to exercise the real input path (ingest reads its output exactly as it reads the
competition files) in tests, the demo and the full-scale ingest benchmark. Its purchases follow
simple rules: customers with heavy-tailed activity, articles that launch, peak and fade, a weekly
cycle, repeat units on a day. Popularity therefore carries signal, little else does. It is *not*
the faithful synthetic world (`hmrec data synth`); do not judge methods on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

INDEX_GROUPS = ("Ladieswear", "Divided", "Menswear", "Baby/Children", "Sport")
PRODUCT_TYPES = (
    ("Trousers", "Garment Lower body"), ("Dress", "Garment Full body"), ("Sweater", "Garment Upper body"),
    ("T-shirt", "Garment Upper body"), ("Top", "Garment Upper body"), ("Blouse", "Garment Upper body"),
    ("Shorts", "Garment Lower body"), ("Skirt", "Garment Lower body"), ("Bra", "Underwear"),
    ("Socks", "Socks & Tights"), ("Jacket", "Garment Upper body"), ("Bag", "Accessories"),
)
COLOURS = ("Black", "White", "Dark Blue", "Light Pink", "Grey", "Beige", "Red", "Dark Green")
PRICE_TIERS = np.array([4.99, 9.99, 14.99, 19.99, 29.99, 49.99]) / 590


@dataclass(frozen=True)
class FixtureSize:
    customers: int
    articles: int
    rows: int
    days: int


SIZES = {
    "tiny": FixtureSize(2_000, 1_000, 40_000, 140),
    "small": FixtureSize(50_000, 8_000, 1_000_000, 280),
    "full": FixtureSize(1_371_980, 105_542, 31_788_324, 734),
}
END_DATE = date(2020, 9, 22)


def hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct random 64-character lowercase hex strings, sorted (as Kaggle's ids are)."""
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((n, 64), dtype=np.uint8)
    chars[:, 0::2] = digits[raw >> 4]
    chars[:, 1::2] = digits[raw & 15]
    ids = np.unique(chars.view("S64").ravel())  # unique also sorts; collisions are astronomically rare
    return ids.astype(str)


def write_fixture(out: Path, size: FixtureSize, seed: int = 0, end: date = END_DATE) -> None:
    """Write articles.csv, customers.csv, transactions_train.csv and sample_submission.csv to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    customer_ids = hex_ids(rng, size.customers)
    article_ids = _write_articles(out / "articles.csv", rng, size.articles)
    _write_customers(out / "customers.csv", rng, customer_ids)
    _write_transactions(out / "transactions_train.csv", rng, size, customer_ids, article_ids, end)
    top = " ".join(f"{a:010d}" for a in article_ids[:12])
    pl.DataFrame({"customer_id": customer_ids, "prediction": top}).write_csv(out / "sample_submission.csv")


def _write_articles(path: Path, rng: np.random.Generator, n: int) -> np.ndarray:
    n_products = max(1, int(n / 2.2))
    products = np.sort(rng.choice(np.arange(108_775, 959_462), size=n_products, replace=False))
    product = np.sort(rng.integers(0, n_products, size=n))
    variant = np.arange(n) - np.searchsorted(product, product) + 1  # 1, 2, ... within a product
    article_id = products[product] * 1000 + variant
    ptype = rng.integers(0, len(PRODUCT_TYPES), size=n_products)[product]
    group = rng.choice(len(INDEX_GROUPS), p=[0.38, 0.15, 0.11, 0.33, 0.03], size=n_products)[product]
    colour = rng.integers(0, len(COLOURS), size=n)
    types = pl.Series([t for t, _ in PRODUCT_TYPES])
    groups = pl.Series([g for _, g in PRODUCT_TYPES])
    index_names = pl.Series(INDEX_GROUPS)
    pl.DataFrame(
        {
            "article_id": [f"{a:010d}" for a in article_id.tolist()],
            "product_code": [f"{p:07d}" for p in products[product].tolist()],
            "prod_name": [f"Item {p}" for p in products[product].tolist()],
            "product_type_no": 250 + ptype,
            "product_type_name": types.gather(ptype),
            "product_group_name": groups.gather(ptype),
            "graphical_appearance_no": 1010016 + rng.integers(0, 3, size=n),
            "graphical_appearance_name": pl.Series(["Solid", "Stripe", "Melange"]).gather(rng.integers(0, 3, size=n)),
            "colour_group_code": [f"{c * 10 + 9:02d}" for c in colour.tolist()],
            "colour_group_name": pl.Series(COLOURS).gather(colour),
            "perceived_colour_value_id": 1 + colour % 4,
            "perceived_colour_value_name": pl.Series(["Dark", "Light", "Dusty Light", "Medium"]).gather(colour % 4),
            "perceived_colour_master_id": 1 + colour,
            "perceived_colour_master_name": pl.Series(COLOURS).gather(colour),
            "department_no": 1000 + ptype * 10 + group,
            "department_name": [f"Dept {t}" for t in (ptype * 10 + group).tolist()],
            "index_code": pl.Series(list("ADFHS")).gather(group),
            "index_name": index_names.gather(group),
            "index_group_no": 1 + group,
            "index_group_name": index_names.gather(group),
            "section_no": 10 + group,
            "section_name": [f"Section {g}, basics" for g in group.tolist()],
            "garment_group_no": 1001 + ptype,
            "garment_group_name": types.gather(ptype),
            "detail_desc": [f'Soft "{t}" in {c}, with a fit.' for t, c in zip(types.gather(ptype), pl.Series(COLOURS).gather(colour))],
        }
    ).write_csv(path)
    return article_id


def _write_customers(path: Path, rng: np.random.Generator, ids: np.ndarray) -> None:
    n = ids.size
    age = np.where(rng.random(n) < 0.6, rng.normal(24, 4, n), rng.normal(50, 9, n)).clip(16, 99).astype(int)
    flag = rng.random(n) < 0.35
    postal = hex_ids(rng, max(1, n // 4))
    pl.DataFrame(
        {
            "customer_id": ids,
            "FN": _maybe("1.0", flag),
            "Active": _maybe("1.0", flag & (rng.random(n) < 0.97)),
            "club_member_status": rng.choice(["ACTIVE", "PRE-CREATE", "LEFT CLUB"], p=[0.93, 0.067, 0.003], size=n),
            "fashion_news_frequency": rng.choice(["NONE", "Regularly", "Monthly"], p=[0.64, 0.35, 0.01], size=n),
            "age": _maybe(age.astype(str), rng.random(n) >= 0.012),
            "postal_code": postal[rng.integers(0, postal.size, size=n)],
        }
    ).write_csv(path)


def _maybe(value: str | np.ndarray, present: np.ndarray) -> pl.Series:
    """Text where `present`, else an empty field (Kaggle writes missing values as nothing)."""
    values = np.broadcast_to(np.asarray(value), present.shape)
    return pl.Series(values, dtype=pl.String).zip_with(pl.Series(present), pl.Series([None] * present.size, dtype=pl.String))


def _write_transactions(
    path: Path,
    rng: np.random.Generator,
    size: FixtureSize,
    customer_ids: np.ndarray,
    article_ids: np.ndarray,
    end: date,
) -> None:
    """Rows are drawn day by day (a loop over days, never over rows) and written in chunks."""
    start = end - timedelta(days=size.days - 1)
    days = np.arange(size.days)
    weekday = (np.array([(start + timedelta(days=int(d))).weekday() for d in days]))
    day_weight = np.array([0.9, 0.85, 0.95, 1.0, 1.1, 1.35, 0.8])[weekday] * (1 + 0.3 * np.sin(days / 58.0))
    expected_units = 1 + 0.09 * 1.5  # a row repeats 1 or 2 extra times with probability 0.09
    per_day = rng.multinomial(int(size.rows / expected_units), day_weight / day_weight.sum())

    activity = rng.pareto(1.2, size.customers) + 0.05
    customer_cdf = np.cumsum(activity) / activity.sum()
    online = rng.random(size.customers) < 0.7
    n_art = article_ids.size
    launch = rng.integers(-120, size.days, size=n_art)
    lifetime = rng.gamma(2.0, 40.0, size=n_art) + 7
    appeal = rng.lognormal(0, 1.3, size=n_art)
    list_price = PRICE_TIERS[rng.integers(0, PRICE_TIERS.size, size=n_art)]

    with open(path, "wb") as fh:
        fh.write(b"t_dat,customer_id,article_id,price,sales_channel_id\n")
        chunk: list[pl.DataFrame] = []
        pending = 0
        for d in days:
            age = d - launch
            weight = np.where(age >= 0, appeal * np.exp(-age / lifetime) * np.minimum(1.0, (age + 1) / 7), 0.0)
            cdf = np.cumsum(weight)
            n = int(per_day[d])
            art = np.searchsorted(cdf, rng.random(n) * cdf[-1])
            cust = np.searchsorted(customer_cdf, rng.random(n)).clip(0, size.customers - 1)
            repeat = 1 + (rng.random(n) < 0.09) * rng.integers(1, 3, size=n)
            art, cust = np.repeat(art, repeat), np.repeat(cust, repeat)
            order = np.lexsort((art, cust))
            art, cust = art[order], cust[order]
            discount = np.where(rng.random(art.size) < 0.3, rng.uniform(0.5, 0.9, art.size), 1.0)
            channel = np.where(online[cust] ^ (rng.random(art.size) < 0.1), 2, 1)
            chunk.append(
                pl.DataFrame(
                    {
                        "t_dat": np.full(art.size, d, dtype=np.int32),
                        "customer": cust.astype(np.uint32),
                        "article": art.astype(np.uint32),
                        "price": list_price[art] * discount,
                        "sales_channel_id": channel.astype(np.int8),
                    }
                )
            )
            pending += art.size
            if pending >= 2_000_000 or d == days[-1]:
                _write_chunk(fh, pl.concat(chunk), start, customer_ids, article_ids)
                chunk, pending = [], 0


def _write_chunk(fh, df: pl.DataFrame, start: date, customer_ids: np.ndarray, article_ids: np.ndarray) -> None:
    ids = pl.Series(customer_ids)
    arts = pl.Series(article_ids)
    df.select(
        (pl.lit(start) + pl.duration(days=pl.col("t_dat"))).dt.strftime("%Y-%m-%d").alias("t_dat"),
        ids.gather(df["customer"]).alias("customer_id"),
        arts.gather(df["article"]).cast(pl.String).str.zfill(10).alias("article_id"),
        "price",
        "sales_channel_id",
    ).write_csv(fh, include_header=False)
