"""Top-k articles by inner product of customer and article vectors: exact, or through annoy.

Exact search multiplies customer chunks by all article vectors and keeps the top k (torch, both
cores); it is the default and the reference. The annoy index (trees over the article vectors,
metric `dot`) answers one query at a time, as annoy's API does, and is for catalogues too large
for exact search; its recall against exact search is checked in the tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl


def exact_top_k(users: np.ndarray, items: np.ndarray, customers: np.ndarray, k: int, chunk: int = 2048) -> pl.DataFrame:
    """For each row of `users` (labelled by `customers`), the k items of largest dot product."""
    import torch

    k = min(k, items.shape[0])
    item_t = torch.from_numpy(np.ascontiguousarray(items, dtype=np.float32))
    parts = []
    for lo in range(0, users.shape[0], chunk):
        scores = torch.from_numpy(np.ascontiguousarray(users[lo : lo + chunk], dtype=np.float32)) @ item_t.T
        values, index = torch.topk(scores, k, dim=1)
        n = values.shape[0]
        parts.append(
            pl.DataFrame(
                {
                    "customer": np.repeat(customers[lo : lo + n], k).astype(np.uint32),
                    "article": index.numpy().ravel().astype(np.uint32),
                    "score": values.numpy().ravel(),
                }
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame(schema={"customer": pl.UInt32, "article": pl.UInt32, "score": pl.Float32})


class AnnIndex:
    """An annoy index over article vectors (inner-product metric), with save and load."""

    def __init__(self, dimensions: int, trees: int = 50, search_k: int = -1):
        from annoy import AnnoyIndex

        self.dimensions, self.trees, self.search_k = dimensions, trees, search_k
        self.index = AnnoyIndex(dimensions, "dot")

    @classmethod
    def build(cls, items: np.ndarray, trees: int = 50, seed: int = 0, search_k: int = -1) -> AnnIndex:
        ann = cls(items.shape[1], trees, search_k)
        ann.index.set_seed(seed)
        for i, vector in enumerate(np.asarray(items, dtype=np.float32)):  # annoy adds one item at a time
            ann.index.add_item(i, vector)
        ann.index.build(trees, n_jobs=1)
        return ann

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    @classmethod
    def load(cls, path: Path, dimensions: int, search_k: int = -1) -> AnnIndex:
        ann = cls(dimensions, search_k=search_k)
        ann.index.load(str(path))
        return ann

    def top_k(self, users: np.ndarray, customers: np.ndarray, k: int) -> pl.DataFrame:
        """Approximate top k per user; one annoy query per user (annoy has no batch query)."""
        search_k = self.search_k if self.search_k > 0 else k * self.index.get_n_trees() * 4
        found = [self.index.get_nns_by_vector(u, k, search_k=search_k, include_distances=True) for u in users]
        sizes = np.array([len(ids) for ids, _ in found], dtype=np.int64)
        return pl.DataFrame(
            {
                "customer": np.repeat(customers, sizes).astype(np.uint32),
                "article": np.concatenate([np.asarray(ids, dtype=np.uint32) for ids, _ in found]) if found else np.empty(0, np.uint32),
                "score": np.concatenate([np.asarray(d, dtype=np.float32) for _, d in found]) if found else np.empty(0, np.float32),
            }
        )
