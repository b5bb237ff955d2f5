"""Retrieval down TDM's tree: layer-wise beam search, and exhaustive scoring of every leaf (the
reference beam search is measured against).

Beam search for a batch of customers (Zhu et al., 2018, algorithm 1): start at the first level
with at least `beam` valid nodes and score all of them, keep the `beam` best per customer, expand
them to their b children, score those (invalid children get -inf), keep the best `beam`, and so on
down to the leaves, where the best k are the candidates. With the model's repeat term, the leaves
of the customer's own articles join the last level's (each once, on sale only): the term ranks
them, and the inner nodes above them need not have led the beam there. When no level above the leaves has
`beam` valid nodes, every leaf is scored, so a beam as wide as the tree is exact. The work per
customer is about beam * b * depth nodes: it grows with log N. Everything is batched over the
customers; the only Python loop is over levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from hmrec_plugins.tdm.model import Encoded, NodeScorer
from hmrec_plugins.tdm.tree import Tree


@dataclass
class TreeOnDevice:
    """The arrays beam search needs, on the scoring device."""

    branching: int
    depth: int
    valid: torch.Tensor  # [nodes] bool
    level_nodes: list[torch.Tensor]  # valid node ids of each level
    leaf_of_item: torch.Tensor  # [articles + 1] the leaf of article index + 1 when valid, else -1 (row 0: padding)

    @classmethod
    def of(cls, tree: Tree, device: torch.device, articles: np.ndarray | None = None) -> TreeOnDevice:
        """The tree on `device`; with `articles`, only their leaves (and ancestors) are valid."""
        valid = tree.valid if articles is None else tree.valid_for(articles)
        levels = [
            torch.from_numpy(ids[valid[ids]]).to(device)
            for ids in (tree.level_nodes(lv, valid_only=False) for lv in range(tree.depth + 1))
        ]
        leaf_of_item = np.full(tree.leaf_of_article.size + 1, -1, dtype=np.int64)
        leaf_of_item[1:] = np.where(valid[tree.leaf_of_article], tree.leaf_of_article, -1)
        return cls(
            tree.branching,
            tree.depth,
            torch.from_numpy(valid).to(device),
            levels,
            torch.from_numpy(leaf_of_item).to(device),
        )

    def start_level(self, beam: int) -> int:
        """The first level with at least `beam` valid nodes (the leaf level when none has)."""
        return next((lv for lv in range(self.depth) if self.level_nodes[lv].numel() >= beam), self.depth)


@dataclass
class Found:
    """Per customer of a batch: leaf node ids and their logits, best first; -inf marks a slot
    with no leaf (fewer valid leaves than k)."""

    leaves: torch.Tensor  # [B, k]
    scores: torch.Tensor  # [B, k]
    nodes_scored: int  # per customer


def beam_search(
    model: NodeScorer, tree: TreeOnDevice, enc: Encoded, beam: int, k: int, table: torch.Tensor | None = None
) -> Found:
    """The k best leaves per customer of `enc` found by layer-wise beam search of width `beam`
    (`table`: the model's node_table, when scoring many batches with the same weights)."""
    start = tree.start_level(beam)
    nodes = tree.level_nodes[start]
    scores = model.score(enc, nodes, table)  # [B, M], one node list shared by the batch
    scored = nodes.numel()
    keep = k if start == tree.depth else beam
    top, pick = torch.topk(scores, min(keep, nodes.numel()), dim=1)
    chosen = nodes[pick]
    offsets = torch.arange(1, tree.branching + 1, device=chosen.device)
    for level in range(start + 1, tree.depth + 1):
        children = (chosen.unsqueeze(-1) * tree.branching + offsets).flatten(1)  # [B, beam * b]
        allowed = tree.valid[children]
        if level == tree.depth and enc.repeat is not None:
            children, allowed = with_own_leaves(children, allowed, tree.leaf_of_item[enc.items])
        scores = model.score(enc, children, table).float().masked_fill(~allowed, float("-inf"))
        scored += children.shape[1]
        keep = k if level == tree.depth else beam
        top, pick = torch.topk(scores, min(keep, children.shape[1]), dim=1)
        chosen = torch.gather(children, 1, pick)
    return Found(chosen, top.float(), scored)


def with_own_leaves(
    children: torch.Tensor, allowed: torch.Tensor, own: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The beam's leaves [B, M] followed by the customer's own leaves `own` [B, L] (-1: none), and
    which may be chosen: an own leaf only when valid and not already among the beam's or earlier."""
    among_beam = (own.unsqueeze(-1) == children.unsqueeze(1)).any(-1)  # [B, L]
    same = own.unsqueeze(-1) == own.unsqueeze(1)  # [B, L, L]
    earlier = torch.ones(own.shape[1], own.shape[1], dtype=torch.bool, device=own.device).triu(1)  # q < p
    repeated = (same & earlier).any(1)
    fresh = (own >= 0) & ~among_beam & ~repeated
    return torch.cat([children, own.clamp(min=0)], 1), torch.cat([allowed, fresh], 1)


def exhaustive(
    model: NodeScorer, tree: TreeOnDevice, enc: Encoded, k: int, chunk: int = 512, table: torch.Tensor | None = None
) -> Found:
    """The k best leaves per customer over every valid leaf (leaves scored in chunks, a running
    top-k kept): what beam search approximates."""
    leaves = tree.level_nodes[tree.depth]
    best_scores, best_leaves = None, None
    for lo in range(0, leaves.numel(), chunk):
        part = leaves[lo : lo + chunk]
        scores = model.score(enc, part, table).float()
        ids = part.unsqueeze(0).expand(scores.shape[0], -1)
        if best_scores is not None:
            scores, ids = torch.cat([best_scores, scores], 1), torch.cat([best_leaves, ids], 1)
        best_scores, pick = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        best_leaves = torch.gather(ids, 1, pick)
    return Found(best_leaves, best_scores, leaves.numel())
