"""One contract for every registered ranker: schema, determinism, no leakage, cold customers.

Runs over whatever `hmrec.rankers` holds. Built-in rankers get options that keep them quick on the
tiny world; a third-party ranker runs with its defaults.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.cache import Cache
from hmrec_cli.data.splits import history, resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.metrics import K
from hmrec_cli.pipeline.plugin_params import resolve
from hmrec_cli.pipeline.ranking import RANKING_SCHEMA, RankRequest, rank, union
from hmrec_cli.pipeline.recall import Request, run
from hmrec_cli.pipeline.settings import PluginParams
from hmrec_cli.project_config import ProjectConfig
from hmrec_cli.registry import discover

RANKERS = [p.name for p in discover("ranker")]
SOURCES = ("popular", "repurchase", "itemcf")
QUICK = {
    "din": ("epochs=2", "history_length=8", "hidden=16", "embedding_size=8", "side_embedding_size=4"),
    "merge": ("passes=1",),
}


def _request(ranker: str, store: Store, week: str = "1", customers: str = "auto") -> RankRequest:
    target = resolve_week(week, store.first_date, store.last_date)
    plugins = resolve(QUICK.get(ranker, ()), ProjectConfig(), SOURCES, ranker, 2)
    return RankRequest(ranker, SOURCES, target, train_weeks=2, k=30, plugins=plugins, customers=customers)


@pytest.mark.parametrize("ranker", RANKERS)
def test_ranking_schema_and_limits(ranker: str, store_dir: Path, tmp_path: Path) -> None:
    store, cache = Store.open(store_dir), Cache(tmp_path)
    request = _request(ranker, store)
    entry = rank(store, cache, request, device="cpu")
    ranked = entry.read()
    assert ranked.schema == RANKING_SCHEMA
    assert ranked.group_by("customer").len()["len"].max() <= K
    assert not ranked.select("customer", "article").is_duplicated().any()
    assert (ranked.group_by("customer").agg(ok=pl.col("rank").sort() == pl.int_range(pl.len()))["ok"].list.all()).all()
    sources = [run(store, cache, Request(s, request.week, request.k, PluginParams(), "buyers")) for s in SOURCES]
    candidates = union(sources, SOURCES, request.k).select("customer", "article", inside=pl.lit(True))
    assert (
        ranked.join(candidates, on=["customer", "article"], how="left")["inside"].fill_null(False).all()
    )  # only candidates
    buyers = store.transactions.filter(pl.col("t_dat").is_between(request.week.start, request.week.end))[
        "customer"
    ].unique()
    assert set(ranked["customer"].unique()) == set(buyers)
    figures = entry.manifest["figures"]
    assert 0 <= figures["map@12"] <= 1 and set(figures["sources_map@12"]) == set(SOURCES)


@pytest.mark.parametrize("ranker", RANKERS)
def test_deterministic_per_seed(ranker: str, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    first = rank(store, Cache(tmp_path / "a"), _request(ranker, store, "2"), seed=3, device="cpu").read()
    second = rank(store, Cache(tmp_path / "b"), _request(ranker, store, "2"), seed=3, device="cpu").read()
    assert first.equals(second)


@pytest.mark.parametrize("ranker", RANKERS)
def test_no_leakage_from_the_target_week_or_later(ranker: str, altered_store: Path, tmp_path: Path) -> None:
    """Every row from week 1 on is altered: the ranking of week 1 (trained on weeks 2 and 3) must not move."""
    original, altered = Store.open(altered_store.parent / "original"), Store.open(altered_store)
    a = rank(original, Cache(tmp_path / "a"), _request(ranker, original, customers="all"), device="cpu").read()
    b = rank(altered, Cache(tmp_path / "b"), _request(ranker, altered, customers="all"), device="cpu").read()
    assert a.equals(b)


@pytest.mark.parametrize("ranker", RANKERS)
def test_every_customer_is_ranked_including_those_without_history(ranker: str, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    request = _request(ranker, store, "3", customers="all")
    ranked = rank(store, Cache(tmp_path), request, device="cpu").read()
    assert set(ranked["customer"].unique()) == set(store.submission_customers)
    past = history(store.transactions, request.week)
    cold = store.customers.filter(~pl.col("customer").is_in(past["customer"].implode()))["customer"]
    assert cold.len() > 0
    assert ranked.filter(pl.col("customer").is_in(cold.implode())).group_by("customer").len()["len"].min() == K
