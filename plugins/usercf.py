"""`usercf`: customers who buy alike, and what they bought lately.

Customers are rows of recency-weighted, IDF-weighted purchase vectors, normalised to unit length;
a customer's neighbours are the customers with the largest cosine, found by exact sparse products
in chunks of customers. The score of an article is the similarity-weighted sum of the neighbours'
recent purchases of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from hmrec_cli.params import MAX_DAYS, Between, LogUniform, param
from hmrec_cli.plugin_api import Context, Retriever, RunSettings, fill_cold, recent_popularity
from hmrec_cli.toolkit.interactions import interaction_matrix, keep_top_per_row, top_k_rows

CHUNK = 1_000


@dataclass(frozen=True)
class UserCFParams:
    window_days: int = param(
        56,
        "days of history that describe a customer's taste (0: all)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(14, 365),
    )
    half_life_days: float = param(
        21.0,
        "a purchase's weight halves every this many days back (0: no decay)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(3.0, 120.0),
    )
    neighbours: int = param(
        50, "most similar customers kept per customer", valid=Between(1, 1000), search=LogUniform(10, 300)
    )
    recent_days: int = param(
        14,
        "the neighbours' purchases of these last days are recommended (0: all)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(7, 56),
    )


class UserCF(Retriever):
    name = "usercf"
    version = "1"
    summary = "Customer-customer cosine neighbours (sparse, chunked) and their recent purchases"
    Params = UserCFParams

    def fit(self, ctx: Context, run: RunSettings) -> None:
        p = self.params
        shape = (ctx.customers.height, ctx.articles.height)
        taste = interaction_matrix(ctx.history, ctx.week, *shape, p.window_days, p.half_life_days)
        buyers = np.bincount(taste.indices, minlength=shape[1])
        idf = np.log((1 + taste.shape[0]) / (1.0 + buyers)).astype(np.float32)
        weighted = (taste @ sp.diags(idf)).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        self.taste = (sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ weighted).tocsr()
        self.recent = interaction_matrix(ctx.history, ctx.week, *shape, p.recent_days, p.half_life_days)
        self.popular = recent_popularity(ctx.history, ctx.week)

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        ids = customers.cast(pl.Int64).to_numpy()
        transposed = self.taste.T.tocsr()
        parts = []
        for lo in range(0, ids.size, CHUNK):  # a chunk of customers at a time: bounded memory
            rows = ids[lo : lo + CHUNK]
            similar = (self.taste[rows] @ transposed).tocoo()
            others = similar.col != rows[similar.row]  # a customer is not their own neighbour
            similar = sp.csr_matrix(
                (similar.data[others], (similar.row[others], similar.col[others])), shape=similar.shape
            )
            near = keep_top_per_row(similar, self.params.neighbours)
            parts.append(top_k_rows((near @ self.recent).tocsr(), rows, k))
        return fill_cold(pl.concat(parts), customers, self.popular, k)
