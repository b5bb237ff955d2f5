"""`lgbm`: LightGBM lambdarank over the shared candidate feature table (`hmrec_cli.toolkit.candidate_features`),
the ranker most winning H&M Kaggle solutions used. One query = one customer's candidates in one
week; it learns from the older training weeks and the newest one picks the number of trees (early
stopping on its MAP@12), so the week it ranks is never seen.

Boosting starts from merge's order: the sources' reciprocal-rank fusion, tuned on the training
weeks exactly as `merge` tunes it, enters as each row's initial score (`hmrec_cli.toolkit.fusion.prior`),
so the trees only learn corrections to it, and when they do not clearly beat it on the newest
training week none are kept (`fusion`'s gate, cross-fitted: the week's buyers are split in two by
customer, and each half is judged by the number of trees the other half's MAP@12 picked, so no
buyer judges trees it chose): with few purchases to learn from, lgbm ranks as merge does. Where that
week has too few buyers to tell (`fusion.rolling_weeks`), the earlier training weeks validate too,
each by trees boosted on the weeks before it, and the decision pools their buyers. Trees that are
kept are then boosted again on every training week, the newest too (`refit`), as many as the
newest week picked, scaled by the weeks: what sells next week is likeliest in the newest one. Only
where that week has `refit_buyers` buyers with a purchase among their candidates: on fewer, the
number of trees early stopping picks is too noisy to scale, and boosting on them overfits
(MovieLens, Groceries in docs/results.md).
LightGBM is imported on first use (`hmrec plugins` stays light)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from hmrec_cli import console
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import K, ManyOrders
from hmrec_cli.params import Between, Choice, LogUniform, Uniform, param
from hmrec_cli.plugin_api import Ranker, RankingWeek, RunSettings
from hmrec_cli.toolkit.candidate_features import candidate_features, dense_names
from hmrec_cli.toolkit.features import WeekActivity
from hmrec_cli.toolkit.fusion import (
    Fusion,
    ap_differences,
    halves_with_a_hit,
    pooled_gain,
    scored_top,
    tune,
)

FEW_POSITIVES = 300  # below this a learned ranker is mostly noise; say so


@dataclass(frozen=True)
class Validation:
    """A held-out labelled week: its feature table (dense, labels, query sizes, merge's order), its
    buyers ready to score many orders, and their share of all the week's buyers."""

    table: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    orders: ManyOrders
    share: float

    @property
    def merge_order(self) -> np.ndarray:
        """Each row's starting score: merge's order, which the trees correct."""
        return self.table[3]

    def gains(self, scores: np.ndarray) -> np.ndarray:
        """Per-buyer AP@12 of `scores` minus that of merge's order."""
        return ap_differences(self.orders, self.merge_order, scores)

    def map(self, scores: np.ndarray) -> float:
        """The week's MAP@12 as these buyers estimate it (the others score 0 in any order)."""
        return self.share * self.orders.map(scores)


@dataclass(frozen=True)
class HeldOut:
    """A labelled week kept out of boosting, its buyers in two halves by customer. Boosting stops
    on both together; each half then judges the number of trees the other half picked."""

    halves: tuple[Validation, Validation]

    @property
    def buyers(self) -> tuple[int, int]:
        return self.halves[0].orders.customers, self.halves[1].orders.customers

    def map(self, scores: tuple[np.ndarray, np.ndarray]) -> float:
        """The week's MAP@12 as both halves estimate it, from each half's scores."""
        return float(np.average([h.map(s) for h, s in zip(self.halves, scores, strict=True)], weights=self.buyers))

    def cross_fitted(self, scores_with: Callable[[Validation, int], np.ndarray], picks: tuple[int, int]) -> np.ndarray:
        """Per-buyer gains over merge's order, each half's buyers scored (`scores_with(half, trees)`)
        with the number of trees the other half picked."""
        a, b = self.halves
        return np.concatenate([a.gains(scores_with(a, picks[1])), b.gains(scores_with(b, picks[0]))])


class StopOnBoth:
    """LightGBM early stopping on both halves of a held-out week (their buyers' mean MAP@12, as one
    validation set of all of them would stop), keeping each half's own curve so that each half's
    best number of trees is known too."""

    def __init__(self, buyers: tuple[int, int], patience: int):
        from lightgbm.callback import EarlyStopException  # LightGBM loads on first use, not with the plugin

        self.weights, self.patience = np.asarray(buyers, dtype=np.float64) / sum(buyers), patience
        self.curves: list[list[float]] = []
        self.best = (-np.inf, 0)
        self._stop = EarlyStopException

    def __call__(self, env) -> None:
        scores = [result[2] for result in env.evaluation_result_list]  # (dataset, metric, value, bigger is better)
        self.curves.append(scores)
        both = float(self.weights @ scores)
        if both > self.best[0]:
            self.best = (both, env.iteration)
        if env.iteration - self.best[1] >= self.patience or env.iteration == env.end_iteration - 1:
            raise self._stop(self.best[1], env.evaluation_result_list)

    @property
    def picks(self) -> tuple[int, int]:
        """Each half's own best number of trees (its first best, as early stopping keeps)."""
        curves = np.asarray(self.curves)
        return int(np.argmax(curves[:, 0])) + 1, int(np.argmax(curves[:, 1])) + 1


@dataclass(frozen=True)
class LGBMParams:
    trees: int = param(
        400,
        "maximum boosting rounds (early stopping on the newest training week picks fewer)",
        valid=Between(1, 100_000),
    )
    learning_rate: float = param(
        0.05,
        "shrinkage applied to each tree's leaf values",
        valid=Between(0, 1, open_low=True),
        search=LogUniform(0.01, 0.2),
    )
    leaves: int = param(
        0,
        "leaves per tree; 0 = scaled to the training purchases (purchases / 20, between 4 and 63)",
        valid=Between(0, 131_072),
        search=LogUniform(4, 63),
    )
    min_data_in_leaf: int = param(
        0,
        "rows a leaf needs; 0 = scaled to the training rows (rows / 2000, between 20 and 200)",
        valid=Between(0, 10_000_000),
        search=LogUniform(20, 400),
    )
    feature_fraction: float = param(
        0.8, "share of features each tree may use", valid=Between(0, 1, open_low=True), search=Uniform(0.4, 1.0)
    )
    bagging_fraction: float = param(
        0.8, "share of rows each tree sees (drawn with the seed)", valid=Between(0, 1, open_low=True)
    )
    lambda_l2: float = param(
        1.0, "L2 regularisation of leaf values", valid=Between(0, 10_000), search=LogUniform(0.01, 10.0)
    )
    negative_share: float = param(
        1.0,
        "share of negative rows kept for training (positives are all kept)",
        valid=Between(0, 1, open_low=True),
        search=LogUniform(0.1, 1.0),
    )
    patience: int = param(
        30, "stop after this many rounds without a better validation MAP@12", valid=Between(1, 100_000)
    )
    valid_customers: int = param(
        20_000,
        "at most this many buyers of the newest training week with a purchase among their candidates validate, in each of the two halves the gate cross-fits (the others score 0 in any order)",
        valid=Between(1, 10_000_000),
    )
    prior_weight: float = param(
        1.0,
        "weight of merge's order (tuned fusion, -log(1 + position)) as the starting score; 0 = boost from scratch",
        valid=Between(0, 100),
    )
    min_gain_se: float = param(
        2.0,
        "keep the trees only when they beat merge's order on the held-out training weeks (the newest; the earlier ones too where it is small) by this many standard errors of the per-buyer difference, each half of the buyers scored with the number of trees the other half picked",
        valid=Between(0, 100),
    )
    threads: int = param(
        0, "LightGBM threads (0 = its default); results are deterministic for a given count", valid=Between(0, 1024)
    )
    score_top: int = param(
        0,
        "score with the trees only each customer's first this many candidates in merge's order, the rest following in that order (0: all)",
        valid=Between(0, 1_000_000),
    )

    refit: bool = param(
        True,
        "once the newest training week has picked the number of trees and shown their gain, boost again on every training week, the newest too, with that number scaled by the weeks (where that week has refit_buyers buyers with a purchase among their candidates)",
        search=Choice(False, True),
    )
    refit_buyers: int = param(
        2_000,
        "refit only when the newest training week has at least this many buyers with a purchase among their candidates (on fewer, the number of trees it picks is too noisy to scale)",
        valid=Between(1, 10_000_000),
    )

    def __post_init__(self) -> None:
        """A tree needs two leaves; 0 means scaled, beyond what a declared range can say."""
        if self.leaves == 1:
            raise InputError("-o leaves=1: lgbm's leaves must be 0 (scaled to the data) or 2 or more")


class LGBMRanker(Ranker):
    name = "lgbm"
    version = "9"
    summary = "LightGBM lambdarank over the shared candidate features (early stopping on the newest training week)"
    Params = LGBMParams

    def fit(self, train: list[RankingWeek], run: RunSettings) -> dict:
        p = self.params
        self._week_activity = WeekActivity()
        self.fusion = Fusion({s: 1.0 for s in train[0].sources}, 10.0)
        if p.prior_weight > 0:  # the same fusion `merge` would fit on these weeks
            self.fusion, _ = tune(train, self.fusion, run.seed, on_progress=run.on_progress)
        train = [
            replace(w, candidates=w.candidates.with_columns(prior=pl.Series(self._prior(w)))) for w in train
        ]  # keeps negative_share and buyers
        rng = np.random.default_rng(run.seed)
        tables = []
        for i, week in enumerate(train[:-1] if len(train) > 1 else train):
            run.on_progress(f"features {week.ctx.week.start}", i, len(train))
            tables.append(self._table(self._sampled(week, rng), week))
        label = np.concatenate([y for _, y, _, _ in tables])
        positives = int(label.sum())
        if positives == 0:
            raise InputError(
                "no training week has a buyer whose purchase is among the candidates; add --train-weeks or sources"
            )
        if positives < FEW_POSITIVES:
            console.warn(
                f"lgbm: only {positives} purchases among the training candidates; a learned ranker needs thousands (it keeps merge's order unless training clearly beats it on the held-out training weeks)"
            )
        self.names = dense_names(train[0].sources)
        leaf = p.min_data_in_leaf or int(np.clip(label.size // 2000, 20, 200))
        leaves = p.leaves or int(np.clip(positives // 20, 4, 63))
        settings = {
            "objective": "lambdarank",
            "metric": "map",
            "eval_at": [K],
            "learning_rate": p.learning_rate,
            "num_leaves": leaves,
            "min_data_in_leaf": leaf,
            "feature_fraction": p.feature_fraction,
            "bagging_fraction": p.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": p.lambda_l2,
            "seed": run.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
            "lambdarank_truncation_level": 2 * K,
            "num_threads": p.threads,
        }
        held = self._held_out(train[-1], rng) if len(train) > 1 else None
        self.booster, self.best, picks = self._boost(settings, tables, held, run)
        log = {"fusion": {"weights": self.fusion.weights, "c": self.fusion.c, "prior_weight": p.prior_weight}}
        if held is not None:
            log["validation"] = (
                "MAP@12 of the newest training week's buyers (picks the number of trees; 0 = merge's order)"
            )
            log["best"] = held.map(tuple(self._predicted(self.booster, h, self.best) for h in held.halves))
            log["start"] = held.map(tuple(h.merge_order for h in held.halves))
            log["picks"] = picks
            if p.prior_weight > 0:

                def earlier(j: int) -> np.ndarray | None:
                    week = self._held_out(train[j], rng)
                    if week is None:
                        return None
                    booster, _, own = self._boost(settings, tables[:j], week, run)
                    return week.cross_fitted(lambda half, trees: self._predicted(booster, half, trees), own)

                newest = held.cross_fitted(lambda half, trees: self._predicted(self.booster, half, trees), picks)
                clear, log["gain"] = pooled_gain(newest, train, p.min_gain_se, earlier, run.on_progress)
                if not clear:  # the trees do not clearly help: keep merge's order
                    self.best, log["best"] = 0, log["start"]
        elif len(train) > 1 and p.prior_weight > 0:  # no buyers of the newest week to check a gain on
            self.best, log["gain"] = (
                0,
                "none measurable (the newest training week has no buyer with a purchase among the candidates in one of its halves): merge's order",
            )
        if p.refit and self.best and held is not None:  # the newest week holds next week's trends best
            log["refit"] = self._refit(settings, tables, held, run)
        importance = (
            self.booster.feature_importance("gain", iteration=self.best) if self.best else np.zeros(len(self.names))
        )
        gain_share = importance / max(importance.sum(), 1e-12)
        return {
            **log,
            "trees": self.best,
            "training_rows": int(label.size),
            "positives": positives,
            "queries": int(sum(g.size for _, _, g, _ in tables)),
            "min_data_in_leaf": leaf,
            "leaves": leaves,
            "feature_importance": {
                n: round(float(s), 4) for n, s in sorted(zip(self.names, gain_share, strict=True), key=lambda t: -t[1])
            },
        }

    def _refit(self, settings: dict, tables: list, held: HeldOut, run: RunSettings) -> str:
        """Boost the kept number of trees again on every training week, the newest (both halves)
        too, scaled by the weeks, where the newest week has `refit_buyers` buyers; what was done,
        for the fit's log."""
        if (buyers := sum(held.buyers)) < self.params.refit_buyers:
            return f"none: the newest training week's {buyers} buyers with a purchase among their candidates are fewer than refit_buyers={self.params.refit_buyers}"
        rounds = max(1, round(self.best * (len(tables) + 1) / len(tables)))
        every = [*tables, *(h.table for h in held.halves)]
        self.booster, self.best, _ = self._boost(settings, every, None, run, rounds)
        return f"{self.best} trees boosted again on all {len(tables) + 1} training weeks, the newest too"

    def _held_out(self, week: RankingWeek, rng) -> HeldOut | None:
        """A labelled week's buyers with a purchase among their candidates, in two halves by
        customer (boosting stops on both; each judges the trees the other picked); None when either
        half has none."""
        if (split := halves_with_a_hit(week, self.params.valid_customers, rng)) is None:
            return None
        halves, share = split
        return HeldOut(
            tuple(
                Validation(self._table(rows, week), ManyOrders(rows, negative_share=week.negative_share), share)
                for rows in halves
            )
        )

    def _boost(self, settings: dict, tables: list, held: HeldOut | None, run: RunSettings, rounds: int = 0):
        """Boost on the training `tables` from merge's order, stopping early on `held` (or for
        exactly `rounds` trees): the booster, its number of trees and (with `held`) each half's own
        best number of trees."""
        import lightgbm as lgb

        p = self.params
        data = lgb.Dataset(
            np.concatenate([x for x, _, _, _ in tables]),
            np.concatenate([y for _, y, _, _ in tables]),
            group=np.concatenate([g for _, _, g, _ in tables]),
            init_score=np.concatenate([s for _, _, _, s in tables]),
            feature_name=self.names,
            free_raw_data=True,
        )
        evals, callbacks, stop = [], [], None
        if held is not None:
            evals = [
                lgb.Dataset(x, y, group=g, init_score=s, reference=data)
                for x, y, g, s in (h.table for h in held.halves)
            ]
            stop = StopOnBoth(held.buyers, p.patience)
            callbacks = [stop]
        callbacks.append(
            lambda env: run.on_progress(f"boosting round {env.iteration + 1}/{p.trees}", env.iteration + 1, p.trees)
        )
        rounds = rounds or p.trees
        booster = lgb.train(settings, data, num_boost_round=rounds, valid_sets=evals, callbacks=callbacks)
        if stop is None:
            return booster, rounds, None
        return booster, booster.best_iteration, stop.picks

    @staticmethod
    def _predicted(booster, valid: Validation, trees: int) -> np.ndarray:
        """Scores of the held-out rows: merge's order plus the first `trees` trees."""
        x, _, _, start = valid.table
        return start + booster.predict(x, num_iteration=trees)

    def merge_scores(self, week: RankingWeek) -> np.ndarray | None:
        return self.fusion.score(week) if self.params.prior_weight > 0 else None

    def _prior(self, week: RankingWeek) -> np.ndarray:
        """Each candidate's starting score: merge's order, weighted (zeros when prior_weight is 0)."""
        if self.params.prior_weight == 0:
            return np.zeros(week.candidates.height)
        return self.params.prior_weight * self.fusion.prior(week)

    def _table(
        self, candidates: pl.DataFrame, week: RankingWeek
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense features, labels, query sizes (rows are sorted by customer, so each customer's
        candidates are one consecutive query) and starting scores (the `prior` column)."""
        features = candidate_features(RankingWeek(week.ctx, candidates, week.sources, week.k))
        sizes = candidates.group_by("customer", maintain_order=True).len()["len"].to_numpy()
        return features.dense, candidates["label"].cast(pl.Int32).to_numpy(), sizes, candidates["prior"].to_numpy()

    def _sampled(self, week: RankingWeek, rng) -> pl.DataFrame:
        """Customers with a purchase among their candidates (a query without one teaches a
        ranker nothing): all positives, a `negative_share` of the negatives."""
        candidates = week.candidates
        share = min(self.params.negative_share / week.negative_share, 1.0)  # `hmrec rank` may have sampled already
        draw = pl.Series(rng.random(candidates.height) < share)
        positive = pl.col("label") > 0
        return candidates.filter(positive.any().over("customer") & (positive | draw))

    def score(self, week: RankingWeek) -> np.ndarray:
        activity = self._week_activity(week.ctx)
        start = self._prior(week)
        if self.best == 0:
            return start.astype(np.float32)
        if self.params.score_top == 0:
            return (start + self._trees(week, activity)).astype(np.float32)
        return scored_top(
            week,
            self.fusion.prior(week),
            self.params.score_top,
            lambda top_week, top: start[top] + self._trees(top_week, activity),
        )

    def _trees(self, week: RankingWeek, activity) -> np.ndarray:
        return self.booster.predict(candidate_features(week, activity).dense, num_iteration=self.best)
