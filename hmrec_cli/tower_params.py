"""The parameters every retriever built on the core's user tower shares (youtube-dnn,
sampled-softmax, hsoftmax): one vocabulary, declared once. No torch here: `hmrec plugins`
reads these without loading a model framework."""

from __future__ import annotations

from dataclasses import dataclass, field

from hmrec_cli.errors import InputError


@dataclass(frozen=True)
class TowerParams:
    weeks: int = field(default=8, metadata={"doc": "training weeks before the target week (each: buyers' history at its start -> what they bought in it)"})
    history_length: int = field(default=32, metadata={"doc": "most recent purchases the user tower reads"})
    pooling: str = field(default="mean", metadata={"doc": "mean (time-decayed average of the history) or attention (target-free attention pool)"})
    half_life_days: float = field(default=30.0, metadata={"doc": "pooling=mean: a purchase's weight halves every this many days back"})
    embedding_size: int = field(default=64, metadata={"doc": "size of article embeddings and of the user and item vectors"})
    side_dim: int = field(default=16, metadata={"doc": "embedding size of each customer (and article) side feature"})
    hidden: str = field(default="256", metadata={"doc": "hidden layer widths of the user tower's MLP (comma-separated)"})
    epochs: int = field(default=4, metadata={"doc": "passes over the training purchases"})
    batch_size: int = field(default=1024, metadata={"doc": "purchases per training step"})
    learning_rate: float = field(default=0.003, metadata={"doc": "AdamW learning rate"})
    weight_decay: float = field(default=1e-5, metadata={"doc": "AdamW weight decay"})
    sold_within_days: int = field(default=28, metadata={"doc": "only articles sold in the last this many days before the week are proposed (0: any)"})

    def __post_init__(self) -> None:
        """Refuse bad values when the options are parsed, before any work."""
        checks = {
            "weeks": (self.weeks >= 1, "at least 1"),
            "history_length": (self.history_length >= 1, "at least 1"),
            "pooling": (self.pooling in ("mean", "attention"), "mean or attention"),
            "half_life_days": (self.half_life_days > 0, "above 0"),
            "embedding_size": (self.embedding_size >= 1, "at least 1"),
            "side_dim": (self.side_dim >= 1, "at least 1"),
            "hidden": (all(h.strip().isdigit() and int(h) > 0 for h in self.hidden.split(",")), "positive widths like 256,128"),
            "epochs": (self.epochs >= 1, "at least 1"),
            "batch_size": (self.batch_size >= 2, "at least 2"),
            "learning_rate": (self.learning_rate > 0, "above 0"),
            "weight_decay": (self.weight_decay >= 0, "at least 0"),
            "sold_within_days": (self.sold_within_days >= 0, "at least 0"),
        }
        for name, (ok, expected) in checks.items():
            if not ok:
                raise InputError(f"-o {name}={getattr(self, name)}: expected {expected}")
