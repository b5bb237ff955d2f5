"""`als` and `bpr`: matrix factorisation with `implicit` on recency-weighted purchase counts.

The customers x articles matrix (confidence = recency-weighted counts in a window) is factorised;
a customer's candidates are the articles with the largest inner product with their vector,
found exactly (default) or through an annoy index (`-o search=annoy`). BLAS threads are limited
to one around `implicit`, as its documentation advises, inside `fit` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hmrec_cli.errors import InputError
from hmrec_cli.params import MAX_DAYS, Between, LogUniform, OneOf, param
from hmrec_cli.plugin_api import Context, Retriever, RunSettings, fill_cold, recent_popularity
from hmrec_cli.toolkit.ann import AnnIndex, exact_top_k
from hmrec_cli.toolkit.interactions import interaction_matrix


@dataclass(frozen=True)
class FactorisationParams:
    embedding_size: int = param(
        64, "factors per customer and article", valid=Between(1, 1024), search=LogUniform(16, 256)
    )
    epochs: int = param(
        15,
        "passes over the interaction matrix (als: alternating sweeps, bpr: SGD epochs)",
        valid=Between(1, 1000),
        search=LogUniform(5, 50),
    )
    reg: float = param(
        0.01,
        "L2 regularisation of the customer and article factors",
        valid=Between(0, 100),
        search=LogUniform(0.0001, 1.0),
    )
    learning_rate: float = param(
        0.01, "SGD step size (bpr only)", valid=Between(0, 1, open_low=True), search=LogUniform(0.001, 0.1)
    )
    alpha: float = param(
        10.0, "confidence = 1 + alpha * weight (als only)", valid=Between(0, 10_000), search=LogUniform(1.0, 100.0)
    )
    window_days: int = param(
        182, "days of history in the matrix (0: all)", valid=Between(0, MAX_DAYS), search=LogUniform(28, 365)
    )
    half_life_days: float = param(
        60.0,
        "a purchase's weight halves every this many days back (0: no decay)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(7.0, 180.0),
    )
    search: str = param("exact", "exact (brute force) or annoy (approximate index)", valid=OneOf("exact", "annoy"))
    trees: int = param(
        50, "trees of the annoy index (search=annoy): more find neighbours better, build slower", valid=Between(1, 1000)
    )


class _Factorisation(Retriever):
    Params = FactorisationParams

    def _model_maker(self):
        """A function seed -> an untrained implicit model with this plugin's parameters."""
        raise NotImplementedError

    def fit(self, ctx: Context, run: RunSettings) -> None:
        from threadpoolctl import threadpool_limits

        p = self.params
        if p.search not in ("exact", "annoy"):
            raise InputError(f"-o search={p.search}: expected exact or annoy")
        n_customers, n_articles = ctx.customers.height, ctx.articles.height
        weights = interaction_matrix(ctx.history, ctx.week, n_customers, n_articles, p.window_days, p.half_life_days)
        self.active = np.asarray(weights.getnnz(axis=1)).ravel() > 0
        make_model = self._model_maker()  # import implicit (and its BLAS) before limiting the threads
        with threadpool_limits(limits=1, user_api="blas"):  # implicit checks this when a model is made
            model = make_model(run.seed)
            model.fit(self._confidence(weights), show_progress=False)
        users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)
        if users.shape[0] != n_customers or items.shape[0] != n_articles:  # orientation guard at the implicit boundary
            raise RuntimeError(
                f"{self.name}: factors {users.shape} x {items.shape}, expected {n_customers} customers x {n_articles} articles"
            )
        self.users, self.items = users, items
        self.index = AnnIndex.build(items, p.trees, seed=run.seed) if p.search == "annoy" else None
        self.popular = recent_popularity(ctx.history, ctx.week)

    def _confidence(self, weights):
        return weights

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        ids = customers.cast(pl.Int64).to_numpy()
        warm = ids[self.active[ids]]
        if self.index is None:
            found = exact_top_k(self.users[warm], self.items, warm, k)
        else:
            found = self.index.top_k(self.users[warm], warm, k)
        return fill_cold(found, customers, self.popular, k)


class ALS(_Factorisation):
    name = "als"
    version = "1"
    summary = "Alternating least squares (implicit) on recency-weighted counts; exact or annoy search"

    def _model_maker(self):
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        return lambda seed: AlternatingLeastSquares(
            factors=p.embedding_size, regularization=p.reg, iterations=p.epochs, random_state=seed
        )

    def _confidence(self, weights):
        return (weights * self.params.alpha).tocsr()


class BPR(_Factorisation):
    name = "bpr"
    version = "1"
    summary = "Bayesian personalised ranking (implicit); exact or annoy search"

    def _model_maker(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        p = self.params
        # one thread: implicit's multi-threaded BPR updates race (Hogwild), which breaks determinism per seed
        return lambda seed: BayesianPersonalizedRanking(
            factors=p.embedding_size,
            learning_rate=p.learning_rate,
            regularization=p.reg,
            iterations=p.epochs,
            num_threads=1,
            random_state=seed,
        )
