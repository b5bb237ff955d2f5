"""`din`: the Deep Interest Network ranker. Learns, from the labelled candidates of earlier weeks,
which of a customer's candidates they buy, attending over their recent purchases with the
candidate as the query; the newest training week picks the epoch (early stopping).

The model is in model.py, its inputs in inputs.py, training and scoring in
training.py (imported on first use: `hmrec plugins` must not load torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hmrec_cli.errors import InputError
from hmrec_cli.plugin_api import Ranker, RankingWeek, RunSettings


@dataclass(frozen=True)
class DINParams:
    history_length: int = field(default=32, metadata={"doc": "purchases of the customer's history the model attends over (most recent first)"})
    history: str = field(default="attention", metadata={"doc": "attention (DIN), mean (average of the history) or none (history-blind ablation)"})
    id_dim: int = field(default=32, metadata={"doc": "article id embedding size"})
    side_dim: int = field(default=8, metadata={"doc": "embedding size of each side feature (product type, colour, ..., customer fields)"})
    attention_hidden: int = field(default=36, metadata={"doc": "hidden units of the local activation unit"})
    hidden: str = field(default="200,80", metadata={"doc": "hidden layer widths of the scoring MLP"})
    epochs: int = field(default=8, metadata={"doc": "maximum training epochs"})
    patience: int = field(default=2, metadata={"doc": "stop after this many epochs without a better validation MAP@12"})
    batch_size: int = field(default=2048, metadata={"doc": "rows per training step"})
    learning_rate: float = field(default=0.002, metadata={"doc": "AdamW learning rate"})
    weight_decay: float = field(default=1e-4, metadata={"doc": "AdamW weight decay on everything but the article id embeddings"})
    l2_embedding: float = field(default=1e-5, metadata={"doc": "mini-batch-aware L2 on article id embeddings: each id a batch uses (candidate or history) over its frequency"})
    negatives: float = field(default=0.1, metadata={"doc": "share of negative rows kept for training (positives are all kept)"})
    loss: str = field(default="bce", metadata={"doc": "bce (pointwise) or listwise (softmax over each customer's candidates)"})
    valid_customers: int = field(default=5_000, metadata={"doc": "at most this many buyers of the newest training week score each epoch"})

    def __post_init__(self) -> None:
        """Refuse bad values when the options are parsed, before any source is fitted."""
        checks = {
            "history": (self.history in ("attention", "mean", "none"), "attention, mean or none"),
            "loss": (self.loss in ("bce", "listwise"), "bce or listwise"),
            "negatives": (0 < self.negatives <= 1, "a share in (0, 1]"),
            "hidden": (all(h.strip().isdigit() and int(h) > 0 for h in self.hidden.split(",")), "positive widths like 200,80"),
            "epochs": (self.epochs >= 1, "at least 1"),
            "patience": (self.patience >= 1, "at least 1"),
            "batch_size": (self.batch_size >= 2, "at least 2"),
            "valid_customers": (self.valid_customers >= 1, "at least 1"),
            "history_length": (self.history_length >= 1, "at least 1"),
            "learning_rate": (self.learning_rate > 0, "above 0"),
        }
        for name, (ok, expected) in checks.items():
            if not ok:
                raise InputError(f"-o {name}={getattr(self, name)}: expected {expected}")


class DINRanker(Ranker):
    name = "din"
    version = "1"
    summary = "Deep Interest Network: attention over purchase history, side features, source scores"
    Params = DINParams

    def fit(self, train: list[RankingWeek], run: RunSettings) -> dict:
        from hmrec_plugins.din.training import Trained

        self.trained = Trained(self.params)
        return self.trained.fit(train, run)

    def score(self, week: RankingWeek) -> np.ndarray:
        return self.trained.score(week)
