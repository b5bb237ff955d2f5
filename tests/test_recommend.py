"""`hmrec recommend`: a customer's 12 in the shop's ids, with the sources, the recent purchases and,
for DIN, the purchases its attention weighs most (the model's own weights)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hmrec_cli.cache import Cache
from hmrec_cli.data.splits import resolve_week, truth
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline import recommend as rec
from hmrec_cli.pipeline.recall import ordered

SMALL_DIN = [
    "-o",
    "epochs=3",
    "-o",
    "embedding_size=16",
    "-o",
    "hidden=32",
    "-o",
    "history_length=16",
    "-o",
    "negative_share=0.3",
]


def _buyers(store_dir: Path, week: str, n: int) -> list[str]:
    store = Store.open(store_dir)
    target = resolve_week(week, store.first_date, store.last_date)
    buyers = truth(store.transactions, target)["customer"].unique().sort()
    return (
        store.customers.filter(pl.col("customer").is_in(buyers.implode()))
        .sort("customer")["customer_id"]
        .head(n)
        .to_list()
    )


@pytest.fixture(scope="module")
def merge_cache(store_dir: Path, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from hmrec_cli.cli import app

    cache = tmp_path_factory.mktemp("rec") / "cache"
    args = [
        "rank",
        "--ranker",
        "merge",
        "--candidates",
        "popular,repurchase",
        "--week",
        "1",
        "--data",
        str(store_dir),
        "--cache",
        str(cache),
        "-q",
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    return cache


def test_recommend_shows_the_cached_ranking_in_the_shops_ids(cli, store_dir: Path, merge_cache: Path) -> None:
    customer = _buyers(store_dir, "1", 1)[0]
    out = cli.json(
        "recommend",
        "--customer",
        customer,
        "--ranker",
        "merge",
        "--week",
        "1",
        "--data",
        store_dir,
        "--cache",
        merge_cache,
    )
    assert out["cached"] and out["name"].startswith("merge@") and out["attention"] == "none"
    (one,) = out["recommendations"]
    assert one["customer_id"] == customer and [i["rank"] for i in one["items"]] == list(range(1, 13))
    # the same rows as the cached ranking, mapped to the shop's ids
    store = Store.open(store_dir)
    entry = Cache(merge_cache).resolve("rankings", "merge", out["week"], store.fingerprint)
    index = store.customers.filter(pl.col("customer_id") == customer)["customer"][0]
    cached = (
        entry.read()
        .filter(pl.col("customer") == index)
        .sort("rank")
        .join(store.articles.select("article", "article_id"), on="article", maintain_order="left")
    )
    assert [i["article_id"] for i in one["items"]] == [f"{a:010d}" for a in cached["article_id"]]
    assert np.allclose([i["score"] for i in one["items"]], cached["score"].to_numpy())
    # each source's rank is its rank in that candidate set (1 = first)
    for source, label in zip(entry.manifest["sources"], entry.manifest["source_sets"], strict=True):
        cands = (
            Cache(merge_cache)
            .resolve("candidates", label, out["week"], store.fingerprint)
            .read()
            .filter(pl.col("customer") == index)
        )
        ranks = dict(ordered(cands).select("article", "rank").iter_rows())
        for item, article in zip(one["items"], cached["article"], strict=True):
            given = {p["method"]: p["rank"] for p in item["proposed_by"]}
            assert given.get(source) == (ranks[article] + 1 if article in ranks else None)
    dates = [p["date"] for p in one["recent_purchases"]]
    assert 0 < len(dates) <= rec.RECENT and dates == sorted(dates, reverse=True) and dates[0] < out["week"]


def test_recommend_ranks_when_nothing_is_cached_and_says_so(cli, store_dir: Path, tmp_path: Path) -> None:
    customer = Store.open(store_dir).customers["customer_id"][3]
    args = [
        "recommend",
        "--customer",
        customer,
        "--ranker",
        "merge",
        "--candidates",
        "popular",
        "--train-weeks",
        "2",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
    ]
    code, out, err = cli(*args, "-q")
    assert code == 0 and "ranking the week's customers now" in err and customer in out, (out, err)
    code, out, err = cli(*args, "-q")
    assert code == 0 and "now" not in err and "cached" in out, (out, err)


def test_unknown_customer_ids_exit_2_naming_them(cli, store_dir: Path, tmp_path: Path) -> None:
    known = Store.open(store_dir).customers["customer_id"][0]
    code, out, err = cli(
        "recommend", "--customer", known, "--customer", "nobody here", "--data", store_dir, "--cache", tmp_path
    )
    assert (
        code == 2
        and out == ""
        and err == f"hmrec: error: --customer nobody here: not a customer of the store {store_dir}\n"
    ), err
    ids = tmp_path / "ids.txt"
    ids.write_text("customer_id\nghost-1\nghost-2\n" + known + "\n")
    code, _, err = cli("recommend", "--customers", ids, "--data", store_dir, "--cache", tmp_path)
    assert (
        code == 2
        and "2 ids are not customers of the store" in err
        and "ghost-1, ghost-2" in err
        and err.count("\n") == 1
    ), err
    code, _, err = cli("recommend", "--data", store_dir, "--cache", tmp_path)
    assert code == 2 and "--customer ID" in err, err


@pytest.fixture(scope="module")
def din_cache(store_dir: Path, tmp_path_factory) -> Path:
    """A DIN ranking of week 1 that uses its attention (no merge prior, so no gate)."""
    from typer.testing import CliRunner

    from hmrec_cli.cli import app

    cache = tmp_path_factory.mktemp("din") / "cache"
    args = [
        "rank",
        "--ranker",
        "din",
        "--candidates",
        "popular,repurchase,itemcf",
        "--train-weeks",
        "2",
        "--week",
        "1",
        "-o",
        "prior_weight=0",
        *SMALL_DIN,
        "--device",
        "cpu",
        "--data",
        str(store_dir),
        "--cache",
        str(cache),
        "-q",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return cache


def test_din_reasons_are_the_purchases_its_attention_weighs_most(cli, store_dir: Path, din_cache: Path) -> None:
    customer = _buyers(store_dir, "1", 1)[0]
    out = cli.json("recommend", "--customer", customer, "--week", "1", "--data", store_dir, "--cache", din_cache)
    assert out["attention"] == "used"
    store = Store.open(store_dir)
    index = store.customers.filter(pl.col("customer_id") == customer)["customer"][0]
    past = store.transactions.filter(
        (pl.col("customer") == index) & (pl.col("t_dat") < pl.lit(out["week"]).str.to_date())
    )
    bought = set(
        past.join(store.articles, on="article")
        .select(pl.format("{}|{}", pl.col("article_id").cast(pl.String).str.zfill(10), "t_dat"))
        .to_series()
    )
    for item in out["recommendations"][0]["items"]:
        weights = [abs(b["weight"]) for b in item["because"]]
        assert 0 < len(weights) <= rec.REASONS and weights == sorted(weights, reverse=True)
        assert {
            f"{b['article_id']}|{b['date']}" for b in item["because"]
        } <= bought  # purchases of the customer, on their dates
    code, text, _ = cli("recommend", "--customer", customer, "--week", "1", "--data", store_dir, "--cache", din_cache)
    assert code == 0 and "because" in text


def test_removing_the_most_weighed_purchase_moves_the_score_more(store_dir: Path, din_cache: Path) -> None:
    """The reasons are the model's: over a sample of customers, taking out of the history the
    purchase DIN's attention weighs most (|weight|) moves the recommended article's DIN score more,
    on average, than taking out the one it weighs least."""
    store, cache = Store.open(store_dir), Cache(din_cache)
    week = resolve_week("1", store.first_date, store.last_date)
    entry = cache.resolve("rankings", "din", week.start.isoformat(), store.fingerprint)
    top = rec.top_rows(entry).filter(pl.col("rank") == 0)
    sets = rec.source_sets(store, cache, entry)
    attention, weights = rec.explain(store, cache, entry, week, sets, entry.manifest["k"], top)
    assert attention == "used"
    # customers whose recommended article weighs at least two distinct purchases differently
    purchases = weights.with_columns(
        t_dat=pl.lit(week.start) - pl.duration(days=pl.col("age_days")), size=pl.col("weight").abs()
    )
    distinct = (
        purchases.unique(["customer", "history_article", "t_dat"])
        .group_by("customer")
        .agg(n=pl.len())
        .filter(pl.col("n") >= 2)["customer"]
    )
    sample = distinct.sort().head(60)
    assert sample.len() >= 20, sample.len()
    chosen = purchases.filter(pl.col("customer").is_in(sample.implode())).sort("customer", "size", "position")
    most = chosen.group_by("customer", maintain_order=True).last()
    least = chosen.group_by("customer", maintain_order=True).first()
    model, ranking_week = rec.restored(store, cache, entry, week, sets, entry.manifest["k"], sample)
    rows = (
        ranking_week.candidates.select("customer", "article")
        .with_row_index("row")
        .join(top.select("customer", "article"), on=["customer", "article"])
    )

    def scores_without(taken: pl.DataFrame | None) -> np.ndarray:
        history = ranking_week.ctx.history
        if taken is not None:
            history = history.join(
                taken.select("customer", article="history_article", t_dat="t_dat"),
                on=["customer", "article", "t_dat"],
                how="anti",
            )
        changed = dataclasses.replace(ranking_week, ctx=dataclasses.replace(ranking_week.ctx, history=history))
        return np.asarray(model.score(changed))[rows["row"].to_numpy()]

    base = scores_without(None)
    moved_most, moved_least = np.abs(scores_without(most) - base), np.abs(scores_without(least) - base)
    assert moved_most.mean() > moved_least.mean(), (moved_most.mean(), moved_least.mean())


def test_din_that_kept_merges_order_shows_no_reasons(cli, store_dir: Path, tmp_path: Path) -> None:
    customer = _buyers(store_dir, "1", 1)[0]
    common = [
        "--candidates",
        "popular,repurchase",
        "--train-weeks",
        "2",
        "--week",
        "1",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
    ]
    assert cli("rank", "--ranker", "din", *common, *SMALL_DIN, "-o", "min_gain_se=100", "--device", "cpu", "-q")[0] == 0
    out = cli.json("recommend", "--customer", customer, *common)
    assert out["cached"] and out["attention"] == "kept merge's order"
    assert all("because" not in i for i in out["recommendations"][0]["items"])
    code, text, _ = cli("recommend", "--customer", customer, *common)
    assert code == 0 and "kept merge's order" in text and "because" not in text
