"""TDM's training targets: a bought article's leaf and all its ancestors are positives, one per
level below the root; on each level `n` negatives are drawn uniformly from that level's other
valid nodes, never the ancestor (Zhu et al., 2018, section 3.2).

The draw is exact without rejection: with the level's valid nodes in a list and the ancestor at
position p, a uniform draw r from the other count-1 positions is shifted by one when r >= p. Levels
with a single valid node have no negative to give; those slots are masked. All levels and examples
are drawn at once from torch's global generator (so a checkpoint's RNG state resumes it exactly).
"""

from __future__ import annotations

import numpy as np
import torch
from hmrec_plugins.tdm.tree import Tree


class LevelSampler:
    def __init__(self, tree: Tree, device: torch.device):
        levels = np.arange(1, tree.depth + 1)
        lists = [tree.level_nodes(int(level)) for level in levels]
        counts = np.array([lst.size for lst in lists], dtype=np.int64)
        rank = np.full(tree.n_nodes, -1, dtype=np.int64)
        for lst in lists:  # one pass per level
            rank[lst] = np.arange(lst.size)
        self.depth = tree.depth
        self.flat = torch.from_numpy(np.concatenate(lists)).to(device)
        self.offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]])).to(device)
        self.counts = torch.from_numpy(counts).to(device)
        self.rank = torch.from_numpy(rank).to(device)
        self.paths = torch.from_numpy(tree.paths[:, 1:]).to(device)  # [N, D]: ancestors on levels 1..D

    def positives(self, articles: torch.Tensor) -> torch.Tensor:
        """[E, D]: each article's ancestors on levels 1..D (the last is its leaf)."""
        return self.paths[articles]

    def negatives(self, positives: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """[E, D, n] uniform draws from each level's valid nodes other than the positive on that
        level, and a mask that is False where a level has no other valid node."""
        e, d = positives.shape
        others = (self.counts - 1).clamp(min=1).to(torch.float32)  # [D]
        draw = (torch.rand(e, d, n, device=positives.device) * others[:, None]).long()
        draw = torch.minimum(draw, (others.long() - 1)[:, None])  # float rounding at the top end
        draw = draw + (draw >= self.rank[positives].unsqueeze(-1)).long()
        mask = (self.counts > 1)[None, :, None].expand(e, d, n)
        index = (self.offsets[:, None] + draw).clamp(max=self.flat.numel() - 1)
        return self.flat[index], mask
