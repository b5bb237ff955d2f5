"""The user tower of the neural retrievers (youtube-dnn, sampled-softmax, hsoftmax), and the
article encoder it shares with item towers.

User tower: history articles (id embedding + side-feature embeddings) pooled over real positions
only, either by a time-decayed mean or by a target-free attention pool (a learned query scores
each purchase from its vector and its age; softmax over the real positions), concatenated with
customer side features and dense activity, then an MLP to the user vector. Its inputs are
`hmrec_cli.toolkit.weekly_examples.UserInputs`; `user_vectors` runs it on the inputs `user_inputs`
builds for any customers at a week's cut (built once per call and shared with `repeat_pairs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hmrec_cli.toolkit.batches import predict_in_batches, to_device
from hmrec_cli.toolkit.features import article_side_table, customer_codes, recent_sales
from hmrec_cli.toolkit.weekly_examples import USER_DENSE, UserInputs, weeks_holding

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
        for a, b in zip(widths, widths[1:], strict=False):
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
        bucket = age_buckets(items, age_days)
        scores = torch.tanh(self.key(vectors + self.age(bucket))) @ self.query
        weights = torch.softmax(scores.float().masked_fill(~mask, -torch.inf), dim=1).nan_to_num(
            0.0
        )  # all padding: NaN -> 0
        return (weights.unsqueeze(-1).to(vectors.dtype) * vectors).sum(1)

    def forward(
        self, customer: torch.Tensor, items: torch.Tensor, age_days: torch.Tensor, dense: torch.Tensor
    ) -> torch.Tensor:
        parts = [self.pooled(items, age_days), self.customer_sides(self.customer_codes[customer]), dense]
        return self.mlp(torch.cat(parts, dim=-1))


def age_buckets(items: torch.Tensor, age_days: torch.Tensor) -> torch.Tensor:
    """Purchase age in log2 days, 1..AGE_BUCKETS-1 (0 = padding), as the attention pool and DIN bucket it."""
    return torch.where(items > 0, torch.log2(age_days.clamp(min=1).float()).long().clamp(max=AGE_BUCKETS - 2) + 1, 0)


class RepeatTerm(nn.Module):
    """A learned bonus on the logit of each article in the customer's own history: one weight per
    purchase-age bucket, summed over the history positions holding the article. A pooled user vector
    blurs which articles the customer bought (an average of 32 purchases points near none of them),
    so on a log where customers buy the same articles again the inner product alone cannot rank them
    first; this term can, and learns from the training weeks how much a purchase of each age counts
    (zero when nobody repeats). Starts at zero: the model starts as it was without it."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(AGE_BUCKETS))

    def position_weights(self, items: torch.Tensor, age_days: torch.Tensor) -> torch.Tensor:
        """[B, P] bonus each history position adds to its article (0 on padding)."""
        return torch.where(items > 0, self.weight[age_buckets(items, age_days)], 0.0)

    def on_columns(self, items: torch.Tensor, age_days: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """[B, C] bonus of each row's history on article indexes `columns` (duplicates allowed): each
        history position finds its article among the distinct columns by binary search, so the
        cost grows with B x positions, not B x positions x C (which took 3x an epoch at full scale)."""
        weights = self.position_weights(items, age_days)
        distinct, inverse = torch.unique(columns, return_inverse=True)  # sorted
        slot = torch.searchsorted(distinct, items - 1).clamp(max=distinct.numel() - 1)
        held = (items > 0) & (distinct[slot] == items - 1)
        rows = torch.arange(items.shape[0], device=items.device).unsqueeze(1).expand_as(items)
        bonus = weights.new_zeros(items.shape[0], distinct.numel()).index_put(
            (rows[held], slot[held]), weights[held], accumulate=True
        )  # row-major entries: each cell sums its positions in order, as a loop over them would
        return bonus[:, inverse]

    def on_lookup(
        self, items: torch.Tensor, age_days: torch.Tensor, column_of: torch.Tensor, width: int
    ) -> torch.Tensor:
        """[B, width] bonus where `column_of` maps article index + 1 to a column (-1: none), each
        article at most once among the columns (a scatter, no comparison with every column)."""
        weights = self.position_weights(items, age_days)
        column = column_of[items]
        real = column >= 0
        rows = torch.arange(items.shape[0], device=items.device).unsqueeze(1).expand_as(items)
        bonus = weights.new_zeros(items.shape[0], width)
        return bonus.index_put((rows[real], column[real]), weights[real], accumulate=True)


@dataclass(frozen=True)
class PopularityPrior:
    """A fixed offset on every article's logit from its sales in the 7 days before the week:
    `sold` if it sold at all, plus `power` x log(sales); 0 if it did not sell. Fitted once, by
    maximum likelihood, on the training weeks' purchases before the towers train (`fit`), then held
    fixed, so the towers learn what popularity does not explain (a residual). Learned with the
    towers it would go the wrong way on a small log: a per-article bias that has memorised each
    target already explains it, and a term for last week's sales then learns to push down what
    sold (measured on the H&M extract). A per-article bias alone learns only the training weeks'
    mean popularity, which a shop whose best sellers change every week has already left behind."""

    sold: float = 0.0
    power: float = 0.0

    def logits(self, counts: torch.Tensor) -> torch.Tensor:
        """Sales counts (any shape) -> the offsets, float32."""
        log = torch.log(counts.clamp(min=1).double())
        return torch.where(counts > 0, self.sold + self.power * log, 0.0).float()

    @classmethod
    def fit(cls, counts: torch.Tensor, week: torch.Tensor, target: torch.Tensor) -> PopularityPrior:
        """Maximum likelihood of the training purchases under softmax(offsets) over the articles:
        `counts` [weeks, articles] each article's sales before each training week, `week` and
        `target` [purchases] each purchase's week and article (columns of `counts`). Two
        parameters, so a log with a few hundred purchases fits them as well as a large one."""
        counts = counts.double()
        sold, log = (counts > 0).double(), torch.log(counts.clamp(min=1))
        per_week = torch.bincount(week, minlength=counts.shape[0]).double()
        params = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        solver = torch.optim.LBFGS([params], max_iter=100, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:
            solver.zero_grad()
            logits = params[0] * sold + params[1] * log
            value = (per_week * torch.logsumexp(logits, dim=1)).sum() - logits[week, target].sum()
            value = value / max(target.numel(), 1)
            value.backward()
            return value

        if target.numel():
            solver.step(loss)
        sold, power = params.detach().tolist()
        return cls(sold, power)


def week_offsets(history, examples, start, articles: int, kept=None, columns=None):
    """(the fitted PopularityPrior, its offsets [training weeks + 1, articles]): the prior fitted
    on `examples`' purchases (a WeeklyExamples), then each training week's offsets and, last, the
    offsets of the week starting at `start`. `kept`: the softmax's article indexes (None: all),
    `columns`: each purchase's column among them (None: its article)."""
    counts = torch.from_numpy(recent_sales(history, [*examples.starts, start], articles))
    training = counts[:-1] if kept is None else counts[:-1, torch.as_tensor(kept).cpu()]
    week = torch.from_numpy(examples.week[examples.pair_example])
    target = torch.from_numpy(examples.pair_article if columns is None else columns)
    fitted = PopularityPrior.fit(training, week, target)
    return fitted, fitted.logits(counts)


def subtree_mass(paths: torch.Tensor, nodes: int, weights: torch.Tensor) -> torch.Tensor:
    """[weeks, nodes] the summed `weights` [weeks, articles] of the articles below each node of a
    tree; `paths` [articles, L]: each article's nodes (-1: none). One sparse product of the
    article-to-node incidence and the weights, in float64: the popularity prior on every node of a
    tree (hsoftmax, TDM)."""
    article, column = torch.nonzero(paths >= 0, as_tuple=True)
    incidence = torch.sparse_coo_tensor(
        torch.stack([paths[article, column], article]),
        torch.ones(article.shape[0], dtype=torch.float64, device=paths.device),
        (nodes, paths.shape[0]),
        check_invariants=True,
    )
    return torch.sparse.mm(incidence, weights.double().T).T


def nothing_to_learn(name: str, ctx, params) -> str:
    """The warning of a fit whose weeks hold no example, naming the weeks it searched: `weeks`, or
    more where `min_purchases` widened them (`params`: a TowerParams)."""
    searched = weeks_holding(ctx.history, ctx.week, params.weeks, params.min_purchases)
    return (
        f"{name}: no week with purchases and earlier history in the {searched} weeks before {ctx.week.start}; "
        "proposing the popular articles"
    )


def repeat_pairs(
    term: RepeatTerm, inputs: UserInputs, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row, article index, bonus) of every history position of `inputs`' customers (rows in the
    order `user_vectors` returns them for the same inputs): the repeat term at serving."""
    items = torch.from_numpy(inputs.items).to(device)
    with torch.no_grad():
        weights = term.position_weights(items, torch.from_numpy(inputs.age_days).to(device))
    rows, position = torch.nonzero(items > 0, as_tuple=True)
    return rows, items[rows, position] - 1, weights[rows, position].float()


def tower_shape(ctx, params) -> tuple[Shape, torch.Tensor, torch.Tensor]:
    """The Shape for a fit (`params`: a TowerParams) and the static code tables it embeds:
    article side features by article index + 1, customer side features by customer index."""
    articles = article_side_table(ctx.articles, ctx.history, ctx.week, ctx.customers)
    people = customer_codes(ctx.customers)
    shape = Shape(
        articles=ctx.articles.height + 1,
        article_fields=articles.sizes,
        customer_fields=people.sizes,
        dense=len(USER_DENSE),
        embedding_size=params.embedding_size,
        side_dim=params.side_embedding_size,
        hidden=tuple(int(h) for h in params.hidden.split(",")),
        pooling=params.pooling,
        half_life_days=params.half_life_days,
    )
    return shape, torch.from_numpy(articles.values), torch.from_numpy(people.values)


def user_vectors(
    tower: UserTower, inputs: UserInputs, device: torch.device, batch: int = 8192
) -> tuple[np.ndarray, torch.Tensor]:
    """`inputs`' customers (sorted, distinct) and their user vectors [n, E] on `device` (customers
    without history get a vector from their features alone)."""
    t = to_device(inputs.arrays(), device)
    tower.eval()
    vectors = predict_in_batches(
        lambda idx: tower(t["customer"][idx], t["items"][idx], t["age_days"][idx], t["dense"][idx]),
        inputs.customer.size,
        batch,
        device,
    )
    return inputs.customer, torch.from_numpy(vectors.reshape(inputs.customer.size, -1)).to(device)
