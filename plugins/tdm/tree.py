"""TDM's tree: every article is one leaf of a complete b-ary tree, stored as arrays.

Heap numbering: the root is node 0, the children of node i are b*i+1 .. b*i+b, its parent is
(i-1)//b, and level l holds the ids [(b^l-1)/(b-1), (b^(l+1)-1)/(b-1)). The depth D is
ceil(log_b N), so the b^D leaves hold the N articles and some leaves stay empty; `valid` marks the
nodes whose subtree holds at least one article, so empty subtrees never enter sampling or search.

Both initial trees place articles by the same balanced recursive split, computed level by level:
the items of a node are ordered, and the item of rank r among s goes to child r*b//s. Every
subtree is then as balanced as it can be (sibling sizes differ by at most one at every level) and
the empty leaves are spread over the tree instead of piling up on the right. Only the order
differs: the catalogue tree orders by index group, product group, product type, product code and
article; the k-means tree orders the items of all nodes of a level at once by a balanced 2-means
on item vectors (segment sums, no loop over nodes).

Saved as npz (branching and leaf_of_article; the rest is derived), read with pickle disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.atomic import atomic_file

CATALOGUE_ORDER = ("index_group_name", "product_group_name", "product_type_no", "product_code", "article")


def depth_for(n_items: int, branching: int) -> int:
    """The smallest D >= 1 with branching**D >= n_items (integer arithmetic, no float log)."""
    depth, capacity = 1, branching
    while capacity < n_items:
        depth, capacity = depth + 1, capacity * branching
    return depth


def level_start(level: int | np.ndarray, branching: int):
    """Id of the first node of `level` (works on arrays of levels)."""
    return (branching ** np.asarray(level, dtype=np.int64) - 1) // (branching - 1)


@dataclass(frozen=True)
class Tree:
    """A complete b-ary tree of depth `depth` whose leaves hold the articles.

    `leaf_of_article[a]`: the node id of article a's leaf (int64, N); `article_of_leaf[j]`: the
    article at the j-th leaf of the last level, -1 when empty (int64, b^D); `valid[i]`: node i's
    subtree holds an article (bool, all nodes); `paths[a, l]`: article a's ancestor on level l
    (int64, N x (D+1); column 0 is the root, column D the leaf itself).
    """

    branching: int
    depth: int
    leaf_of_article: np.ndarray
    article_of_leaf: np.ndarray
    valid: np.ndarray
    paths: np.ndarray

    @classmethod
    def from_leaves(cls, leaf_of_article: np.ndarray, branching: int) -> Tree:
        leaf_of_article = np.asarray(leaf_of_article, dtype=np.int64)
        n = leaf_of_article.size
        depth = depth_for(n, branching)
        first_leaf = int(level_start(depth, branching))
        n_nodes = int(level_start(depth + 1, branching))
        slots = leaf_of_article - first_leaf
        if n == 0 or slots.min() < 0 or leaf_of_article.max() >= n_nodes or np.unique(slots).size != n:
            raise ValueError("every article needs its own leaf on the last level")
        article_of_leaf = np.full(n_nodes - first_leaf, -1, dtype=np.int64)
        article_of_leaf[slots] = np.arange(n)
        paths = np.empty((n, depth + 1), dtype=np.int64)
        paths[:, depth] = leaf_of_article
        for level in range(depth - 1, -1, -1):
            paths[:, level] = (paths[:, level + 1] - 1) // branching
        valid = np.zeros(n_nodes, dtype=bool)
        valid[paths.ravel()] = True
        return cls(branching, depth, leaf_of_article, article_of_leaf, valid, paths)

    @property
    def n_nodes(self) -> int:
        return self.valid.size

    @property
    def first_leaf(self) -> int:
        return int(level_start(self.depth, self.branching))

    def level_of(self, nodes: np.ndarray) -> np.ndarray:
        """The level of each node id."""
        nodes = np.asarray(nodes, dtype=np.int64)
        starts = level_start(np.arange(self.depth + 2), self.branching)
        return np.searchsorted(starts, nodes, side="right") - 1

    def level_nodes(self, level: int, valid_only: bool = True) -> np.ndarray:
        """Node ids of `level` (by default only those whose subtree holds an article)."""
        ids = np.arange(level_start(level, self.branching), level_start(level + 1, self.branching), dtype=np.int64)
        return ids[self.valid[ids]] if valid_only else ids

    def children(self, nodes: np.ndarray) -> np.ndarray:
        """[..., b] child ids of each node."""
        nodes = np.asarray(nodes, dtype=np.int64)
        return nodes[..., None] * self.branching + 1 + np.arange(self.branching)

    def valid_for(self, articles: np.ndarray) -> np.ndarray:
        """The `valid` mask of the tree restricted to `articles` (e.g. those still on sale)."""
        valid = np.zeros(self.n_nodes, dtype=bool)
        valid[self.paths[articles].ravel()] = True
        return valid

    def save(self, path: Path) -> None:
        """Write the tree to `path` (npz) through a temp file, so a reader never sees half of it."""
        with atomic_file(path) as tmp, open(tmp, "wb") as out:
            np.savez(out, branching=np.int64(self.branching), leaf_of_article=self.leaf_of_article)

    @classmethod
    def load(cls, path: Path) -> Tree:
        with np.load(path, allow_pickle=False) as saved:
            return cls.from_leaves(saved["leaf_of_article"], int(saved["branching"]))


def balanced_tree(order_within_node, n_items: int, branching: int) -> Tree:
    """Place items level by level: at each level `order_within_node(node, level)` returns one
    sort key per item (lower first) for the items' current nodes; the item of rank r among the s
    items of its node goes to child r*b//s. Returns the tree with the items as leaves."""
    depth = depth_for(n_items, branching)
    node = np.zeros(n_items, dtype=np.int64)
    for level in range(depth):
        key = order_within_node(node, level)
        order = np.lexsort((np.arange(n_items), key, node))  # by node, then key, ties by item
        sorted_nodes = node[order]
        first = np.searchsorted(sorted_nodes, sorted_nodes, side="left")
        size = np.searchsorted(sorted_nodes, sorted_nodes, side="right") - first
        rank = np.arange(n_items) - first
        child = np.empty(n_items, dtype=np.int64)
        child[order] = rank * branching // size
        node = node * branching + 1 + child
    return Tree.from_leaves(node, branching)


