"""Building and validating a Kaggle submission for week `next`."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hmrec_cli.atomic import atomic_file
from hmrec_cli.cache import Cache
from hmrec_cli.candidates_report import split_options
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import K
from hmrec_cli.plugin_api import recent_popularity
from hmrec_cli.recall import Request, ordered, run
from hmrec_cli.splits import history, resolve_week
from hmrec_cli.store import Store


def build_submission(data: Path, cache_dir: Path, methods: list[str], options: list[str], seed: int, out: Path, on_progress) -> int:
    if not methods:
        raise InputError("--candidates: name at least one method, e.g. repurchase,popular")
    store = Store.open(data)
    week = resolve_week("next", store.first_date, store.last_date)
    cache = Cache(cache_dir)
    parts = []
    for order, method in enumerate(methods):
        entry = run(store, cache, Request(method, week, K, split_options(options, method), "all"), seed=seed, on_progress=on_progress)
        parts.append(ordered(entry.read()).select("customer", "article", source=pl.lit(order), rank="rank"))
    popular = recent_popularity(history(store.transactions, week), week).head(K)
    customers = pl.DataFrame({"customer": store.submission_customers}).with_row_index("position")
    fill = customers.select("customer").join(popular.select("article").with_row_index("rank"), how="cross").select(
        "customer", pl.col("article").cast(pl.UInt32), source=pl.lit(len(methods)), rank=pl.col("rank").cast(pl.UInt32)
    )
    top = (
        pl.concat(parts + [fill])
        .sort("customer", "source", "rank")
        .unique(subset=["customer", "article"], keep="first", maintain_order=True)
        .group_by("customer", maintain_order=True)
        .head(K)
    )
    ids = store.articles.select("article", pl.col("article_id").cast(pl.String).str.zfill(10))
    lists = top.join(ids, on="article").group_by("customer", maintain_order=True).agg(prediction=pl.col("article_id").str.join(" "))
    submission = (
        customers.join(lists, on="customer", how="left")
        .join(store.customers.select("customer", "customer_id"), on="customer")
        .sort("position")
        .select("customer_id", "prediction")
    )
    validate(submission, store)
    with atomic_file(out) as tmp:
        submission.write_csv(tmp)
    return submission.height


def validate(submission: pl.DataFrame, store: Store) -> None:
    """Row count, unique customers, 12 distinct known ids each: checked before anything is written."""
    expected = store.submission_customers.len()
    if submission.height != expected:
        raise RuntimeError(f"submission has {submission.height} rows, expected {expected}")
    if submission["customer_id"].is_duplicated().any():
        raise RuntimeError("submission lists a customer twice")
    tokens = submission["prediction"].fill_null("").str.split(" ")
    if not (tokens.list.len() == K).all() or not (tokens.list.n_unique() == K).all():
        raise RuntimeError(f"every customer needs {K} distinct articles")
    known = store.articles["article_id"].cast(pl.String).str.zfill(10)
    if not tokens.explode().is_in(known.implode()).all():
        raise RuntimeError("submission names an article the store does not know")
