"""The Deep Interest Network (Zhou et al., KDD 2018) as a torch module.

A candidate article is compared with each article of the customer's recent history by a local
activation unit (an MLP over [history item, candidate, difference, product, age of purchase]);
its outputs weight the history items *without* softmax normalisation, as in the paper, so the
pooled interest keeps the intensity of the customer's interest; padding positions get weight 0.
Activations are Dice (a data-adaptive PReLU).

Wide & deep from merge's order: each row's logit is a fixed starting score (`prior`: merge's
tuned order, -log(1 + position), given with the batch) plus a linear (wide) part over the
standardised dense features plus the network. The wide part and the network's output layer start
at zero, so training starts exactly at merge's order; the linear part and then the deep part
move away from it only where the data supports it (with few buyers, DIN stays close to merge).
The dense features are standardised on the training rows and clipped to a few standard
deviations: a week unlike every training week (a promotion's sales, 27 standard deviations out on
Ta-Feng) must not send either part where it never learned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

AGE_BUCKETS = 16  # purchase age in log2 days: 1, 2-3, 4-7, ... (bucket 0 = padding)


class Dice(nn.Module):
    """p(s) * s + (1 - p(s)) * alpha * s with p = sigmoid(batch-normalised s) (paper eq. 8)."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(width, affine=False)
        self.alpha = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        p = torch.sigmoid(self.norm(flat.float())).to(flat.dtype)
        return (p * flat + (1 - p) * self.alpha * flat).reshape(x.shape)


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear + Dice layers, then a final linear layer to one output."""
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(a, b), Dice(b)]
    layers.append(nn.Linear(widths[-1], 1))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Shape:
    """Sizes the network is built for (all known before training starts)."""

    articles: int  # article indexes + 1 (0 = padding)
    article_fields: tuple[int, ...]  # cardinality of each side feature
    customer_fields: tuple[int, ...]
    price_bands: int
    dense: int
    id_dim: int = 32
    side_dim: int = 8
    attention_hidden: int = 36
    hidden: tuple[int, ...] = (200, 80)
    history: str = "attention"  # attention | mean | none (a history-blind model)
    wide: bool = True  # a linear part over the dense features beside the network
    dense_clip: float = 3.0  # standardised dense features are clipped to +-this (0: not clipped)


class DIN(nn.Module):
    def __init__(self, shape: Shape, article_codes: torch.Tensor, customer_codes: torch.Tensor):
        super().__init__()
        self.shape = shape
        # static lookup tables: article index + 1 -> side-feature codes; customer index -> codes
        self.register_buffer("article_codes", article_codes, persistent=False)
        self.register_buffer("customer_codes", customer_codes, persistent=False)
        self.register_buffer("dense_mean", torch.zeros(shape.dense))
        self.register_buffer("dense_std", torch.ones(shape.dense))
        self.article_id = nn.Embedding(shape.articles, shape.id_dim, padding_idx=0)
        self.article_side = nn.ModuleList(nn.Embedding(n, shape.side_dim) for n in shape.article_fields)
        self.customer_side = nn.ModuleList(nn.Embedding(n, shape.side_dim) for n in shape.customer_fields)
        self.price_band = nn.Embedding(shape.price_bands, shape.side_dim)
        self.age = nn.Embedding(AGE_BUCKETS, shape.side_dim)
        item = shape.id_dim + shape.side_dim * len(shape.article_fields)
        self.attention = mlp([4 * item + shape.side_dim, shape.attention_hidden])
        width = (
            item * (1 if shape.history == "none" else 2)
            + shape.side_dim * (len(shape.customer_fields) + 1)
            + shape.dense
        )
        self.head = mlp([width, *shape.hidden])
        self.wide = nn.Linear(shape.dense, 1) if shape.wide else None
        if shape.wide:  # start at the given prior; the linear and deep parts grow from zero
            for layer in (self.head[-1], self.wide):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def item_vectors(self, articles: torch.Tensor) -> torch.Tensor:
        """Articles' vectors (id embedding and side-feature embeddings, concatenated); 0 = padding."""
        codes = self.article_codes[articles]
        return torch.cat(
            [self.article_id(articles), *(e(codes[..., i]) for i, e in enumerate(self.article_side))], dim=-1
        )

    def interest(
        self,
        table: torch.Tensor,
        candidate: torch.Tensor,
        history: torch.Tensor,
        age_days: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Pooled history: attention-weighted sum (weights unnormalised, 0 on padding), plain mean, or none.
        `history` indexes rows of `table` (the vectors of the batch's distinct articles).

        The activation unit's first layer is linear in [h, q, h - q, h * q, age], so it is applied
        as W_h h + W_q q + W_p (h * q) + W_a age with W_h = W1 + W3 and W_q = W2 - W3: the same
        function without building the (batch x length x 4E) concatenation; W_h h is computed once
        per distinct article and gathered.
        """
        if self.shape.history == "none":
            return candidate.new_zeros(candidate.shape[0], 0)
        items = nn.functional.embedding(history, table)  # [batch, length, E]; faster than table[history]
        weights_mask = mask.to(items.dtype).unsqueeze(-1)
        if self.shape.history == "mean":
            return (items * weights_mask).sum(1) / weights_mask.sum(1).clamp(min=1)
        weights = self.attention_weights(table, candidate, history, age_days, mask)
        return (weights.unsqueeze(-1) * items).sum(1)

    def attention_weights(
        self,
        table: torch.Tensor,
        candidate: torch.Tensor,
        history: torch.Tensor,
        age_days: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """The activation unit's weight of each history position for its row's candidate ([batch, length],
        unnormalised, 0 on padding): what `interest` pools the history with."""
        items = nn.functional.embedding(history, table)
        first: nn.Linear = self.attention[0]
        e = table.shape[1]
        w1, w2, w3, w4, w5 = first.weight.split([e, e, e, e, self.shape.side_dim], dim=1)
        bucket = torch.where(mask, torch.log2(age_days.clamp(min=1).float()).long().clamp(max=AGE_BUCKETS - 2) + 1, 0)
        hidden = (
            nn.functional.embedding(history, table @ (w1 + w3).T)
            + (candidate @ (w2 - w3).T + first.bias).unsqueeze(1)
            + (items * candidate.unsqueeze(1)) @ w4.T
            + nn.functional.embedding(bucket, self.age.weight @ w5.T)
        )
        # the rest of the unit runs on real positions only, so padding never enters Dice's statistics
        weights = hidden.new_zeros(mask.shape)
        real = int(mask.sum())  # batch norm needs two rows to train on
        if real > 1 or (real == 1 and not self.training):
            weights[mask] = self.attention[1:](hidden[mask]).squeeze(-1).to(weights.dtype)
        return weights

    def history_weights(
        self, article: torch.Tensor, history: torch.Tensor, age_days: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """`attention_weights` for a batch of (candidate article, history) rows, vectors built as `forward` builds them."""
        distinct, where = torch.unique(torch.cat([article.unsqueeze(1), history], dim=1), return_inverse=True)
        table = self.item_vectors(distinct)
        return self.attention_weights(table, nn.functional.embedding(where[:, 0], table), where[:, 1:], age_days, mask)

    def forward(self, article, customer, history, age_days, mask, price_band, dense, prior=None) -> torch.Tensor:
        """Logits for a batch of (customer, candidate) rows; history/age_days/mask are [batch, length];
        `prior` (optional, per row) is added as it is: the score the model starts from."""
        # vectors of the batch's distinct articles only: a full-catalogue table per step costs more
        # than the step itself on a CPU
        distinct, where = torch.unique(torch.cat([article.unsqueeze(1), history], dim=1), return_inverse=True)
        table = self.item_vectors(distinct)
        candidate = nn.functional.embedding(where[:, 0], table)
        pooled = self.interest(table, candidate, where[:, 1:], age_days, mask)
        codes = self.customer_codes[customer]
        parts = [
            pooled,
            candidate,
            *(e(codes[:, i]) for i, e in enumerate(self.customer_side)),
            self.price_band(price_band),
        ]
        standard = (dense - self.dense_mean) / self.dense_std
        if self.shape.dense_clip > 0:  # why: the module docstring
            standard = standard.clamp(-self.shape.dense_clip, self.shape.dense_clip)
        parts.append(standard)
        features = torch.cat(parts, dim=-1)
        with torch.autocast(features.device.type, enabled=False):  # bf16 logits would tie many candidates
            logits = self.head(features.float()).squeeze(-1)
            if self.wide is not None:
                logits = logits + self.wide(standard.float()).squeeze(-1)
            return logits if prior is None else logits + prior.float()
