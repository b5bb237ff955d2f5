"""TDM's user-node preference model (Zhu et al., 2018): a deep network, not an inner product.

A node is a vector: a leaf is its article's vector (id embedding plus side-feature embeddings,
so leaves share with articles and keep them when the tree is rebuilt), an inner node has its own
embedding. The customer's recent purchases (the same article vectors) are grouped into time
windows by purchase age; within each window a local activation unit, queried by the node, weighs
the purchases ([history, node, history - node, history * node] -> PReLU MLP -> weight; padding gets
0) and the weighted purchases are averaged. The window vectors, their products with the node, the
node and the customer's features go through a PReLU MLP to one logit.

The activation unit's first layer is linear in [h, q, h - q, h * q], so it is applied as
W_h h + W_q q + (h * q) W_p with W_h = W1 + W3, W_q = W2 - W3: W_h h once per purchase, and the
(h * q) W_p term as one batched matrix product per customer over all the nodes it scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

WINDOWS = (7, 30, 90)  # purchase-age windows in days: 1-7, 8-30, 31-90, older


@dataclass(frozen=True)
class Shape:
    """Sizes the network is built for."""

    articles: int  # number of articles (article index + 1 is the embedding row; 0 = padding)
    first_leaf: int  # node ids below it are inner nodes
    article_fields: tuple[int, ...]  # cardinality of each article side feature
    customer_fields: tuple[int, ...]
    embedding_size: int = 24
    side_dim: int = 8
    attention_hidden: int = 16
    hidden: tuple[int, ...] = (64, 32)


@dataclass
class Encoded:
    """A batch of customers, encoded once and scored against many nodes."""

    items: torch.Tensor  # [B, L, E] purchase vectors (0 on padding)
    items_hidden: torch.Tensor  # [B, L, H] W_h h + bias
    items_product: torch.Tensor  # [B, E, L*H] h[l, e] * W_p[e, :], for the batched (h * q) W_p
    windows: torch.Tensor  # [B, L, W] one-hot window of each purchase / purchases in the window (0 on padding)
    customer: torch.Tensor  # [B, C] customer feature vector


class PReLU(nn.Module):
    """PReLU with one slope per feature of the last dimension (torch's takes dimension 1)."""

    def __init__(self, width: int):
        super().__init__()
        self.slope = nn.Parameter(torch.full((width,), 0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0) + self.slope * x.clamp(max=0)


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear + PReLU layers, then a final linear layer to one output."""
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), PReLU(b)]
    layers.append(nn.Linear(widths[-1], 1))
    return nn.Sequential(*layers)


class NodeScorer(nn.Module):
    def __init__(self, shape: Shape, article_codes: torch.Tensor, customer_codes: torch.Tensor, leaf_article: torch.Tensor):
        """`article_codes`: [articles + 1, fields] side-feature codes by article index + 1 (row 0 =
        padding); `customer_codes`: [customers, fields]; `leaf_article`: per node, the index + 1
        of the article at that leaf (0 for inner and empty nodes)."""
        super().__init__()
        self.shape = shape
        e, h = shape.embedding_size, shape.attention_hidden
        self.register_buffer("article_codes", article_codes, persistent=False)
        self.register_buffer("customer_codes", customer_codes, persistent=False)
        self.register_buffer("leaf_article", leaf_article)  # persistent: the tree is part of the model
        self.article_id = nn.Embedding(shape.articles + 1, e, padding_idx=0)
        self.article_side = nn.ModuleList(nn.Embedding(n, e) for n in shape.article_fields)
        self.inner = nn.Embedding(shape.first_leaf, e)
        self.customer_side = nn.ModuleList(nn.Embedding(n, shape.side_dim) for n in shape.customer_fields)
        self.attention_in = nn.Linear(4 * e, h)
        self.attention_out = nn.Sequential(PReLU(h), nn.Linear(h, 1))
        windows = len(WINDOWS) + 1
        self.head = mlp([2 * windows * e + e + shape.side_dim * len(shape.customer_fields), *shape.hidden])
        for table in (self.article_id, self.inner, *self.article_side):
            nn.init.normal_(table.weight, std=0.1)
        with torch.no_grad():
            self.article_id.weight[0].zero_()

    def article_vectors(self, articles: torch.Tensor) -> torch.Tensor:
        """Vectors of article indexes + 1 (0 = padding, which gives a zero vector)."""
        codes = self.article_codes[articles]
        vec = self.article_id(articles)
        for i, table in enumerate(self.article_side):
            vec = vec + table(codes[..., i])
        return vec * (articles > 0).unsqueeze(-1).to(vec.dtype)

    def node_vectors(self, nodes: torch.Tensor) -> torch.Tensor:
        """Vectors of node ids: a leaf's is its article's, an inner node's its own embedding."""
        leaf = nodes >= self.shape.first_leaf
        inner = self.inner(torch.where(leaf, 0, nodes))
        return torch.where(leaf.unsqueeze(-1), self.article_vectors(self.leaf_article[nodes]), inner)

    def encode(self, items: torch.Tensor, age_days: torch.Tensor, customers: torch.Tensor) -> Encoded:
        """`items`: [B, L] article index + 1 (0 = padding); `age_days`: [B, L] days before the week;
        `customers`: [B] customer indexes."""
        e = self.shape.embedding_size
        vec = self.article_vectors(items)
        w1, w2, w3, w4 = self.attention_in.weight.split([e, e, e, e], dim=1)
        hidden = vec @ (w1 + w3).T + self.attention_in.bias
        product = vec.unsqueeze(-1) * w4.T  # [B, L, E, H]
        b, length = items.shape
        bounds = torch.tensor(WINDOWS, device=items.device)
        window = torch.bucketize(age_days.long(), bounds, right=False)  # age 7 -> window 0, 8 -> 1
        onehot = nn.functional.one_hot(window, len(WINDOWS) + 1).to(vec.dtype) * (items > 0).unsqueeze(-1).to(vec.dtype)
        onehot = onehot / onehot.sum(1, keepdim=True).clamp(min=1)
        codes = self.customer_codes[customers]
        customer = torch.cat([t(codes[:, i]) for i, t in enumerate(self.customer_side)], dim=-1) if self.customer_side else vec.new_zeros(b, 0)
        return Encoded(vec, hidden, product.permute(0, 2, 1, 3).reshape(b, e, -1), onehot, customer)

    def score(self, enc: Encoded, nodes: torch.Tensor) -> torch.Tensor:
        """Logits [B, M] of each customer for each of `nodes` ([B, M] per customer, or [M] shared)."""
        q = self.node_vectors(nodes)
        b, length, h = enc.items_hidden.shape
        if q.dim() == 2:
            q = q.unsqueeze(0).expand(b, -1, -1)
        m = q.shape[1]
        w2, w3 = self.attention_in.weight.split(self.shape.embedding_size, dim=1)[1:3]
        hidden = (torch.bmm(q, enc.items_product).view(b, m, length, h) + enc.items_hidden.unsqueeze(1) + (q @ (w2 - w3).T).unsqueeze(2))
        weights = self.attention_out(hidden).squeeze(-1)  # [B, M, L]
        # per window: the weighted mean of its purchases (window one-hot already holds 1 / count and padding 0)
        per_window = weights.unsqueeze(-1) * enc.windows.unsqueeze(1)  # [B, M, L, W]
        pooled = torch.bmm(per_window.transpose(2, 3).reshape(b, -1, length), enc.items).view(b, m, -1, q.shape[-1])  # [B, M, W, E]
        features = torch.cat(
            [pooled.flatten(2), (pooled * q.unsqueeze(2)).flatten(2), q, enc.customer.unsqueeze(1).expand(-1, m, -1)], dim=-1
        )
        return self.head(features).squeeze(-1)
