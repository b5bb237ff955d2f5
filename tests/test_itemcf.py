"""itemcf on hand-built baskets: the known neighbours come back in the known order."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hmrec_plugins.itemcf import ItemCF, ItemCFParams, item_similarity

from hmrec_cli.data.splits import Week
from hmrec_cli.plugin_api import Context, RunSettings
from hmrec_cli.toolkit.interactions import interaction_matrix, keep_top_per_row

WEEK = Week(date(2020, 9, 16), "last")
A, B, C, D, E = range(5)


def baskets() -> pl.DataFrame:
    """Customers 0-5 buy A with B (most), A with C (fewer), D alone; customer 6 bought only A; 7 nothing."""
    bought = {0: [A, B], 1: [A, B], 2: [A, B, C], 3: [A, C], 4: [D], 5: [B, E], 6: [A]}
    rows = [(c, a) for c, arts in bought.items() for a in arts]
    return pl.DataFrame(
        {
            "t_dat": [WEEK.start - timedelta(days=3)] * len(rows),
            "customer": pl.Series([c for c, _ in rows], dtype=pl.UInt32),
            "article": pl.Series([a for _, a in rows], dtype=pl.UInt32),
            "price": pl.Series([0.01] * len(rows), dtype=pl.Float32),
            "channel": pl.Series([2] * len(rows), dtype=pl.UInt8),
        }
    )


def context() -> Context:
    customers = pl.DataFrame({"customer": pl.Series(range(8), dtype=pl.UInt32)})
    articles = pl.DataFrame({"article": pl.Series(range(5), dtype=pl.UInt32)})
    return Context(history=baskets(), articles=articles, customers=customers, week=WEEK)


@pytest.mark.parametrize("normalisation", ["cosine", "conditional", "bm25"])
def test_neighbours_of_a_come_in_the_known_order(normalisation: str) -> None:
    model = ItemCF(ItemCFParams(normalisation=normalisation, prior_buyers=0.0))  # co-purchases alone
    model.fit(context(), RunSettings())
    got = model.retrieve(pl.Series([6], dtype=pl.UInt32), 10).sort("score", descending=True)
    assert got["article"].to_list()[:2] == [B, C]  # A's co-buyers: B three times, C twice; D never
    assert D not in got["article"].to_list() and A not in got["article"].to_list()


def test_conditional_probability_is_asymmetric_and_exact() -> None:
    bought = interaction_matrix(baskets(), WEEK, 8, 5, 28, 0)
    sim = item_similarity(bought, "conditional").toarray()
    assert sim[A, B] == pytest.approx(3 / 5)  # of A's 5 buyers, 3 bought B
    assert sim[B, A] == pytest.approx(3 / 4)  # of B's 4 buyers, 3 bought A
    assert np.diag(sim).sum() == 0


def test_cosine_is_symmetric() -> None:
    sim = item_similarity(interaction_matrix(baskets(), WEEK, 8, 5, 28, 0), "cosine").toarray()
    assert np.allclose(sim, sim.T)
    assert sim[A, B] == pytest.approx(3 / np.sqrt(5 * 4))


def test_neighbour_cap_keeps_the_strongest() -> None:
    m = sp.csr_matrix(np.array([[0, 3, 1, 2], [5, 0, 0, 4]], dtype=np.float32))
    assert keep_top_per_row(m, 2).toarray().tolist() == [[0, 3, 0, 2], [5, 0, 0, 4]]


@pytest.mark.parametrize("normalisation", ["cosine", "conditional", "bm25"])
def test_the_default_prior_keeps_the_co_purchased_articles_first(normalisation: str) -> None:
    """By default a thin article's list continues with the popular articles: A's strongest neighbour
    leads, and articles never bought with A (D, E) follow through the prior."""
    model = ItemCF(ItemCFParams(normalisation=normalisation))
    model.fit(context(), RunSettings())
    got = model.retrieve(pl.Series([6], dtype=pl.UInt32), 10).sort("score", descending=True)
    assert got["article"].to_list()[0] == B
    assert {D, E} <= set(got["article"].to_list())  # never bought with A: they come from the prior


def test_customer_without_history_gets_the_popular_fill() -> None:
    model = ItemCF()
    model.fit(context(), RunSettings())
    got = model.retrieve(pl.Series([7], dtype=pl.UInt32), 3)
    assert got["article"].to_list()[0] == A and got["score"].max() < 1e-5


def test_the_popularity_prior_shrinks_a_thin_article_s_neighbours_toward_the_popular_ones() -> None:
    """prior_buyers=2: score(j) = (1 - s) P(j | A) + s P(j), s = 2 / (A's 5 buyers + 2), P(j) = j's
    buyers / 7 customers; every article gets the prior, so D (never bought with A) enters the list."""
    model = ItemCF(ItemCFParams(prior_buyers=2.0, half_life_days=0.0))
    model.fit(context(), RunSettings())
    got = dict(model.retrieve(pl.Series([6], dtype=pl.UInt32), 5).select("article", "score").iter_rows())
    s = 2 / 7
    expected = {A: s * 5 / 7, B: (1 - s) * 3 / 5 + s * 4 / 7, C: (1 - s) * 2 / 5 + s * 2 / 7, D: s / 7, E: s / 7}
    assert got == pytest.approx(expected, rel=1e-5)
