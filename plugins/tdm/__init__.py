"""`tdm`: the tree-based deep model (Zhu et al., 2018) as a retriever, with tree learning.

Every article is a leaf of a balanced b-ary tree; a deep user-node preference model (attention over
the customer's purchases by time window, queried by the node; not an inner product) learns that a
customer likes a bought article's leaf and all its ancestors more than other nodes of their
levels; candidates come from layer-wise beam search down the tree, so the work per customer grows
with log N. `-o tree_rounds=N` (off by default) gives the articles new places in the tree (`-o tree_learning=kmeans`:
clustering of the learned article vectors, or `greedy`: where the model sends their buyers) and retrains.

The pieces: tree.py (arrays, catalogue and k-means trees), model.py (the scorer), sampler.py
(per-level negatives), beam.py (search), tree_learning.py, fitting.py (training and retrieval,
imported on first use: `hmrec plugins` must not load torch). The tree is part of the model's
state (checkpointed with it) and is also written beside the checkpoint as `<key>.tree.npz`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hmrec_cli.plugin_api import WIDTHS
from hmrec_cli.toolkit.fitted_retriever import FittedRetriever


@dataclass(frozen=True)
class TDMParams:
    weeks: int = field(
        default=4,
        metadata={
            "doc": "training weeks before the target week (each buyer's purchases of a week, history cut at its start)",
            "valid": (1, 104),
        },
    )
    branching: int = field(
        default=2, metadata={"doc": "children per tree node (depth = ceil(log_b articles))", "valid": (2, 64)}
    )
    init: str = field(
        default="catalogue",
        metadata={
            "doc": "initial tree: catalogue (index group, product group, type, code) or kmeans (balanced 2-means of purchase-matrix SVD vectors)",
            "valid": ("catalogue", "kmeans"),
        },
    )
    tree_rounds: int = field(
        default=0,
        metadata={
            "doc": "times the tree is rebuilt (tree_learning) and the model retrained (0 by default: on the medium world either rebuild lowered held-out recall, on the small one neither gained clearly)",
            "valid": (0, 10),
        },
    )
    tree_learning: str = field(
        default="kmeans",
        metadata={
            "doc": "how a round rebuilds the tree: kmeans (balanced clustering of the learned article vectors; inner nodes restart as their articles' mean) or greedy (JTM, 2019: each article moves to where the model sends its buyers, gap levels at a time; the model is kept)",
            "valid": ("kmeans", "greedy"),
        },
    )
    gap: int = field(
        default=4,
        metadata={
            "doc": "tree_learning=greedy: levels placed at once (the cost per purchase grows with branching^gap)",
            "valid": (1, 16),
        },
    )
    epochs: int = field(
        default=2,
        metadata={"doc": "training epochs per tree (so epochs * (tree_rounds + 1) in all)", "valid": (1, 100)},
    )
    embedding_size: int = field(
        default=16, metadata={"doc": "size of node, article and side-feature vectors", "valid": (2, 512)}
    )
    attention_hidden: int = field(
        default=8, metadata={"doc": "hidden units of the local activation unit", "valid": (1, 512)}
    )
    hidden: str = field(default="32,16", metadata={"doc": "hidden layer widths of the scoring MLP", "valid": WIDTHS})
    history_length: int = field(
        default=20, metadata={"doc": "recent purchases the model attends over", "valid": (1, 512)}
    )
    negatives_per_level: int = field(
        default=6, metadata={"doc": "negative nodes drawn per tree level for each positive", "valid": (1, 1000)}
    )
    batch_size: int = field(default=256, metadata={"doc": "purchases per training step", "valid": (2, 1_000_000)})
    learning_rate: float = field(default=0.005, metadata={"doc": "Adam learning rate", "valid": (1e-6, 1.0)})
    search: str = field(
        default="beam",
        metadata={
            "doc": "beam (layer-wise beam search) or exhaustive (score every leaf: the reference, slow)",
            "valid": ("beam", "exhaustive"),
        },
    )
    beam: int = field(default=0, metadata={"doc": "nodes kept per level in beam search (0: k)", "valid": (0, 100_000)})
    sold_within_days: int = field(
        default=28,
        metadata={
            "doc": "only articles sold in the last this many days before the week are searched (0: any)",
            "valid": (0, 3650),
        },
    )
    valid_customers: int = field(
        default=1000,
        metadata={
            "doc": "newest training week's buyers held out to measure recall@100 after every epoch (0: none)",
            "valid": (0, 1_000_000),
        },
    )


class TDM(FittedRetriever):
    name = "tdm"
    version = "2"
    summary = "Tree-based deep model: deep node scorer, per-level negatives, beam search, tree learning"
    Params = TDMParams

    def make_fitted(self):
        from hmrec_plugins.tdm.fitting import Fitted

        return Fitted(self.params)
