"""The towers as torch modules, and the two losses.

User tower: history articles (id embedding + side-feature embeddings) pooled over real positions
only, either by a time-decayed mean or by a target-free attention pool (a learned query scores
each purchase from its vector and its age; softmax over the real positions), concatenated with
customer side features and dense activity, then an MLP to the user vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

AGE_BUCKETS = 16  # purchase age in log2 days (bucket 0 = padding), as DIN buckets it


@dataclass(frozen=True)
class Shape:
    articles: int  # article indexes + 1 (0 = padding)
    article_fields: tuple[int, ...]  # cardinality of each article side feature (price band last)
    customer_fields: tuple[int, ...]
    dense: int
    embedding_size: int = 64
    side_dim: int = 16
    hidden: tuple[int, ...] = (256,)
    pooling: str = "mean"
    half_life_days: float = 30.0


class SideFeatures(nn.Module):
    """Several categorical fields embedded by one table (each field's codes offset into it): one
    lookup and one gradient per step instead of one per field. [..., fields] -> [..., fields * D]."""

    def __init__(self, sizes: tuple[int, ...], dim: int):
        super().__init__()
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)
        self.table = nn.Embedding(sum(sizes), dim)
        self.width = dim * len(sizes)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.table(codes + self.offsets).flatten(-2)


class ArticleEncoder(nn.Module):
    """An article's vector from its id and side features: id embedding + projected side embeddings."""

    def __init__(self, shape: Shape, article_codes: torch.Tensor):
        super().__init__()
        self.register_buffer("codes", article_codes, persistent=False)  # [articles + 1, fields], row 0 = padding
        self.ids = nn.Embedding(shape.articles, shape.embedding_size, padding_idx=0)
        self.sides = SideFeatures(shape.article_fields, shape.side_dim)
        self.project = nn.Linear(self.sides.width, shape.embedding_size, bias=False)
        nn.init.normal_(self.ids.weight, std=0.05)

    def forward(self, articles: torch.Tensor) -> torch.Tensor:
        """`articles`: indexes + 1 (0 = padding), any shape -> [..., E]. Vectors are computed once
        per distinct article of the call and gathered (a history repeats articles often)."""
        distinct, where = torch.unique(articles, return_inverse=True)
        vectors = self.ids(distinct) + self.project(self.sides(self.codes[distinct]))
        return nn.functional.embedding(where, vectors)


class UserTower(nn.Module):
    def __init__(self, shape: Shape, article_codes: torch.Tensor, customer_codes: torch.Tensor):
        super().__init__()
        self.shape = shape
        self.register_buffer("customer_codes", customer_codes, persistent=False)
        self.history = ArticleEncoder(shape, article_codes)
        self.customer_sides = SideFeatures(shape.customer_fields, shape.side_dim)
        e = shape.embedding_size
        if shape.pooling == "attention":
            self.age = nn.Embedding(AGE_BUCKETS, e)
            self.key = nn.Linear(e, e)
            self.query = nn.Parameter(torch.zeros(e))
        widths = [e + self.customer_sides.width + shape.dense, *shape.hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], e))
        self.mlp = nn.Sequential(*layers)

    def pooled(self, items: torch.Tensor, age_days: torch.Tensor) -> torch.Tensor:
        """[batch, length] history -> [batch, E]; all-padding rows pool to zeros."""
        vectors = self.history(items)
        mask = items > 0
        if self.shape.pooling == "mean":
            weights = torch.where(mask, torch.pow(0.5, age_days.float() / self.shape.half_life_days), 0.0)
            return (weights.unsqueeze(-1) * vectors).sum(1) / weights.sum(1, keepdim=True).clamp(min=1e-6)
        bucket = torch.where(mask, torch.log2(age_days.clamp(min=1).float()).long().clamp(max=AGE_BUCKETS - 2) + 1, 0)
        scores = torch.tanh(self.key(vectors + self.age(bucket))) @ self.query
        weights = torch.softmax(scores.float().masked_fill(~mask, -torch.inf), dim=1).nan_to_num(0.0)  # all padding: NaN -> 0
        return (weights.unsqueeze(-1).to(vectors.dtype) * vectors).sum(1)

    def forward(self, customer: torch.Tensor, items: torch.Tensor, age_days: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        parts = [self.pooled(items, age_days), self.customer_sides(self.customer_codes[customer]), dense]
        return self.mlp(torch.cat(parts, dim=-1))


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
    def __init__(self, shape: Shape, article_codes: torch.Tensor, customer_codes: torch.Tensor, loss: str):
        super().__init__()
        self.loss_kind = loss
        self.user = UserTower(shape, article_codes, customer_codes)
        self.articles = OutputEmbeddings(shape.articles - 1, shape.embedding_size) if loss == "full" else ItemTower(shape, article_codes)

    def serving_items(self) -> torch.Tensor:
        """[articles, D]: what user vectors (`serving_users`) are multiplied with."""
        if self.loss_kind == "full":
            return self.articles.all()
        return self.articles(torch.arange(self.articles.encoder.ids.num_embeddings - 1, device=self.articles.encoder.ids.weight.device))

    def serving_users(self, users: torch.Tensor) -> torch.Tensor:
        return torch.cat([users, users.new_ones(users.shape[0], 1)], dim=1) if self.loss_kind == "full" else users


def full_softmax_loss(users: torch.Tensor, out: OutputEmbeddings, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every article: logits = users @ W.T + b."""
    logits = users.float() @ out.weight.float().T + out.bias.float()
    return nn.functional.cross_entropy(logits, targets)


def sampled_softmax_loss(scores: torch.Tensor, log_q: torch.Tensor | None, mask: torch.Tensor | None = None) -> torch.Tensor:
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
