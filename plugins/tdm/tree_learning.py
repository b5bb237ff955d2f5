"""Tree learning: after training, give the articles new places in the tree, then retrain.

Two ways, `-o tree_learning=`:

- `kmeans` (Zhu et al., 2018, section 3.3): rebuild the tree by balanced hierarchical clustering of
  the learned leaf (article) vectors, so articles the model finds alike share subtrees. Inner nodes
  are positions, so each starts the next round as the mean vector of the articles below it.
- `greedy` (Zhu et al., 2019, "joint optimization of tree-based index and deep model", algorithm 2):
  keep the model, inner nodes included, and move each article to where the model already sends its
  buyers. From the root down, `gap` levels at a time, every article goes to the descendant (of the
  node it was given on the level above) that maximises the sum, over a sample of its training
  purchases, of the log-probabilities the model gives that node's path segment; a node takes at
  most as many articles as it has occupied leaves below it (the tree's shape is kept, articles swap
  places), the rest go to their next best (deferred acceptance, all articles at once). Since the
  inner nodes keep their learned vectors, retraining starts where the model is, not from means.

Article vectors belong to the articles, not to tree positions, so they carry over either way.
"""

from __future__ import annotations

import numpy as np
import torch
from hmrec_plugins.tdm.model import NodeScorer
from hmrec_plugins.tdm.tree import Tree, kmeans_tree

VOTES_PER_ARTICLE = 8  # training purchases per article that decide its place (greedy's cost grows with it)


def learned_vectors(model: NodeScorer) -> np.ndarray:
    """[N, E] the model's article vectors (id plus side features), row = article index."""
    with torch.no_grad():
        ids = torch.arange(1, model.shape.articles + 1, device=model.article_id.weight.device)
        return model.article_vectors(ids).float().cpu().numpy()


def relearned_tree(model: NodeScorer, branching: int, seed: int) -> Tree:
    """A new tree from balanced 2-means of the model's article vectors."""
    return kmeans_tree(learned_vectors(model), branching, seed)


def install(model: NodeScorer, tree: Tree, keep_inner: bool = False) -> None:
    """Put `tree` into the model: which article each leaf holds and, unless `keep_inner`, each inner
    node's embedding set to the mean vector of its articles (left as it is for empty subtrees)."""
    if tree.first_leaf != model.shape.first_leaf:
        raise ValueError(
            f"a tree with leaves from node {tree.first_leaf} does not fit a model built for {model.shape.first_leaf}"
        )
    device = model.leaf_article.device
    leaf_article = torch.zeros(tree.n_nodes, dtype=torch.long)
    leaf_article[torch.from_numpy(tree.leaf_of_article)] = torch.arange(1, tree.leaf_of_article.size + 1)
    with torch.no_grad():
        model.leaf_article.copy_(leaf_article.to(device))
        if keep_inner:
            return
        vectors = torch.from_numpy(learned_vectors(model)).to(device)
        paths = torch.from_numpy(tree.paths).to(device)
        inner = model.inner.weight
        total = torch.zeros_like(inner)
        count = torch.zeros(inner.shape[0], device=device)
        ones = torch.ones(paths.shape[0], device=device)
        for level in range(tree.depth):  # one segment sum per level, never one per node
            total.index_add_(0, paths[:, level], vectors.to(inner.dtype))
            count.index_add_(0, paths[:, level], ones)
        filled = count > 0
        inner[filled] = total[filled] / count[filled].unsqueeze(-1)


def sample_votes(pair_article: np.ndarray, pairs: np.ndarray, per_article: int, seed: int) -> np.ndarray:
    """Up to `per_article` of `pairs` (indexes into `pair_article`) for each article, drawn with the seed."""
    shuffled = np.random.default_rng(seed).permutation(pairs)
    order = np.argsort(pair_article[shuffled], kind="stable")
    arts = pair_article[shuffled][order]
    rank = np.arange(arts.size) - np.searchsorted(arts, arts, side="left")
    return shuffled[order[rank < per_article]]


