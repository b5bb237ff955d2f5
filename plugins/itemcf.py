"""`itemcf`: item-item collaborative filtering from co-purchases in a recent window.

Articles bought by the same customers in the window are neighbours. Co-purchase counts weight
each purchase by recency; they are normalised (cosine, asymmetric conditional probability,
BM25-weighted cosine) or kept as plain counts, optionally shrunk toward the window's popularity by
each article's buyers (`prior_buyers`: on a small log a thinly bought article's neighbours are
noise, and every list then continues with the popular articles), and capped to the strongest
neighbours per article. A customer's score for an article is the sum, over their own recent articles (recency weighted), of the neighbour weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from hmrec_cli.errors import InputError
from hmrec_cli.params import MAX_DAYS, Between, Choice, LogUniform, OneOf, param
from hmrec_cli.plugin_api import Context, Retriever, RunSettings, fill_cold, recent_popularity
from hmrec_cli.toolkit.interactions import interaction_matrix, keep_top_per_row, top_k_rows

NORMALISATIONS = ("cosine", "conditional", "bm25", "count")


@dataclass(frozen=True)
class ItemCFParams:
    window_days: int = param(
        28,
        "days of history whose co-purchases make neighbours (0: all)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(7, 182),
    )
    half_life_days: float = param(
        14.0,
        "a purchase's weight halves every this many days back (0: no decay)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(2.0, 120.0),
    )
    history_days: int = param(
        56,
        "the customer's own purchases of these last days are scored from (0: all)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(14, 365),
    )
    normalisation: str = param(
        "conditional",
        "cosine, conditional (P(j | i), asymmetric), bm25 (BM25-weighted cosine) or count (plain recency-weighted co-purchase count)",
        valid=OneOf(*NORMALISATIONS),
        search=Choice(*NORMALISATIONS),
    )
    neighbours: int = param(
        50, "strongest neighbours kept per article", valid=Between(1, 1000), search=LogUniform(10, 300)
    )
    prior_buyers: float = param(
        5.0,
        "pseudo-buyers per article whose purchases follow the window's popularity: an article's neighbour "
        "weights are shrunk toward the popular articles by prior / (its buyers + prior), so a thinly bought "
        "article's neighbours count less and the customer's list continues with the popular ones (0: none)",
        valid=Between(0.0, 1e6),
    )


class ItemCF(Retriever):
    name = "itemcf"
    version = "3"
    summary = "Item-item co-purchase neighbours of the customer's recent articles (sparse matrices)"
    Params = ItemCFParams

    def fit(self, ctx: Context, run: RunSettings) -> None:
        p = self.params
        if p.normalisation not in NORMALISATIONS:
            raise InputError(f"-o normalisation={p.normalisation}: expected one of {', '.join(NORMALISATIONS)}")
        shape = (ctx.customers.height, ctx.articles.height)
        bought = interaction_matrix(ctx.history, ctx.week, *shape, p.window_days, p.half_life_days)
        support = np.asarray(bought.sum(axis=0)).ravel()
        shrink = p.prior_buyers / (support + p.prior_buyers) if p.prior_buyers > 0 else np.zeros_like(support)
        self.similar = keep_top_per_row(
            sp.diags((1 - shrink).astype(np.float32)) @ item_similarity(bought, p.normalisation), p.neighbours
        )
        self.shrink = shrink.astype(np.float32)  # each article's weight on the popularity prior
        active = max(int((np.diff(bought.indptr) > 0).sum()), 1)
        self.prior = (support / active).astype(np.float32)  # P(a customer of the window bought the article)
        self.recent = interaction_matrix(ctx.history, ctx.week, *shape, p.history_days, p.half_life_days)
        self.popular = recent_popularity(ctx.history, ctx.week)

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        rows = customers.cast(pl.Int64).to_numpy()
        recent = self.recent[rows]
        scores = (recent @ self.similar).tocsr()
        if self.params.prior_buyers > 0:
            scores = with_prior(scores, recent @ self.shrink, self.prior, k)
        return fill_cold(top_k_rows(scores, rows, k), customers, self.popular, k)


def with_prior(scores: sp.csr_matrix, weight: np.ndarray, prior: np.ndarray, k: int) -> sp.csr_matrix:
    """Scores plus each customer's prior weight times each article's prior, on the scored articles
    and on the k articles of highest prior (the rest of the catalogue cannot enter a top k)."""
    scores = scores.copy()
    scores.data += weight[np.repeat(np.arange(scores.shape[0]), np.diff(scores.indptr))] * prior[scores.indices]
    head = np.argsort(-prior, kind="stable")[:k]
    rows = np.flatnonzero(weight > 0)
    outer = sp.csr_matrix(
        (np.outer(weight[rows], prior[head]).ravel(), (np.repeat(rows, head.size), np.tile(head, rows.size))),
        shape=scores.shape,
    )
    return scores.maximum(outer).tocsr()


def item_similarity(bought: sp.csr_matrix, normalisation: str) -> sp.csr_matrix:
    """Articles x articles similarity from a customers x articles matrix; the diagonal is zero."""
    x = bm25(bought) if normalisation == "bm25" else bought
    co = (x.T @ x).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    if normalisation == "count":  # popular neighbours win: on small real logs this often beats every normalisation
        return co
    if normalisation == "conditional":
        support = np.asarray(bought.sum(axis=0)).ravel()
        inverse = np.divide(1.0, support, out=np.zeros_like(support), where=support > 0)
        return (sp.diags(inverse.astype(np.float32)) @ co).tocsr()
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    inverse = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0).astype(np.float32)
    return (sp.diags(inverse) @ co @ sp.diags(inverse)).tocsr()


def bm25(matrix: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """BM25 weights of a customers x articles matrix: saturating counts, long baskets shrunk,
    articles bought by everybody discounted (idf)."""
    x = matrix.tocoo()
    length = np.asarray(matrix.sum(axis=1)).ravel()
    average = length[length > 0].mean() if (length > 0).any() else 1.0
    buyers = np.bincount(x.col, minlength=matrix.shape[1])
    idf = np.log(matrix.shape[0] / (1.0 + buyers))
    tf = x.data * (k1 + 1) / (x.data + k1 * (1 - b + b * length[x.row] / average))
    return sp.csr_matrix(((tf * idf[x.col]).astype(np.float32), (x.row, x.col)), shape=matrix.shape)
