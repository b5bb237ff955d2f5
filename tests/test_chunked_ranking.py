"""Ranking in customer chunks gives exactly what one pass gives: the features, the sampled training
weeks and the rankings do not depend on the chunk size, and the spill folder is gone afterwards."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hmrec_cli.cache import Cache
from hmrec_cli.data.splits import Week, resolve_week, truth
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline import ranking
from hmrec_cli.pipeline.plugin_params import resolve
from hmrec_cli.pipeline.ranking import RankRequest, context, labelled, rank, training_week, union
from hmrec_cli.pipeline.recall import Request, run
from hmrec_cli.pipeline.row_samples import first_customers, keep_draw
from hmrec_cli.pipeline.settings import PluginParams
from hmrec_cli.plugin_api import RankingWeek
from hmrec_cli.project_config import ProjectConfig
from hmrec_cli.toolkit.candidate_features import candidate_features, customer_chunks
from hmrec_cli.toolkit.fusion import Fusion, tune

SOURCES = ("popular", "repurchase", "itemcf")
K = 30


def _week(store: Store, cache: Cache, name: str):
    week = resolve_week(name, store.first_date, store.last_date)
    return week, [run(store, cache, Request(s, week, K, PluginParams(), "buyers")) for s in SOURCES]


def test_features_built_in_chunks_equal_one_pass_in_any_row_order(store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    week, entries = _week(store, Cache(tmp_path), "2")
    whole = RankingWeek(
        context(store, week), labelled(union(entries, SOURCES, K), truth(store.transactions, week)), SOURCES, K
    )
    one = candidate_features(whole, chunk=10**9)
    assert len(customer_chunks(whole.candidates["customer"], 3)) > 10
    chunked = candidate_features(whole, chunk=3)
    assert chunked.rows.equals(one.rows) and np.array_equal(chunked.dense, one.dense) and chunked.names == one.names
    shuffled = whole.candidates.sample(fraction=1.0, shuffle=True, seed=1)
    mixed = candidate_features(RankingWeek(whole.ctx, shuffled, SOURCES, K), chunk=3)
    assert mixed.rows.select(shuffled.columns).equals(shuffled)  # rows come back in the caller's order
    back = mixed.rows.with_row_index("i").sort("customer", "article")["i"].to_numpy()
    assert np.array_equal(mixed.dense[back], one.dense)


def test_a_sampled_training_week_does_not_depend_on_the_chunks(store_dir: Path, tmp_path: Path) -> None:
    store, cache = Store.open(store_dir), Cache(tmp_path)
    week, entries = _week(store, cache, "2")
    built = [
        training_week(store, entries, week, SOURCES, K, 5, 0.3, False, tmp_path / f"{c}.parquet", chunk=c)
        for c in (2, 10**6)
    ]
    assert built[0].candidates.equals(built[1].candidates)
    sampled = built[0].candidates
    full = labelled(union(entries, SOURCES, K), truth(store.transactions, week))
    hit = full.filter(pl.col("label") > 0)["customer"].unique()
    assert set(sampled["customer"].unique()) == set(hit)  # only customers with a purchase among their candidates
    assert sampled["label"].sum() == full["label"].sum()  # every positive
    negatives = full.filter(pl.col("customer").is_in(hit.implode()) & (pl.col("label") == 0)).height
    assert 0.2 < (sampled.height - sampled["label"].sum()) / negatives < 0.4
    assert built[0].negative_share == 0.3 and built[0].buyers == truth(store.transactions, week)["customer"].n_unique()
    other_seed = training_week(
        store, entries, week, SOURCES, K, 6, 0.3, False, tmp_path / "s.parquet", chunk=4
    ).candidates
    assert not other_seed.equals(sampled)
    assert not list(tmp_path.glob("*.parquet"))  # the spills are read back and removed


def test_a_sampled_week_keeps_whole_lists_for_tuning_merge_exactly(store_dir: Path, tmp_path: Path) -> None:
    """The learned rankers start from merge's order: tuned on a sampled week's `tuning` rows it is
    the very fusion `merge` fits on the unsampled week, whatever the chunks."""
    store, cache = Store.open(store_dir), Cache(tmp_path)
    week, entries = _week(store, cache, "2")
    sampled = [
        training_week(store, entries, week, SOURCES, K, 5, 0.1, False, tmp_path / f"{c}.parquet", chunk=c)
        for c in (3, 10**6)
    ]
    whole = training_week(store, entries, week, SOURCES, K, 5, 1.0, False, tmp_path / "w.parquet")
    assert whole.tuning is None and sampled[0].tuning.equals(sampled[1].tuning)
    tuning = sampled[0].tuning
    assert set(tuning["customer"]) == set(
        whole.candidates["customer"]
    )  # fewer than POLICY.tune_customers: every buyer with a hit
    assert tuning.equals(whole.candidates.select(tuning.columns))  # their whole lists
    start = Fusion({s: 1.0 for s in SOURCES}, 10.0)
    assert tune([sampled[0]], start, 0) == tune([whole], start, 0)
    assert tune([sampled[0]], start, 0) != tune(
        [replace(sampled[0], tuning=None)], start, 0
    )  # the 1 / share estimate is not exact
    assert not list(tmp_path.glob("*.parquet"))


def test_the_tuning_sample_is_a_seeded_cut_of_the_buyers_with_a_hit(
    store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    store, cache = Store.open(store_dir), Cache(tmp_path)
    week, entries = _week(store, cache, "2")
    buyers = truth(store.transactions, week)["customer"].n_unique()
    n = buyers // 3 + 1  # every buyer's draw is under the pre-cut share: the cut alone picks them
    monkeypatch.setattr(ranking, "POLICY", replace(ranking.POLICY, tune_customers=n))
    built = [
        training_week(store, entries, week, SOURCES, K, 5, 0.1, False, tmp_path / f"{c}.parquet", chunk=c)
        for c in (3, 10**6)
    ]
    tuning, hit = built[0].tuning, built[0].candidates["customer"].unique()
    assert hit.len() > n and tuning.equals(built[1].tuning) and tuning["customer"].n_unique() == n
    assert set(tuning["customer"]) == set(first_customers(hit, n, 5, week)) and set(tuning["customer"]) <= set(hit)
    assert set(first_customers(hit, n, 6, week)) != set(tuning["customer"])


def test_keep_draw_is_uniform_and_fixed_by_seed_and_week() -> None:
    customer = np.repeat(np.arange(400, dtype=np.uint32), 250)
    article = np.tile(np.arange(250, dtype=np.uint32), 400)
    w = Week(date(2020, 9, 16), "last")
    draw = keep_draw(customer, article, 0, w)
    assert (
        draw.min() >= 0 and draw.max() < 1 and abs(draw.mean() - 0.5) < 0.01 and abs((draw < 0.1).mean() - 0.1) < 0.005
    )
    assert np.array_equal(draw[::7], keep_draw(customer[::7], article[::7], 0, w))
    assert not np.array_equal(draw, keep_draw(customer, article, 1, w))


@pytest.mark.parametrize("ranker", ["merge", "lgbm"])
def test_ranking_in_tiny_chunks_equals_one_chunk(ranker: str, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    request = RankRequest(
        ranker,
        SOURCES,
        week,
        train_weeks=2,
        k=K,
        plugins=resolve(
            ("negative_share=0.5", "trees=20") if ranker == "lgbm" else ("passes=1",),
            ProjectConfig(),
            SOURCES,
            ranker,
            2,
        ),
        customers="all",
    )
    stages: list[tuple[str, int]] = []
    cache = Cache(tmp_path)  # the sources are fitted once; the second ranking is forced
    small = rank(store, cache, request, chunk=40, on_progress=lambda stage, done, total: stages.append((stage, total)))
    small_ranking = small.read()
    whole = rank(store, cache, request, chunk=10**6, force=True)
    assert small_ranking.equals(whole.read())
    assert small.manifest["training_rows"] == whole.manifest["training_rows"]
    assert (
        max(total for stage, total in stages if stage.startswith("union")) > 3
    )  # training weeks were built in many chunks
    assert not [p for p in tmp_path.rglob(".*") if "spill" in p.name]  # the spill folder is removed
