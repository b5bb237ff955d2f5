"""Trees over the catalogue for the hierarchical softmax, as arrays.

Node 0 is the root. Nodes are numbered so that the children of every node are contiguous:
`child_start[n] .. child_start[n] + child_count[n]`. Every article is exactly one leaf
(`leaf_of[article]`); `path[article]` lists the nodes from the root's child down to its leaf,
padded with -1 (leaves may sit at different depths).

- catalogue: index group -> product group -> product type -> product code -> article; a node with
  more than `max_branching` children gets balanced intermediate levels (its children's positions
  written in base `max_branching`), so no softmax spans more than `max_branching` siblings.
- huffman: a binary Huffman tree by sales frequency: frequent articles sit near the root, so
  the expected path length of a training purchase is minimal.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import polars as pl

CATALOGUE_LEVELS = ("index_group_name", "product_group_name", "product_type_no", "product_code")


@dataclass(frozen=True)
class Tree:
    parent: np.ndarray  # int64 [nodes], -1 for the root
    child_start: np.ndarray  # int64 [nodes]
    child_count: np.ndarray  # int64 [nodes], 0 for leaves
    leaf_of: np.ndarray  # int64 [articles]
    article_of: np.ndarray  # int64 [nodes], -1 for inner nodes
    path: np.ndarray  # int64 [articles, depth], -1 padding after the leaf

    @property
    def nodes(self) -> int:
        return int(self.parent.size)

    @property
    def depth(self) -> int:
        return int(self.path.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "parent": self.parent,
            "child_start": self.child_start,
            "child_count": self.child_count,
            "leaf_of": self.leaf_of,
            "article_of": self.article_of,
            "path": self.path,
        }


def from_parents(parent: np.ndarray, article_of: np.ndarray) -> Tree:
    """The Tree of any parent array (root = the one node without a parent) whose leaves are the
    nodes with an article. Renumbers nodes breadth-first so siblings are contiguous; depths and
    paths by pointer jumping, one vectorised step per level."""
    n = parent.size
    depth = np.zeros(n, dtype=np.int64)
    up = parent.copy()
    while (up >= 0).any():  # one step per level of the tree
        depth += up >= 0
        up = np.where(up >= 0, parent[np.maximum(up, 0)], -1)
    # breadth-first order: by depth, then by the new number of the parent, then by the old number
    new_of = np.empty(n, dtype=np.int64)
    order_parts = []
    for d in range(int(depth.max()) + 1):  # one step per level
        at = np.flatnonzero(depth == d)
        parent_rank = new_of[parent[at]] if d else np.zeros(at.size, dtype=np.int64)
        at = at[np.lexsort((at, parent_rank))]
        new_of[at] = sum(p.size for p in order_parts) + np.arange(at.size)
        order_parts.append(at)
    order = np.concatenate(order_parts)
    new_parent = np.where(parent[order] >= 0, new_of[np.maximum(parent[order], 0)], -1)
    new_article = article_of[order]
    counts = np.bincount(new_parent[1:], minlength=n)
    first_child = np.full(n, n, dtype=np.int64)
    np.minimum.at(first_child, new_parent[1:], np.arange(1, n))
    child_start = np.where(counts > 0, first_child, 0)
    leaves = np.flatnonzero(new_article >= 0)
    leaf_of = np.empty(int(new_article.max()) + 1, dtype=np.int64)
    leaf_of[new_article[leaves]] = leaves
    new_depth = depth[order]
    max_depth = int(new_depth[leaves].max())
    path = np.full((leaf_of.size, max_depth), -1, dtype=np.int64)
    node = leaf_of.copy()
    level = new_depth[leaf_of] - 1  # column of each article's current node
    alive = level >= 0
    while alive.any():  # one step per level: write the node, move to its parent
        path[np.flatnonzero(alive), level[alive]] = node[alive]
        node = np.where(alive, new_parent[node], node)
        level = level - 1
        alive = level >= 0
    return Tree(new_parent, child_start, counts, leaf_of, new_article, path)


def from_key_paths(keys: np.ndarray) -> Tree:
    """A tree from one row of integer keys per article (its path of group keys from the top; a
    -1 skips a level the article's group does not need). Inner nodes are the distinct key
    sequences (a node is its parent plus a key); articles are the leaves."""
    articles, levels = keys.shape
    parent_parts, node_of = [np.array([-1])], np.zeros(articles, dtype=np.int64)  # every article starts at the root
    nodes = 1
    for level in range(levels):  # one step per level
        going = keys[:, level] >= 0
        pairs = np.stack([node_of[going], keys[going, level]], axis=1)
        distinct, inverse = np.unique(pairs, axis=0, return_inverse=True)
        parent_parts.append(distinct[:, 0])
        node_of[going] = nodes + inverse.ravel()
        nodes += distinct.shape[0]
    parent = np.concatenate([*parent_parts, node_of])  # each article a leaf under its last group
    article_of = np.concatenate([np.full(nodes, -1), np.arange(articles)])
    return from_parents(parent, article_of)


def balanced_keys(groups: np.ndarray, max_branching: int) -> np.ndarray:
    """Intermediate keys splitting each group's members (rows sharing `groups[i]`, a parent key)
    into a balanced `max_branching`-ary tree: a member's position within its group written in base
    `max_branching`, most significant digit first, one column per digit beyond the last; -1 where
    a smaller group needs fewer digits."""
    frame = pl.DataFrame({"g": groups}).with_row_index("row")
    frame = frame.with_columns(position=pl.int_range(pl.len()).over("g"), size=pl.len().over("g"))
    position, size = frame["position"].to_numpy().astype(np.int64), frame["size"].to_numpy().astype(np.int64)
    digits = np.ceil(np.log(np.maximum(size, 1)) / np.log(max_branching) - 1e-9).astype(
        np.int64
    )  # levels a group needs
    extra = np.maximum(digits - 1, 0)  # intermediate levels above the members
    width = int(extra.max()) if extra.size else 0
    out = np.full((groups.size, width), -1, dtype=np.int64)
    for column in range(width):  # one step per added level
        used = extra > column
        power = max_branching ** (extra[used] - column)
        out[used, column] = position[used] // power
    return out


def catalogue_tree(articles: pl.DataFrame, max_branching: int) -> Tree:
    """index group -> product group -> product type -> product code -> article (missing values
    are a group of their own), each too-wide node split into balanced levels."""
    frame = articles.sort("article")
    columns = []
    parent_key = np.zeros(frame.height, dtype=np.int64)
    for name in CATALOGUE_LEVELS:
        code = frame.select(pl.col(name).rank("dense").fill_null(0).cast(pl.Int64))[name].to_numpy()
        pairs = np.stack([parent_key, code], axis=1)
        _, group = np.unique(pairs, axis=0, return_inverse=True)
        # split this level's values under their parent when the parent has too many of them
        distinct_rows = np.unique(np.stack([parent_key, group.ravel()], axis=1), axis=0)
        splits = balanced_keys(distinct_rows[:, 0], max_branching)
        index = np.searchsorted(distinct_rows[:, 1], group.ravel())
        columns += [splits[index], code.reshape(-1, 1)]
        parent_key = group.ravel()
    members = balanced_keys(parent_key, max_branching)  # articles under their product code
    return from_key_paths(np.hstack([*columns, members]))


def huffman_tree(frequency: np.ndarray) -> Tree:
    """The binary Huffman tree of the articles' sales counts (every article a leaf; unsold ones
    count 1). Each merge depends on the previous one, so the N - 1 merges run as one heap loop
    (~0.3 s for the full catalogue); everything after it is vectorised."""
    n = frequency.size
    if n == 1:
        return from_parents(np.array([-1, 0]), np.array([-1, 0]))
    parent = np.full(2 * n - 1, -1, dtype=np.int64)
    heap = [(float(f), i) for i, f in enumerate(np.maximum(frequency, 1))]
    heapq.heapify(heap)
    for new in range(n, 2 * n - 1):
        (fa, a), (fb, b) = heapq.heappop(heap), heapq.heappop(heap)
        parent[a] = parent[b] = new
        heapq.heappush(heap, (fa + fb, new))
    return from_parents(parent, np.where(np.arange(2 * n - 1) < n, np.arange(2 * n - 1), -1))
