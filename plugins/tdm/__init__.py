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

from dataclasses import dataclass

from hmrec_cli.params import MAX_DAYS, Between, OneOf, Widths, param
from hmrec_cli.toolkit.fitted_retriever import FittedRetriever


@dataclass(frozen=True)
class TDMParams:
    weeks: int = param(
        4,
        "training weeks before the target week (each buyer's purchases of a week, history cut at its start)",
        valid=Between(1, 104),
    )
    branching: int = param(2, "children per tree node (depth = ceil(log_b articles))", valid=Between(2, 64))
    init: str = param(
        "catalogue",
        "initial tree: catalogue (index group, product group, type, code) or kmeans (balanced 2-means of purchase-matrix SVD vectors)",
        valid=OneOf("catalogue", "kmeans"),
    )
    tree_rounds: int = param(
        0,
        "times the tree is rebuilt (tree_learning) and the model retrained after the first fit (0: keep the initial tree)",
        valid=Between(0, 10),
    )
    tree_learning: str = param(
        "kmeans",
        "how a round rebuilds the tree: kmeans (balanced clustering of the learned article vectors; inner nodes restart as their articles' mean) or greedy (JTM, 2019: each article moves to where the model sends its buyers, gap levels at a time; the model is kept)",
        valid=OneOf("kmeans", "greedy"),
    )
    gap: int = param(
        4,
        "tree_learning=greedy: levels placed at once (the cost per purchase grows with branching^gap)",
        valid=Between(1, 16),
    )
    epochs: int = param(
        2,
        "training epochs per tree (so epochs * (tree_rounds + 1) in all); under 1,600 training purchases, times ceil(1,600 / purchases)",
        valid=Between(1, 100),
    )
    embedding_size: int = param(
        16, "length of the node, article and side-feature embedding vectors", valid=Between(2, 512)
    )
    attention_hidden: int = param(
        8, "hidden units of the local activation unit (the attention's scoring MLP)", valid=Between(1, 512)
    )
    hidden: str = param("32,16", "widths of the scoring MLP's hidden layers (units, comma-separated)", valid=Widths())
    history_length: int = param(20, "recent purchases the model attends over", valid=Between(1, 512))
    repeat_term: bool = param(
        True,
        "a learned bonus per purchase age on the leaves of the customer's own recent articles, which beam search always scores",
    )
    popularity_prior: bool = param(
        True,
        "add to every node's logit the log of its subtree's share of the articles' sales in the 7 days before the week (the youtube-dnn prior, fitted first, then fixed) times its level's node count (the log odds against the level's uniform negatives), with a learned weight per level, so the model learns a residual on this week's best sellers and the beam follows them",
    )
    negatives_per_level: int = param(6, "negative nodes drawn per tree level for each positive", valid=Between(1, 1000))
    batch_size: int = param(256, "purchases per training step, at most (see min_steps)", valid=Between(2, 1_000_000))
    min_steps: int = param(
        100,
        "optimiser steps per epoch at least: with fewer than batch_size x min_steps training purchases the batches shrink (to 16 at least), and under min_steps x 16 the epochs repeat, so an epoch still takes this many steps (0: always batch_size, epochs as asked)",
        valid=Between(0, 1_000_000),
    )
    learning_rate: float = param(0.005, "Adam learning rate", valid=Between(1e-6, 1.0))
    search: str = param(
        "beam",
        "beam (layer-wise beam search) or exhaustive (score every leaf: the reference, slow)",
        valid=OneOf("beam", "exhaustive"),
    )
    beam: int = param(0, "nodes kept per level in beam search (0: k)", valid=Between(0, 100_000))
    sold_within_days: int = param(
        28,
        "only articles sold in the last this many days before the week are searched (0: any)",
        valid=Between(0, MAX_DAYS),
    )
    valid_customers: int = param(
        1000,
        "newest training week's buyers held out to measure recall@100 after every epoch, at most half of them (0: none)",
        valid=Between(0, 1_000_000),
    )


class TDM(FittedRetriever):
    name = "tdm"
    version = "6"
    summary = "Tree-based deep model: deep node scorer, per-level negatives, beam search, tree learning"
    Params = TDMParams

    def make_fitted(self):
        from hmrec_plugins.tdm.fitting import Fitted

        return Fitted(self.params)
