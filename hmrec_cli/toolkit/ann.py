"""Top-k articles by inner product of customer and article vectors: exact, or through annoy.

Exact search multiplies customer chunks by all article vectors and keeps the top k (torch, on the
CPU or the GPU, with optional exclusions); it is the default and the reference. The annoy index (trees over the article vectors,
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

    values, index = top_k_on_device(
        torch.from_numpy(np.ascontiguousarray(users, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(items, dtype=np.float32)),
        k,
        chunk,
    )
    return candidate_frame(customers, values, index)


def candidate_frame(customers: np.ndarray, values, index) -> pl.DataFrame:
    """Candidates from top-k tensors [n, k] (rows labelled by `customers`); entries scored -inf
    (excluded, or fewer items than k) are dropped."""
    values, index = values.cpu().numpy(), index.cpu().numpy()
    keep = np.isfinite(values).ravel()
    return pl.DataFrame(
        {
            "customer": np.repeat(np.asarray(customers), values.shape[1]).astype(np.uint32)[keep],
            "article": index.ravel().astype(np.uint32)[keep],
            "score": values.ravel().astype(np.float32)[keep],
        }
    )


def top_k_on_device(users, items, k: int, chunk: int = 4096, exclude=None, exclude_pairs=None, add_pairs=None):
    """Exact top k of `users @ items.T` ([n, d] and [m, d] tensors, on any device), a chunk of
    users at a time so the score matrix never exceeds chunk x m. `exclude`: bool [m], True = never
    proposed; `exclude_pairs`: (user row, item) long tensors, e.g. what each customer already has;
    `add_pairs`: (user row, item, value) added to those scores first (a repeat term; repeats sum).
    Returns (values, index), each [n, min(k, m)] on the users' device; an excluded item only
    appears (scored -inf) when fewer than k items are left. Scores are computed in float32."""
    import torch

    k = min(k, items.shape[0])
    items = items.float()
    if exclude_pairs is not None:
        rows, cols = exclude_pairs
        order = torch.argsort(rows, stable=True)
        rows, cols = rows[order], cols[order]
    if add_pairs is not None:
        add_rows, add_cols, add_values = add_pairs
        order = torch.argsort(add_rows, stable=True)
        add_rows, add_cols, add_values = add_rows[order], add_cols[order], add_values[order]
    values, index = [], []
    for lo in range(0, users.shape[0], chunk):
        scores = users[lo : lo + chunk].float() @ items.T
        if add_pairs is not None:
            a, b = torch.searchsorted(
                add_rows, torch.tensor([lo, lo + scores.shape[0]], device=add_rows.device)
            ).tolist()
            scores.index_put_((add_rows[a:b] - lo, add_cols[a:b]), add_values[a:b].float(), accumulate=True)
        if exclude is not None:
            scores.masked_fill_(exclude.unsqueeze(0), -torch.inf)
        if exclude_pairs is not None:
            a, b = torch.searchsorted(rows, torch.tensor([lo, lo + scores.shape[0]], device=rows.device)).tolist()
            scores[rows[a:b] - lo, cols[a:b]] = -torch.inf
        v, i = torch.topk(scores, k, dim=1)
        values.append(v)
        index.append(i)
    if not values:
        empty = users.new_zeros((0, k))
        return empty.float(), empty.long()
    return torch.cat(values), torch.cat(index)


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
                "article": np.concatenate([np.asarray(ids, dtype=np.uint32) for ids, _ in found])
                if found
                else np.empty(0, np.uint32),
                "score": np.concatenate([np.asarray(d, dtype=np.float32) for _, d in found])
                if found
                else np.empty(0, np.float32),
            }
        )