def reassigned_tree(
    model: NodeScorer,
    tree: Tree,
    users: dict[str, torch.Tensor],
    rows: torch.Tensor,
    articles: torch.Tensor,
    gap: int,
    batch: int = 512,
) -> Tree:
    """The greedy tree-learning step: `rows` index `users` (the encoder's inputs) and `articles` is
    the article each of those purchases bought. Returns a tree with the same occupied leaves."""
    b, depth, n = tree.branching, tree.depth, tree.leaf_of_article.size
    capacity = np.zeros(tree.n_nodes, dtype=np.int64)
    for level in range(depth + 1):
        np.add.at(capacity, tree.paths[:, level], 1)
    voted = np.zeros(n, dtype=bool)
    voted[articles.cpu().numpy()] = True
    node = np.zeros(n, dtype=np.int64)  # each article's node on the level placed so far
    level = 0
    while level < depth:
        span = min(gap, depth - level)
        weights = _segment_weights(
            model, torch.from_numpy(node).to(articles.device), users, rows, articles, b, level, span, depth, batch
        )
        first = node * b**span + (b**span - 1) // (b - 1)  # each article's first candidate on the target level
        candidates = first[:, None] + np.arange(b**span)
        stay = (candidates == tree.paths[:, level + span, None]).astype(np.float64)  # its place in the old tree
        room = capacity.copy()
        node = np.empty(n, dtype=np.int64)
        node[voted] = _deferred_acceptance(candidates[voted], weights[voted] + 1e-9 * stay[voted], room)
        node[~voted] = _deferred_acceptance(
            candidates[~voted], stay[~voted], room
        )  # then the rest, staying put where there is room
        level += span
    return Tree.from_leaves(node, b)


def _segment_weights(
    model: NodeScorer,
    node: torch.Tensor,
    users: dict[str, torch.Tensor],
    rows: torch.Tensor,
    articles: torch.Tensor,
    b: int,
    level: int,
    span: int,
    depth: int,
    batch: int,
) -> np.ndarray:
    """[N, b^span]: for each article and each descendant `span` levels below its node, the sum over
    its votes of the log-probabilities of the descendant's ancestors on the levels below the node.
    The leaf level adds nothing: a leaf's vector is the article's own wherever it sits."""
    scored = [r for r in range(1, span + 1) if level + r < depth]
    total = torch.zeros(node.numel(), b**span, device=articles.device)
    with torch.no_grad():
        for lo in range(0, rows.numel(), batch):
            row, art = rows[lo : lo + batch], articles[lo : lo + batch]
            parent = node[art]
            path = torch.zeros(row.numel(), 1, device=row.device)
            if scored:
                nodes = torch.cat(
                    [
                        parent[:, None] * b**r + (b**r - 1) // (b - 1) + torch.arange(b**r, device=row.device)
                        for r in scored
                    ],
                    1,
                )
                enc = model.encode(
                    users["items"][row], users["age_days"][row], users["customer"][row], users["dense"][row]
                )
                logp = torch.nn.functional.logsigmoid(model.score(enc, nodes).float())
            at = 0
            for r in range(1, span + 1):  # each node's sum is its parent's plus its own (child j's parent is j // b)
                path = path.repeat_interleave(b, dim=1)
                if r in scored:
                    path = path + logp[:, at : at + b**r]
                    at += b**r
            total.index_add_(0, art, path)
    return total.cpu().numpy().astype(np.float64)


def _deferred_acceptance(candidates: np.ndarray, weights: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Each article (row) proposes to its best candidate node with room left; a node keeps the
    proposals that would lose most by going to their next best (the largest regret) up to its room,
    the rest propose again without it. Candidates without room are never taken; `room` is used up
    in place. Returns each article's node."""
    weights = np.where(room[candidates] > 0, weights, -np.inf)
    placed = np.full(candidates.shape[0], -1, dtype=np.int64)
    waiting = np.arange(candidates.shape[0])
    while waiting.size:
        w = weights[waiting]
        best = np.argmax(w, axis=1)
        if np.isneginf(w[np.arange(waiting.size), best]).any():
            raise ValueError("tree learning: more articles than leaves below their node")
        top2 = -np.partition(-w, 1, axis=1)[:, :2]  # a node has at least 2 candidates below it
        regret = top2[:, 0] - top2[:, 1]  # inf when only one node is left
        target = candidates[waiting, best]
        order = np.lexsort((waiting, -regret, target))  # by node, largest regret first, ties by article
        ranked = target[order]
        rank = np.arange(order.size) - np.searchsorted(ranked, ranked, side="left")
        taken = np.zeros(order.size, dtype=bool)
        taken[order] = rank < room[ranked]
        placed[waiting[taken]] = target[taken]
        np.subtract.at(room, target[taken], 1)
        weights[waiting[~taken], best[~taken]] = -np.inf  # that node is full now
        waiting = waiting[~taken]
    return placed
