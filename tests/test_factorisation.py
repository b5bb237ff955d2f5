"""ALS/BPR at the implicit boundary, and annoy search against exact search."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.data.splits import history, resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.plugin_api import Context, RunSettings
from hmrec_cli.toolkit.ann import AnnIndex, exact_top_k


def test_annoy_finds_what_exact_search_finds() -> None:
    rng = np.random.default_rng(0)
    items = rng.normal(size=(3_000, 32)).astype(np.float32)
    users = rng.normal(size=(200, 32)).astype(np.float32)
    customers = np.arange(200)
    exact = exact_top_k(users, items, customers, 50)
    approx = AnnIndex.build(items, trees=50, seed=0).top_k(users, customers, 50)
    hits = exact.join(approx, on=["customer", "article"]).height
    assert hits / exact.height >= 0.95


def test_exact_search_is_the_brute_force_top_k() -> None:
    rng = np.random.default_rng(1)
    items, users = rng.normal(size=(500, 8)), rng.normal(size=(7, 8))
    got = exact_top_k(users, items, np.arange(7), 5)
    best = np.argsort(-(users @ items.T), axis=1)[:, :5]
    assert got["article"].to_numpy().reshape(7, 5).tolist() == best.tolist()


def test_annoy_index_saves_and_loads(tmp_path: Path) -> None:
    items = np.random.default_rng(2).normal(size=(300, 16)).astype(np.float32)
    built = AnnIndex.build(items, trees=10)
    built.save(tmp_path / "index.ann")
    loaded = AnnIndex.load(tmp_path / "index.ann", 16)
    users = items[:5]
    assert built.top_k(users, np.arange(5), 10).equals(loaded.top_k(users, np.arange(5), 10))


def test_factor_shapes_match_customers_and_articles_and_no_blas_warning(store_dir: Path) -> None:
    from hmrec_plugins.matrix_factorisation import ALS, BPR

    store = Store.open(store_dir)
    week = resolve_week("last", store.first_date, store.last_date)
    ctx = Context(
        history=history(store.transactions, week), articles=store.articles, customers=store.customers, week=week
    )
    for cls in (ALS, BPR):
        model = cls(cls.Params(embedding_size=8, epochs=3))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the OpenBLAS thread warning must not fire
            model.fit(ctx, RunSettings())
        assert model.users.shape[0] == store.customers.height and model.items.shape[0] == store.articles.height
        got = model.retrieve(store.customers["customer"].head(50), 10)
        assert got.group_by("customer").len()["len"].max() <= 10 and got["customer"].n_unique() == 50


def test_annoy_search_option_gives_candidates(store_dir: Path) -> None:
    from hmrec_plugins.matrix_factorisation import ALS

    store = Store.open(store_dir)
    week = resolve_week("last", store.first_date, store.last_date)
    ctx = Context(
        history=history(store.transactions, week), articles=store.articles, customers=store.customers, week=week
    )
    exact, approx = (
        ALS(ALS.Params(embedding_size=8, epochs=3)),
        ALS(ALS.Params(embedding_size=8, epochs=3, search="annoy")),
    )
    exact.fit(ctx, RunSettings())
    approx.fit(ctx, RunSettings())
    who = pl.Series(np.flatnonzero(exact.active)[:100].astype(np.uint32))
    a, b = exact.retrieve(who, 20), approx.retrieve(who, 20)
    assert a.join(b, on=["customer", "article"]).height / a.height >= 0.9


def test_an_orientation_mistake_at_the_implicit_boundary_fails_loudly(store_dir: Path) -> None:
    """Regression guard: handing implicit an articles x customers matrix must not pass silently."""
    import pytest
    from hmrec_plugins.matrix_factorisation import ALS

    class Transposed(ALS):
        def _confidence(self, weights):
            return super()._confidence(weights).T.tocsr()

    store = Store.open(store_dir)
    week = resolve_week("last", store.first_date, store.last_date)
    ctx = Context(
        history=history(store.transactions, week), articles=store.articles, customers=store.customers, week=week
    )
    with pytest.raises(RuntimeError, match="expected 2000 customers x 1000 articles"):
        Transposed(ALS.Params(embedding_size=4, epochs=1)).fit(ctx, RunSettings())
