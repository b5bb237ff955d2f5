"""The parameters every retriever built on the core's user tower shares (youtube-dnn,
sampled-softmax, hsoftmax): one vocabulary, declared once. No torch here: `hmrec plugins`
reads these without loading a model framework."""

from __future__ import annotations

from dataclasses import dataclass, field

from hmrec_cli.plugin_api import MAX_DAYS, WIDTHS


@dataclass(frozen=True)
class TowerParams:
    weeks: int = field(
        default=8,
        metadata={
            "doc": "training weeks before the target week (each: buyers' history at its start -> what they bought in it)",
            "valid": (1, 104),
        },
    )
    history_length: int = field(
        default=32, metadata={"doc": "most recent purchases the user tower reads", "valid": (1, 512)}
    )
    pooling: str = field(
        default="mean",
        metadata={
            "doc": "mean (time-decayed average of the history) or attention (target-free attention pool)",
            "valid": ("mean", "attention"),
        },
    )
    half_life_days: float = field(
        default=30.0,
        metadata={
            "doc": "pooling=mean: a purchase's weight halves every this many days back",
            "valid": f"(0, {MAX_DAYS}]",
        },
    )
    embedding_size: int = field(
        default=64, metadata={"doc": "size of article embeddings and of the user and item vectors", "valid": (1, 1024)}
    )
    side_embedding_size: int = field(
        default=16, metadata={"doc": "embedding size of each customer (and article) side feature", "valid": (1, 512)}
    )
    hidden: str = field(
        default="256",
        metadata={"doc": "hidden layer widths of the user tower's MLP (comma-separated)", "valid": WIDTHS},
    )
    epochs: int = field(default=4, metadata={"doc": "passes over the training purchases", "valid": (1, 1000)})
    batch_size: int = field(default=1024, metadata={"doc": "purchases per training step", "valid": (2, 1_000_000)})
    learning_rate: float = field(default=0.003, metadata={"doc": "AdamW learning rate", "valid": "(0, 1]"})
    weight_decay: float = field(default=1e-5, metadata={"doc": "AdamW weight decay", "valid": (0, 10)})
    sold_within_days: int = field(
        default=28,
        metadata={
            "doc": "only articles sold in the last this many days before the week are proposed (0: any)",
            "valid": (0, MAX_DAYS),
        },
    )