def catalogue_tree(articles: pl.DataFrame, branching: int) -> Tree:
    """Articles sorted by index group, product group, product type, product code and id, split
    into balanced parts recursively: neighbours in the catalogue share subtrees."""
    table = articles.sort("article").with_row_index("position")
    keys = [c for c in CATALOGUE_ORDER if c in table.columns]
    rank = np.empty(table.height, dtype=np.int64)
    rank[table.sort(keys, nulls_last=True)["position"].to_numpy()] = np.arange(table.height)
    return balanced_tree(lambda node, level: rank, table.height, branching)


def kmeans_tree(vectors: np.ndarray, branching: int, seed: int = 0, steps: int = 5) -> Tree:
    """Balanced hierarchical 2-means over item vectors (rows = articles), all nodes of a level at
    once: a few Lloyd steps per node (segment sums), then each node's items are ordered by how much
    nearer they are to the first centroid than to the second and split in balanced parts. With
    b > 2 the same order is cut into b parts (a balanced split along the 2-means direction)."""
    x = np.asarray(vectors, dtype=np.float64)
    rng = np.random.default_rng(seed)

    def order(node: np.ndarray, level: int) -> np.ndarray:
        nodes, seg = np.unique(node, return_inverse=True)
        counts = np.bincount(seg, minlength=nodes.size).astype(np.float64)[:, None]
        mean = _segment_sum(x, seg, nodes.size) / counts
        # start from a split of each node at its median along one random direction
        direction = rng.standard_normal(x.shape[1])
        key = (x - mean[seg]) @ direction
        side = _upper_half(key, seg, nodes.size)
        for _ in range(steps):
            c0, c1 = _side_means(x, seg, side, nodes.size, mean)
            key = ((x - c0[seg]) ** 2).sum(1) - ((x - c1[seg]) ** 2).sum(1)
            side = key > 0
        c0, c1 = _side_means(x, seg, side, nodes.size, mean)
        return ((x - c0[seg]) ** 2).sum(1) - ((x - c1[seg]) ** 2).sum(1)

    return balanced_tree(order, x.shape[0], branching)


def _segment_sum(x: np.ndarray, seg: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, x.shape[1]))
    np.add.at(out, seg, x)
    return out


def _upper_half(key: np.ndarray, seg: np.ndarray, n: int) -> np.ndarray:
    """True for the items in the upper half of their segment by `key`."""
    order = np.lexsort((key, seg))
    sorted_seg = seg[order]
    first = np.searchsorted(sorted_seg, sorted_seg, side="left")
    size = np.bincount(seg, minlength=n)[sorted_seg]
    upper = np.empty(seg.size, dtype=bool)
    upper[order] = (np.arange(seg.size) - first) * 2 >= size
    return upper


def _side_means(x, seg, side, n, fallback):
    """Per segment, the mean of its items on each side (the segment mean when a side is empty)."""
    means = []
    for chosen in (~side, side):
        counts = np.bincount(seg[chosen], minlength=n).astype(np.float64)[:, None]
        total = _segment_sum(x[chosen], seg[chosen], n)
        means.append(np.where(counts > 0, total / np.maximum(counts, 1), fallback))
    return means
