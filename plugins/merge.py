"""`merge`: weighted reciprocal-rank fusion of the candidate sources, the baseline every learned
ranker has to beat. score = sum over sources of weight / (c + rank + 1), rank 0 = the source's best;
a source that did not propose the article adds nothing. With `tune` the weights and c are chosen
by coordinate ascent on the training weeks' MAP@12 (never on the target week), measured on a
sample of the buyers whose purchases are among the candidates (the others score 0 in any order)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from hmrec_cli.errors import InputError
from hmrec_cli.metrics import map_of_scores
from hmrec_cli.plugin_api import Ranker, RankingWeek, RunSettings

WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
C_GRID = (0.0, 2.0, 10.0, 60.0)


@dataclass(frozen=True)
class MergeParams:
    weights: str = field(default="", metadata={"doc": "source=weight pairs, comma-separated (e.g. repurchase=2,popular=0.5); unnamed sources weigh 1"})
    c: float = field(default=10.0, metadata={"doc": "rank offset: small values trust each source's top ranks more", "valid": (0, None)})
    tune: bool = field(default=True, metadata={"doc": "pick weights and c by coordinate ascent on the training weeks' MAP@12"})
    passes: int = field(default=2, metadata={"doc": "coordinate-ascent passes over the sources when tuning", "valid": (0, None)})
    tune_customers: int = field(default=20_000, metadata={"doc": "tune on at most this many buyers per week (those with a purchase among the candidates)", "valid": (1, None)})


class Merge(Ranker):
    name = "merge"
    version = "1"
    summary = "Weighted reciprocal-rank fusion of the sources (weights tuned on the training weeks)"
    Params = MergeParams

    def fit(self, train: list[RankingWeek], run: RunSettings) -> dict:
        sources = train[0].sources
        self.weights = self._given_weights(sources)
        self.c = self.params.c
        if not self.params.tune:
            return {"weights": self.weights, "c": self.c}
        rng = np.random.default_rng(run.seed)
        weeks = [self._tuning_rows(week, rng) for week in train]

        def figure(weights: dict[str, float], c: float) -> float:
            """Training MAP@12: mean AP of the sampled buyers with a purchase among the candidates,
            times their share of all buyers (the others score 0 whatever the order)."""
            return float(np.mean([share * map_of_scores(rows, _fuse(ranks, [weights[s] for s in sources], c, k)) for rows, ranks, share, k in weeks]))

        best = figure(self.weights, self.c)
        for p in range(self.params.passes):
            run.on_progress(f"tuning merge, pass {p + 1}/{self.params.passes}", p, self.params.passes)
            for source in sources:
                for value in WEIGHT_GRID:
                    trial = {**self.weights, source: value}
                    if trial != self.weights and any(trial.values()) and (got := figure(trial, self.c)) > best:
                        best, self.weights = got, trial
            for c in C_GRID:
                if c != self.c and (got := figure(self.weights, c)) > best:
                    best, self.c = got, c
        return {"weights": self.weights, "c": self.c, "training_map@12": best}

    def _given_weights(self, sources: tuple[str, ...]) -> dict[str, float]:
        weights = {s: 1.0 for s in sources}
        for item in filter(None, (p.strip() for p in self.params.weights.split(","))):
            name, _, value = item.partition("=")
            if name.strip() not in weights:
                raise InputError(f"-o weights: {name.strip()!r} is not one of the sources ({', '.join(sources)})")
            try:
                weights[name.strip()] = float(value)
            except ValueError:
                raise InputError(f"-o weights: {item!r} is not source=number") from None
        return weights

    def _tuning_rows(self, week: RankingWeek, rng) -> tuple[pl.DataFrame, np.ndarray, float, int]:
        """Candidates of at most `tune_customers` buyers with a purchase among them, their ranks,
        and those buyers' share of all the week's buyers."""
        cands = week.candidates
        hit = cands.filter(pl.col("label") > 0)["customer"].unique().sort().to_numpy()
        share = hit.size / max(week.buyers or cands["customer"].n_unique(), 1)  # sampled weeks list only hit customers
        if hit.size > self.params.tune_customers:
            hit = np.sort(rng.choice(hit, self.params.tune_customers, replace=False))
        rows = cands.filter(pl.col("customer").is_in(pl.Series(hit).implode()))
        return rows, _ranks(rows, week.sources), share, week.k

    def score(self, week: RankingWeek) -> np.ndarray:
        return _fuse(_ranks(week.candidates, week.sources), [self.weights[s] for s in week.sources], self.c, week.k)


def _ranks(candidates: pl.DataFrame, sources: tuple[str, ...]) -> np.ndarray:
    return candidates.select(f"{s}_rank" for s in sources).to_numpy().astype(np.float32)


def _fuse(ranks: np.ndarray, weights: list[float], c: float, k: int) -> np.ndarray:
    """sum_s w_s / (c + rank_s + 1) over the sources that proposed the article (rank < k)."""
    contribution = np.where(ranks < k, 1.0 / (c + ranks + 1.0), 0.0)
    return contribution @ np.asarray(weights, dtype=np.float64)
