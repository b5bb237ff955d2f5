"""Tree learning (Zhu et al., 2018, section 3.3): after training, rebuild the tree by balanced
hierarchical clustering of the learned leaf (article) vectors, so articles the model finds alike
share subtrees, then retrain on the new tree.

Article vectors belong to the articles, not to tree positions, so they carry over; inner nodes are
positions, so each starts the next round as the mean vector of the articles below it (a node's
preference should follow its children's).
"""

from __future__ import annotations

import numpy as np
import torch

from hmrec_plugins.tdm.model import NodeScorer
from hmrec_plugins.tdm.tree import Tree, kmeans_tree


def learned_vectors(model: NodeScorer) -> np.ndarray:
    """[N, E] the model's article vectors (id plus side features), row = article index."""
    with torch.no_grad():
        ids = torch.arange(1, model.shape.articles + 1, device=model.article_id.weight.device)
        return model.article_vectors(ids).float().cpu().numpy()


def relearned_tree(model: NodeScorer, branching: int, seed: int) -> Tree:
    """A new tree from balanced 2-means of the model's article vectors."""
    return kmeans_tree(learned_vectors(model), branching, seed)


def install(model: NodeScorer, tree: Tree) -> None:
    """Put `tree` into the model: which article each leaf holds, and each inner node's embedding
    set to the mean vector of its articles (left as it is for empty subtrees)."""
    if tree.first_leaf != model.shape.first_leaf:
        raise ValueError(f"a tree with leaves from node {tree.first_leaf} does not fit a model built for {model.shape.first_leaf}")
    device = model.leaf_article.device
    leaf_article = torch.zeros(tree.n_nodes, dtype=torch.long)
    leaf_article[torch.from_numpy(tree.leaf_of_article)] = torch.arange(1, tree.leaf_of_article.size + 1)
    vectors = torch.from_numpy(learned_vectors(model)).to(device)
    paths = torch.from_numpy(tree.paths).to(device)
    with torch.no_grad():
        model.leaf_article.copy_(leaf_article.to(device))
        inner = model.inner.weight
        total = torch.zeros_like(inner)
        count = torch.zeros(inner.shape[0], device=device)
        ones = torch.ones(paths.shape[0], device=device)
        for level in range(tree.depth):  # one segment sum per level, never one per node
            total.index_add_(0, paths[:, level], vectors.to(inner.dtype))
            count.index_add_(0, paths[:, level], ones)
        filled = count > 0
        inner[filled] = total[filled] / count[filled].unsqueeze(-1)
