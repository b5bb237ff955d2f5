"""`merge`: weighted reciprocal-rank fusion of the candidate sources (`hmrec_cli.toolkit.fusion`), the
baseline every learned ranker has to beat. score = sum over sources of weight / (c + rank + 1),
rank 0 = the source's best; a source that did not propose the article adds nothing. With `tune`
the weights and c are chosen by coordinate ascent on the training weeks' MAP@12 (never on the
target week), measured on a sample of the buyers whose purchases are among the candidates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmrec_cli.errors import InputError
from hmrec_cli.params import Between, LogUniform, Uniform, param
from hmrec_cli.plugin_api import Ranker, RankingWeek, RunSettings
from hmrec_cli.toolkit.fusion import PASSES, TUNE_CUSTOMERS, Fusion, tune


@dataclass(frozen=True)
class MergeParams:
    weights: str = param(
        "", "source=weight pairs, comma-separated (e.g. repurchase=2,popular=0.5); unnamed sources weigh 1"
    )
    c: float = param(
        10.0,
        "rank offset c in each source's 1 / (c + rank): small values trust its top ranks more",
        valid=Between(0, 10_000),
        search=LogUniform(1.0, 100.0),
    )
    tune: bool = param(True, "pick weights and c by coordinate ascent on the training weeks' MAP@12")
    passes: int = param(
        PASSES, "coordinate-ascent passes over the sources when tuning", valid=Between(0, 100), search=Uniform(1, 4)
    )
    tune_customers: int = param(
        TUNE_CUSTOMERS,
        "tune on at most this many buyers per week (those with a purchase among the candidates)",
        valid=Between(1, 10_000_000),
    )


class Merge(Ranker):
    name = "merge"
    version = "1"
    summary = "Weighted reciprocal-rank fusion of the sources (weights tuned on the training weeks)"
    Params = MergeParams

    def fit(self, train: list[RankingWeek], run: RunSettings) -> dict:
        self.fusion = Fusion(given_weights(self.params.weights, train[0].sources), self.params.c)
        if not self.params.tune:
            return {"weights": self.fusion.weights, "c": self.fusion.c}
        self.fusion, best = tune(
            train, self.fusion, run.seed, self.params.passes, self.params.tune_customers, run.on_progress
        )
        return {"weights": self.fusion.weights, "c": self.fusion.c, "training_map@12": best}

    def score(self, week: RankingWeek) -> np.ndarray:
        return self.fusion.score(week)


def given_weights(text: str, sources: tuple[str, ...]) -> dict[str, float]:
    """`-o weights=a=2,b=0.5` as a weight per source (1 for the unnamed ones)."""
    weights = {s: 1.0 for s in sources}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = item.partition("=")
        if name.strip() not in weights:
            raise InputError(f"-o weights: {name.strip()!r} is not one of the sources ({', '.join(sources)})")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"-o weights: {item!r} is not source=number") from None
    return weights
