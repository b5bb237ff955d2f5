"""The article sides of the two towers, and their losses (the user tower is the core's)."""

from __future__ import annotations

import math

import torch
from torch import nn

from hmrec_cli.toolkit.towers import ArticleEncoder, RepeatTerm, Shape, UserTower


class OutputEmbeddings(nn.Module):
    """youtube-dnn's article side: one vector and one bias per article (indexes without padding)."""

    def __init__(self, articles: int, size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(articles, size) * 0.05)
        self.bias = nn.Parameter(torch.zeros(articles))

    def all(self) -> torch.Tensor:
        """Every article's serving vector: [articles, E + 1], the bias folded in as a last column
        (users get a matching 1), so exact and ANN search rank by vector . user + bias."""
        return torch.cat([self.weight, self.bias.unsqueeze(1)], dim=1)


class ItemTower(nn.Module):
    """sampled-softmax's article side: id and side features -> MLP -> article vector."""

    def __init__(self, shape: Shape, article_codes: torch.Tensor):
        super().__init__()
        self.encoder = ArticleEncoder(shape, article_codes)
        e = shape.embedding_size
        self.mlp = nn.Sequential(nn.ReLU(), nn.Linear(e, e))

    def forward(self, articles: torch.Tensor) -> torch.Tensor:
        """`articles`: indexes (no padding) -> [..., E]."""
        encoded = self.encoder(articles + 1)
        return encoded + self.mlp(encoded)


class TwoTower(nn.Module):
    def __init__(
        self,
        shape: Shape,
        article_codes: torch.Tensor,
        customer_codes: torch.Tensor,
        loss: str,
        repeat: bool = False,
        prior: bool = False,
    ):
        super().__init__()
        self.loss_kind = loss
        self.repeat = RepeatTerm() if repeat else None
        self.prior = prior  # serving adds a per-article offset as a last column (youtube-dnn: to the bias)
        self.user = UserTower(shape, article_codes, customer_codes)
        self.articles = (
            OutputEmbeddings(shape.articles - 1, shape.embedding_size)
            if loss == "full"
            else ItemTower(shape, article_codes)
        )

    def serving_items(self, bonus: torch.Tensor | None = None) -> torch.Tensor:
        """[articles, D]: what user vectors (`serving_users`) are multiplied with. A `bonus`
        [articles] (the popularity prior's offsets) is a last column (youtube-dnn: added to its
        bias column), which the users' matching 1 adds to every score."""
        if self.loss_kind == "full":
            items = self.articles.all()
            return items if bonus is None else torch.cat([items[:, :-1], (items[:, -1] + bonus).unsqueeze(1)], dim=1)
        items = self.articles(
            torch.arange(self.articles.encoder.ids.num_embeddings - 1, device=self.articles.encoder.ids.weight.device)
        )
        return items if bonus is None else torch.cat([items, bonus.unsqueeze(1)], dim=1)

    def serving_users(self, users: torch.Tensor) -> torch.Tensor:
        if self.loss_kind == "full" or self.prior:
            return torch.cat([users, users.new_ones(users.shape[0], 1)], dim=1)
        return users


CHUNK_BYTES = 16 * 2**20  # logits per slice of the batch: under glibc's largest mmap threshold (32 MiB)


def full_softmax_loss(
    users: torch.Tensor,
    out: OutputEmbeddings,
    targets: torch.Tensor,
    columns: torch.Tensor | None = None,
    bonus=None,
) -> torch.Tensor:
    """Cross-entropy over every article, logits = users @ W.T + b; or, with `columns` (article
    indexes), over those articles only, `targets` then being positions in `columns`. `bonus(lo, hi)`,
    when given, adds [hi - lo, columns] to the logits of those rows (the repeat term).

    Computed over slices of the batch whose logits stay under 16 MiB: whole-batch logits (184 MB
    for 1,024 purchases x 45k articles) are fresh mmap'd pages on every step; at that shape a step
    took 0.49 s, 0.43 s of it system time, and takes 0.26 s sliced (measured on 2 cores)."""
    weight, bias = (out.weight, out.bias) if columns is None else (out.weight[columns], out.bias[columns])
    weight, bias = weight.float(), bias.float()
    rows = max(1, CHUNK_BYTES // (4 * weight.shape[0]))
    total = sum(
        nn.functional.cross_entropy(
            users[lo : lo + rows].float() @ weight.T + bias + (bonus(lo, lo + rows) if bonus is not None else 0.0),
            targets[lo : lo + rows],
            reduction="sum",
        )
        for lo in range(0, users.shape[0], rows)
    )
    return total / users.shape[0]


def sampled_softmax_loss(
    scores: torch.Tensor, log_q: torch.Tensor | None, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Softmax cross-entropy where row i's positive is column i of `scores` [B, C] (C >= B: the
    batch's own targets first, then drawn negatives). With `log_q` [C] (log of each column's
    sampling probability) every logit is corrected by subtracting it, so that an article is not
    penalised for being drawn often; `mask` [B, C] True hides a column from a row (another of the
    row's own purchases, or its own article drawn as a negative)."""
    logits = scores.float()
    if log_q is not None:
        logits = logits - log_q.unsqueeze(0)
    if mask is not None:
        logits = logits.masked_fill(mask, -math.inf)
    return nn.functional.cross_entropy(logits, torch.arange(scores.shape[0], device=scores.device))
