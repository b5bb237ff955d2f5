"""Sparse customer x article matrices built from history, for the collaborative-filtering plugins.

Rows are customers and columns articles, both by their dense store indexes, so a matrix from any
history lines up with every other one. Values are recency weights: a purchase `d` days before the
week counts 0.5 ** (d / half_life), summed over a customer's purchases of the article.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from hmrec_cli.data.splits import Week, recent_history
from hmrec_cli.plugin_api import recency_weight


def interaction_matrix(
    history: pl.DataFrame, week: Week, n_customers: int, n_articles: int, window_days: int, half_life_days: float
) -> sp.csr_matrix:
    """Customers x articles CSR of recency-weighted purchase counts in the last `window_days`
    (0: all history). Shape (n_customers, n_articles), float32."""
    rows = recent_history(history, week, window_days) if window_days > 0 else history
    pairs = rows.group_by("customer", "article").agg(w=recency_weight(week, half_life_days).sum())
    matrix = sp.csr_matrix(
        (pairs["w"].to_numpy().astype(np.float32), (pairs["customer"].to_numpy(), pairs["article"].to_numpy())),
        shape=(n_customers, n_articles),
    )
    matrix.sum_duplicates()
    return matrix


def keep_top_per_row(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """The `n` largest entries of each row (ties by column), others dropped: a neighbour cap."""
    coo = matrix.tocoo()
    frame = pl.DataFrame({"row": coo.row, "col": coo.col, "value": coo.data})
    kept = (
        frame.sort(["row", "value", "col"], descending=[False, True, False])
        .group_by("row", maintain_order=True)
        .head(n)
    )
    return sp.csr_matrix(
        (kept["value"].to_numpy(), (kept["row"].to_numpy(), kept["col"].to_numpy())), shape=matrix.shape
    )


def top_k_rows(scores: sp.csr_matrix, customers: np.ndarray, k: int) -> pl.DataFrame:
    """Top k columns of each row of a sparse score matrix whose rows are `customers`:
    columns customer, article, score."""
    coo = scores.tocoo()
    frame = pl.DataFrame(
        {
            "customer": customers[coo.row].astype(np.uint32),
            "article": coo.col.astype(np.uint32),
            "score": coo.data.astype(np.float32),
        }
    )
    return (
        frame.sort(["customer", "score", "article"], descending=[False, True, False])
        .group_by("customer", maintain_order=True)
        .head(k)
    )
