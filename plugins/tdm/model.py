"""TDM's user-node preference model (Zhu et al., 2018): a deep network, not an inner product.

A node is a vector: a leaf is its article's vector (id embedding plus side-feature embeddings,
so leaves share with articles and keep them when the tree is rebuilt), an inner node has its own
embedding. The customer's recent purchases (the same article vectors) are grouped into time
windows by purchase age; within each window a local activation unit, queried by the node, weighs
the purchases ([history, node, history - node, history * node] -> PReLU MLP -> weight; padding gets
0) and the weighted purchases are averaged. The window vectors, their products with the node, the
node and the customer's features go through a PReLU MLP to one logit. With the repeat term, a
leaf of an article in the customer's own history gets a learned bonus per purchase age (the two
towers' `RepeatTerm`): the attention pool blurs which articles were bought, and on logs where
customers rebuy, those are the surest hits. With the popularity prior every node's logit gets a
fixed offset: the log odds its subtree's share of the prior gives against the level's uniform
negatives (fitting.node_offsets), times a learned weight per level (how far the week's sales
decide that level, 1 at the start), so the model learns a residual on the week's best sellers and
the beam follows them.

Scoring is where the time goes (beam search scores ~beam * b * depth nodes per customer), so it
is written as a few batched matrix products with nothing of size nodes x purchases x units built
by broadcasting. The activation unit's first layer is linear in [h, q, h - q, h * q], i.e.
sum_e q_e (h_e W4[e] + (W2 - W3)[e]) + h (W1 + W3) + bias: per customer one matrix over [q, 1]
that covers every purchase, applied to all scored nodes in one product. The window pooling is a
second product (attention weights x purchases placed in their window's slot).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hmrec_cli.toolkit.towers import RepeatTerm

WINDOWS = (7, 30, 90)  # purchase-age windows in days: 1-7, 8-30, 31-90, older


@dataclass(frozen=True)
class Shape:
    """Sizes the network is built for."""

    articles: int  # number of articles (article index + 1 is the embedding row; 0 = padding)
    first_leaf: int  # node ids below it are inner nodes
    article_fields: tuple[int, ...]  # cardinality of each article side feature
    customer_fields: tuple[int, ...]
    dense: int = 0  # the customer's activity features (the core's USER_DENSE)
    embedding_size: int = 16
    side_dim: int = 8
    attention_hidden: int = 8
    hidden: tuple[int, ...] = (32, 16)


@dataclass
class Encoded:
    """A batch of customers, encoded once and scored against many nodes."""

    attention: torch.Tensor  # [B, E + 1, L * H]: the activation unit's first layer as a matrix over [node, 1]
    windowed: torch.Tensor  # [B, L, W * E]: each purchase's vector in its window's slot, over the window's count
    customer: torch.Tensor  # [B, C] customer feature vector
    items: torch.Tensor  # [B, L] the history's article indexes + 1 (0 = padding)
    repeat: torch.Tensor | None  # [B, L] the repeat term's bonus of each history position (None: no term)
    prior: tuple[torch.Tensor, torch.Tensor] | None = None  # the prior's node offsets [weeks, nodes], each row's week


class PReLU(nn.Module):
    """PReLU with one slope per feature of the last dimension (torch's takes dimension 1)."""

    def __init__(self, width: int):
        super().__init__()
        self.slope = nn.Parameter(torch.full((width,), 0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.prelu(x.reshape(-1, x.shape[-1]), self.slope.to(x.dtype)).view(x.shape)


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear + PReLU layers, then a final linear layer to one output."""
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(a, b), PReLU(b)]
    layers.append(nn.Linear(widths[-1], 1))
    return nn.Sequential(*layers)


class NodeScorer(nn.Module):
    def __init__(
        self,
        shape: Shape,
        article_codes: torch.Tensor,
        customer_codes: torch.Tensor,
        leaf_article: torch.Tensor,
        repeat: bool = False,
        node_level: torch.Tensor | None = None,
    ):
        """`article_codes`: [articles + 1, fields] side-feature codes by article index + 1 (row 0 =
        padding); `customer_codes`: [customers, fields]; `leaf_article`: per node, the index + 1
        of the article at that leaf (0 for inner and empty nodes); `repeat`: add the repeat term;
        `node_level`: [nodes] each node's level, given when the popularity prior is added (its
        offsets get a learned weight per level, starting at 1)."""
        super().__init__()
        self.shape = shape
        self.repeat = RepeatTerm() if repeat else None
        self.prior_scale = None if node_level is None else nn.Parameter(torch.ones(int(node_level.max()) + 1))
        e, h = shape.embedding_size, shape.attention_hidden
        self.register_buffer("article_codes", article_codes, persistent=False)
        self.register_buffer("customer_codes", customer_codes, persistent=False)
        self.register_buffer("leaf_article", leaf_article)  # persistent: the tree is part of the model
        self.register_buffer("node_level", node_level, persistent=False)
        self.article_id = nn.Embedding(shape.articles + 1, e, padding_idx=0)
        self.article_side = nn.ModuleList(nn.Embedding(n, e) for n in shape.article_fields)
        self.inner = nn.Embedding(shape.first_leaf, e)
        self.customer_side = nn.ModuleList(nn.Embedding(n, shape.side_dim) for n in shape.customer_fields)
        self.attention_in = nn.Linear(4 * e, h)
        self.attention_out = nn.Sequential(PReLU(h), nn.Linear(h, 1))
        windows = len(WINDOWS) + 1
        self.head = mlp(
            [2 * windows * e + e + shape.side_dim * len(shape.customer_fields) + shape.dense, *shape.hidden]
        )
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

    def encode(
        self, items: torch.Tensor, age_days: torch.Tensor, customers: torch.Tensor, dense: torch.Tensor
    ) -> Encoded:
        """`items`: [B, L] article index + 1 (0 = padding); `age_days`: [B, L] days before the week;
        `customers`: [B] customer indexes; `dense`: [B, shape.dense] activity features."""
        e = self.shape.embedding_size
        vec = self.article_vectors(items)  # [B, L, E]
        w1, w2, w3, w4 = self.attention_in.weight.split([e, e, e, e], dim=1)  # each [H, E]
        b, length = items.shape
        per_item = vec.unsqueeze(-1) * w4.T + (w2 - w3).T  # [B, L, E, H]
        constant = (vec @ (w1 + w3).T + self.attention_in.bias).unsqueeze(2)  # [B, L, 1, H]
        attention = torch.cat([per_item, constant], 2).permute(0, 2, 1, 3).reshape(b, e + 1, -1)
        window = torch.bucketize(
            age_days.long(), torch.tensor(WINDOWS, device=items.device)
        )  # age 7 -> window 0, 8 -> 1
        onehot = nn.functional.one_hot(window, len(WINDOWS) + 1).to(vec.dtype) * (items > 0).unsqueeze(-1).to(vec.dtype)
        onehot = onehot / onehot.sum(1, keepdim=True).clamp(min=1)  # [B, L, W]
        windowed = (onehot.unsqueeze(-1) * vec.unsqueeze(2)).reshape(b, length, -1)
        codes = self.customer_codes[customers]
        customer = torch.cat([*(t(codes[:, i]) for i, t in enumerate(self.customer_side)), dense.to(vec.dtype)], dim=-1)
        repeat = None if self.repeat is None else self.repeat.position_weights(items, age_days)
        return Encoded(attention, windowed, customer, items, repeat)

    def node_table(self) -> torch.Tensor:
        """[nodes, E] every node's vector, for scoring many customers with fixed weights."""
        return self.node_vectors(torch.arange(self.leaf_article.numel(), device=self.leaf_article.device))

    def score(self, enc: Encoded, nodes: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, M] of each customer for each of `nodes` ([B, M] per customer, or [M] shared);
        `table` (from node_table) saves recomputing node vectors when the weights are fixed."""
        if table is None:  # vectors of the distinct nodes only (training batches repeat the upper levels a lot)
            distinct, where = torch.unique(nodes, return_inverse=True)
            q = nn.functional.embedding(where, self.node_vectors(distinct))
        else:
            q = nn.functional.embedding(nodes, table)
        b, length, h = enc.attention.shape[0], enc.windowed.shape[1], self.shape.attention_hidden
        if q.dim() == 2:
            q = q.unsqueeze(0).expand(b, -1, -1)
        m = q.shape[1]
        hidden = torch.bmm(torch.cat([q, q.new_ones(b, m, 1)], -1), enc.attention.to(q.dtype))  # [B, M, L * H]
        weights = self.attention_out(hidden.view(b, m, length, h)).squeeze(-1)  # [B, M, L]; padding is 0 in `windowed`
        pooled = torch.bmm(weights, enc.windowed.to(weights.dtype))  # [B, M, W * E]: per window, the weighted mean
        windows = pooled.shape[-1] // q.shape[-1]
        features = torch.cat(
            [pooled, pooled * q.repeat(1, 1, windows), q, enc.customer.unsqueeze(1).expand(-1, m, -1).to(q.dtype)],
            dim=-1,
        )
        with torch.autocast(features.device.type, enabled=False):  # bf16 logits would tie many nodes in the beam
            logits = self.head(features.float()).squeeze(-1)
            if enc.prior is not None:
                offsets, week = enc.prior
                at = nodes if nodes.dim() == 2 else nodes.unsqueeze(0)
                logits = logits + offsets[week.unsqueeze(1), at] * self.prior_scale[self.node_level[at]]
            return logits if enc.repeat is None else logits + self.repeat_bonus(enc, nodes)

    def repeat_bonus(self, enc: Encoded, nodes: torch.Tensor) -> torch.Tensor:
        """[B, M] the repeat term of each node: summed over the history positions holding the
        node's article (0 for inner nodes, whose leaf_article is 0, and for articles not bought)."""
        articles = self.leaf_article[nodes]
        if articles.dim() == 1:
            articles = articles.unsqueeze(0)
        held = (enc.items.unsqueeze(1) == articles.unsqueeze(-1)) & (articles > 0).unsqueeze(-1)  # [B, M, L]
        return (held.float() * enc.repeat.float().unsqueeze(1)).sum(-1)
