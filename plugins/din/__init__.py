"""`din`: the Deep Interest Network ranker. Learns, from the labelled candidates of earlier weeks,
which of a customer's candidates they buy, attending over their recent purchases with the
candidate as the query; half the newest training week's buyers pick the epoch (early stopping). It
starts from merge's order (the sources' fusion tuned on the training weeks, as `merge` tunes it) and
keeps what it learned only when that clearly beats merge's order on the newest week's other half (on
the earlier training weeks too, each by a network fitted on the weeks before it, where the newest
has too few buyers to tell: `fusion.rolling_weeks`).

The model is in model.py, its inputs in inputs.py, training and scoring in
training.py (imported on first use: `hmrec plugins` must not load torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.params import Between, LogUniform, OneOf, Widths, param
from hmrec_cli.plugin_api import Ranker, RankingWeek, RunSettings
from hmrec_cli.toolkit.fusion import scored_top


@dataclass(frozen=True)
class DINParams:
    history_length: int = param(
        32,
        "purchases of the customer's history the model attends over (most recent first)",
        valid=Between(1, 512),
        search=LogUniform(8, 64),
    )
    history: str = param(
        "attention",
        "attention (DIN), mean (average of the history) or none (history-blind ablation)",
        valid=OneOf("attention", "mean", "none"),
    )
    embedding_size: int = param(
        32, "length of each article id's embedding vector", valid=Between(1, 1024), search=LogUniform(8, 64)
    )
    side_embedding_size: int = param(
        8,
        "length of each side feature's embedding vector (product type, colour, ..., customer fields)",
        valid=Between(1, 512),
    )
    attention_hidden: int = param(
        36, "hidden units of the local activation unit (the attention's scoring MLP)", valid=Between(1, 1024)
    )
    hidden: str = param("200,80", "widths of the scoring MLP's hidden layers (units, comma-separated)", valid=Widths())
    epochs: int = param(8, "most passes over the training rows (early stopping may end sooner)", valid=Between(1, 1000))
    patience: int = param(2, "stop after this many epochs without a better validation MAP@12", valid=Between(1, 1000))
    batch_size: int = param(2048, "rows per training step", valid=Between(2, 1_000_000))
    learning_rate: float = param(
        0.002, "AdamW learning rate", valid=Between(0, 1, open_low=True), search=LogUniform(0.0003, 0.01)
    )
    weight_decay: float = param(
        1e-4,
        "AdamW weight decay on everything but the article id embeddings, at regularisation_rows training rows or more",
        valid=Between(0, 10),
        search=LogUniform(1e-06, 0.01),
    )
    regularisation_rows: int = param(
        500_000,
        "below this many training rows weight decay grows as regularisation_rows / rows (0: never)",
        valid=Between(0, 10**10),
    )
    wide: bool = param(
        True, "wide & deep: a linear part over the dense features beside the network, whose output starts at zero"
    )
    dense_clip: float = param(
        3.0,
        "clip each dense feature, standardised on the training rows, to +-this many standard deviations (0: no clip)",
        valid=Between(0, 1000),
    )
    reg: float = param(
        1e-5,
        "mini-batch-aware L2 on article id embeddings: each id a batch uses (candidate or history) over its frequency",
        valid=Between(0, 100),
    )
    negative_share: float = param(
        0.1,
        "share of negative rows kept for training (positives are all kept)",
        valid=Between(0, 1, open_low=True),
        search=LogUniform(0.05, 0.5),
    )
    loss: str = param(
        "bce", "bce (pointwise) or listwise (softmax over each customer's candidates)", valid=OneOf("bce", "listwise")
    )
    prior_weight: float = param(
        1.0,
        "weight of merge's order (tuned fusion, -log(1 + position)) added to every logit; 0 = learn from scratch",
        valid=Between(0, 100),
    )
    min_gain_se: float = param(
        2.0,
        "keep the trained network only when it beats merge's order on the held-out training weeks (the newest; the earlier ones too where it is small) by this many standard errors of the per-buyer difference, measured on the half of the buyers that did not pick the epoch",
        valid=Between(0, 100),
    )
    valid_customers: int = param(
        5_000,
        "at most this many buyers of the newest training week with a purchase among their candidates in each half: one half scores each epoch, the other measures the gain (the others score 0 in any order)",
        valid=Between(1, 10_000_000),
    )
    score_top: int = param(
        0,
        "score with the network only each customer's first N candidates in merge's order, the rest follow in that order (a full-scale submission's 410M rows, 3x fewer at N=100); 0 = all",
        valid=Between(0, 1_000_000),
    )


class DINRanker(Ranker):
    name = "din"
    version = "9"
    summary = "Deep Interest Network: attention over purchase history, side features, source scores"
    Params = DINParams
    uses_device = True

    def fit(self, train: list[RankingWeek], run: RunSettings) -> dict:
        from hmrec_plugins.din.training import Trained

        self.trained = Trained(self.params)
        return self.trained.fit(train, run)

    def score(self, week: RankingWeek) -> np.ndarray:
        if self.params.score_top == 0 or self.trained.prior_only:
            return self.trained.score(week)
        prior = self.trained.fusion.prior(week)
        return scored_top(week, prior, self.params.score_top, lambda top_week, _: self.trained.score(top_week))

    def merge_scores(self, week: RankingWeek) -> np.ndarray | None:
        return self.trained.fusion.score(week) if self.params.prior_weight > 0 else None

    def restore(self, week: RankingWeek, log: dict, checkpoint: Path) -> bool:
        from hmrec_plugins.din.training import Trained

        self.trained = Trained(self.params)
        self.trained.restore(week, log, checkpoint)
        return True

    def history_weights(self, week: RankingWeek) -> pl.DataFrame | None:
        return self.trained.history_weights(week)
