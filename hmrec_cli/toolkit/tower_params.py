"""The parameters every retriever built on the core's user tower shares (youtube-dnn,
sampled-softmax, hsoftmax): one vocabulary, declared once. No torch here: `hmrec plugins`
reads these without loading a model framework."""

from __future__ import annotations

from dataclasses import dataclass

from hmrec_cli.params import MAX_DAYS, Between, OneOf, Widths, param


@dataclass(frozen=True)
class TowerParams:
    weeks: int = param(
        8,
        "training weeks before the target week (each: buyers' history at its start -> what they bought in it)",
        valid=Between(1, 104),
    )
    min_purchases: int = param(
        100_000,
        "go back more weeks than `weeks` (up to the whole history) until the training weeks hold this many purchases: a small shop's 8 weeks are too few to learn article vectors from (0: exactly `weeks`)",
        valid=Between(0, 10**9),
    )
    history_length: int = param(32, "most recent purchases the user tower reads", valid=Between(1, 512))
    pooling: str = param(
        "mean",
        "mean (time-decayed average of the history) or attention (target-free attention pool)",
        valid=OneOf("mean", "attention"),
    )
    half_life_days: float = param(
        30.0,
        "pooling=mean: a purchase's weight halves every this many days back",
        valid=Between(0, MAX_DAYS, open_low=True),
    )
    embedding_size: int = param(
        64, "length of the article embeddings and of the user and item vectors", valid=Between(1, 1024)
    )
    side_embedding_size: int = param(
        16, "length of each customer (and article) side feature's embedding vector", valid=Between(1, 512)
    )
    hidden: str = param("256", "widths of the user tower's MLP hidden layers (units, comma-separated)", valid=Widths())
    epochs: int = param(4, "passes over the training purchases", valid=Between(1, 1000))
    batch_size: int = param(1024, "purchases per training step, at most (see min_steps)", valid=Between(2, 1_000_000))
    min_steps: int = param(
        100,
        "optimiser steps per epoch at least: with fewer than batch_size x min_steps training purchases the batches shrink (to 16 at least) so an epoch still takes this many steps (0: always batch_size)",
        valid=Between(0, 1_000_000),
    )
    learning_rate: float = param(0.003, "AdamW learning rate", valid=Between(0, 1, open_low=True))
    weight_decay: float = param(1e-5, "AdamW weight decay", valid=Between(0, 10))
    sold_within_days: int = param(
        28,
        "only articles sold in the last this many days before the week are proposed (0: any)",
        valid=Between(0, MAX_DAYS),
    )
