"""What each shopping customer picks in one week: a mixture with known probabilities.

For a customer c who shops in week w, every article they pick is drawn independently from

    q_c(a) = pi_rep * R_c(a) + pi_sib * S_c(a) + pi_taste * T_c(a)

- R (repurchase): c's own articles of the last 26 weeks, weighted by recency (exp(-weeks ago / 6));
- S (siblings): other live colours of products c bought, by the same recency x current popularity;
- T (taste): a segment (index group x product type) from c's favourites or demographic group, a
  colour tilted towards c's favourite colours, then an article of that cell by popularity.

Everything in q depends only on rows before the week, so ranking articles by q is ranking them by
the true probability of being bought that week given the past: that ranking is the oracle.
`sample` and `top` read the same arrays, which keeps the oracle exact (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

REPURCHASE = 0.005  # weight of R for customers with history
SIBLINGS = 0.015  # weight of S for customers whose bought products have other live colours
RECENCY_WEEKS = 6.0
MEMORY_WEEKS = 26  # purchases older than this no longer drive R and S (their weight would be < 1.3%)
COLOUR_BOOST = 3.0
N_COLOURS = 20


@dataclass(frozen=True)
class Grouped:
    """Sparse per-customer distributions: entries sorted by customer position, probabilities
    summing to 1 within each customer that has any."""

    position: np.ndarray  # customer position (into Choice.customers) per entry
    article: np.ndarray
    prob: np.ndarray

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> Grouped:
        """From columns pos, article, w (weights); sorted here so the result is deterministic."""
        frame = frame.sort("pos", "article")
        position, article, weight = (frame[c].to_numpy() for c in ("pos", "article", "w"))
        totals = np.bincount(position, weights=weight) if position.size else np.zeros(0)
        return cls(position, article, weight / totals[position])

    def has(self, n: int) -> np.ndarray:
        return np.bincount(self.position, minlength=n) > 0

    def sample(self, position: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One article per (position, u): inverse-CDF sampling inside each customer's entries."""
        if position.size == 0:
            return np.empty(0, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, self.position[1:] != self.position[:-1]])
        cum = np.cumsum(self.prob)
        before = np.repeat(cum[starts] - self.prob[starts], np.diff(np.r_[starts, self.prob.size]))
        key = self.position + (cum - before)
        idx = np.searchsorted(key, position + u, side="right")
        last = np.searchsorted(self.position, position, side="right") - 1
        return self.article[np.minimum(idx, last)]


@dataclass(frozen=True)
class Choice:
    """The purchase distributions of one week's shoppers (`customers`, sorted indexes)."""

    customers: np.ndarray
    pi: np.ndarray  # (n, 3) weights of R, S, T
    repurchase: Grouped
    siblings: Grouped
    segment_taste: np.ndarray  # (groups, segments) demographic taste renormalised over live segments
    group: np.ndarray  # demographic group per customer
    loyalty: np.ndarray  # weight of live favourites per customer (0 when none is live)
    favourites: np.ndarray  # (n, 4) favourite segments
    favourite_live: np.ndarray  # (n, 4) bool
    colour_weight: np.ndarray  # (n, 20) colour tilt kappa
    popsum: np.ndarray  # (segments, 20) popularity mass per cell
    live: np.ndarray  # live article indexes, sorted by cell
    live_cell: np.ndarray
    live_pop: np.ndarray
    catalogue_size: int

    @property
    def size(self) -> int:
        return self.customers.size

    def sample(self, rng: np.random.Generator, draws: np.ndarray) -> np.ndarray:
        """An article for each draw (`draws` = customer positions, one per article picked)."""
        v = rng.random(draws.size)
        cum = np.cumsum(self.pi, axis=1)[draws]
        kind = (v[:, None] >= cum[:, :2]).sum(axis=1)
        out = np.empty(draws.size, dtype=np.int64)
        for k, table in ((0, self.repurchase), (1, self.siblings)):
            mine = kind == k
            out[mine] = table.sample(draws[mine], rng.random(int(mine.sum())))
        mine = np.flatnonzero(kind == 2)
        out[mine] = self._sample_taste(rng, draws[mine])
        return out

    def _sample_taste(self, rng: np.random.Generator, draws: np.ndarray) -> np.ndarray:
        n = draws.size
        segment = np.empty(n, dtype=np.int64)
        loyal = rng.random(n) < self.loyalty[draws]
        live = self.favourite_live[draws[loyal]]
        count = live.sum(axis=1)
        pick = np.floor(rng.random(int(loyal.sum())) * count)
        slot = (np.cumsum(live, axis=1) > pick[:, None]).argmax(axis=1)
        segment[loyal] = self.favourites[draws[loyal], slot]
        cdf = np.cumsum(self.segment_taste, axis=1)
        u = rng.random(n)
        for g in range(cdf.shape[0]):
            mine = ~loyal & (self.group[draws] == g)
            segment[mine] = np.minimum(np.searchsorted(cdf[g], u[mine] * cdf[g, -1], side="right"), cdf.shape[1] - 1)
        colour_mass = self.popsum[segment] * self.colour_weight[draws]
        colour_cdf = np.cumsum(colour_mass, axis=1)
        colour = (colour_cdf < rng.random(n)[:, None] * colour_cdf[:, -1:]).sum(axis=1)
        cell = segment * N_COLOURS + np.minimum(colour, N_COLOURS - 1)
        cum = np.cumsum(self.live_pop)
        first = np.searchsorted(self.live_cell, cell, side="left")
        base = np.where(first > 0, cum[np.maximum(first - 1, 0)], 0.0)
        mass = self.popsum[segment, np.minimum(colour, N_COLOURS - 1)]
        idx = np.searchsorted(cum, base + rng.random(n) * mass, side="right")
        last = np.searchsorted(self.live_cell, cell, side="right") - 1
        return self.live[np.clip(idx, first, last)]

    def cell_weights(self, rows: np.ndarray):
        """Per customer at `rows`, the weight of each (segment, colour) cell per unit of popularity:
        T_c(a) = cell_weights[c, cell(a)] * pop(a). A torch tensor (n, segments * colours)."""
        import torch

        n = rows.size
        seg = self.segment_taste[self.group[rows]] * (1 - self.loyalty[rows])[:, None]
        count = np.maximum(self.favourite_live[rows].sum(axis=1), 1)
        for j in range(self.favourites.shape[1]):
            seg[np.arange(n), self.favourites[rows, j]] += self.favourite_live[rows, j] * self.loyalty[rows] / count
        norm = self.colour_weight[rows] @ self.popsum.T  # (n, segments)
        per_segment = torch.from_numpy(np.divide(seg, norm, out=np.zeros_like(seg), where=norm > 0).astype(np.float32))
        kappa = torch.from_numpy(self.colour_weight[rows].astype(np.float32))
        return (per_segment[:, :, None] * kappa[:, None, :]).reshape(n, -1)

    def top(self, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """Each customer's `k` most likely articles and their q, best first: (articles, q)."""
        import torch

        k = min(k, self.live.size)
        articles = np.empty((self.size, k), dtype=np.int64)
        probs = np.empty((self.size, k), dtype=np.float32)
        column = np.full(self.catalogue_size, -1, dtype=np.int64)
        column[self.live] = np.arange(self.live.size)
        live_cell = torch.from_numpy(self.live_cell.astype(np.int64))
        live_pop = torch.from_numpy(self.live_pop.astype(np.float32))
        for lo in range(0, self.size, chunk):
            rows = np.arange(lo, min(lo + chunk, self.size))
            taste_weight = torch.from_numpy(self.pi[rows, 2, None].astype(np.float32))
            q = self.cell_weights(rows).mul_(taste_weight).index_select(1, live_cell).mul_(live_pop)
            for kind, table in enumerate((self.repurchase, self.siblings)):
                a, b = np.searchsorted(table.position, [lo, rows[-1] + 1])
                pos, art = table.position[a:b], table.article[a:b]
                p = (table.prob[a:b] * self.pi[pos, kind]).astype(np.float32)
                q.index_put_(
                    (torch.from_numpy(pos - lo), torch.from_numpy(column[art])), torch.from_numpy(p), accumulate=True
                )
            values, index = torch.topk(q, k, dim=1)
            articles[rows] = self.live[index.numpy()]
            probs[rows] = values.numpy()
        return articles, probs


def build_choice(
    customers: np.ndarray,
    week: int,
    pop: np.ndarray,
    catalogue,
    population,
    segment_taste: np.ndarray,
    log: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Choice:
    """The week's distributions for `customers` (sorted), from popularity and the purchase log."""
    n = customers.size
    n_segments = segment_taste.shape[1]
    live = np.flatnonzero(pop > 0)
    cell = catalogue.segment[live] * N_COLOURS + catalogue.colour[live]
    order = np.argsort(cell, kind="stable")
    live, cell = live[order], cell[order]
    popsum = np.bincount(cell, weights=pop[live], minlength=n_segments * N_COLOURS).reshape(n_segments, N_COLOURS)
    live_segment = popsum.sum(axis=1) > 0
    taste = segment_taste * live_segment
    taste = taste / np.maximum(taste.sum(axis=1, keepdims=True), 1e-300)

    fav = population.favourite_segments[customers]
    fav_live = live_segment[fav]
    loyalty = np.where(fav_live.any(axis=1), population.loyalty[customers], 0.0)
    colour_weight = np.ones((n, N_COLOURS))
    for j in range(population.favourite_colours.shape[1]):
        np.add.at(colour_weight, (np.arange(n), population.favourite_colours[customers, j]), COLOUR_BOOST)

    repurchase, siblings = _history_tables(customers, week, pop, catalogue, population, log)
    pi = np.zeros((n, 3))
    pi[:, 0] = REPURCHASE * repurchase.has(n)
    pi[:, 1] = SIBLINGS * siblings.has(n)
    pi[:, 2] = 1 - pi[:, 0] - pi[:, 1]
    return Choice(
        customers=customers,
        pi=pi,
        repurchase=repurchase,
        siblings=siblings,
        segment_taste=taste,
        group=population.group[customers],
        loyalty=loyalty,
        favourites=fav,
        favourite_live=fav_live,
        colour_weight=colour_weight,
        popsum=popsum,
        live=live,
        live_cell=cell,
        live_pop=pop[live],
        catalogue_size=catalogue.size,
    )


def _history_tables(customers, week, pop, catalogue, population, log) -> tuple[Grouped, Grouped]:
    """R and S for `customers` from the log of distinct (customer, article, week) purchases.

    Only articles on sale this week (pop > 0) can be picked, so both are restricted to them.
    """
    lc, la, lw = log  # only the last MEMORY_WEEKS weeks
    position = np.full(population.size, -1, dtype=np.int64)
    position[customers] = np.arange(customers.size)
    mine = position[lc] >= 0
    entries = pl.DataFrame(
        {
            "pos": position[lc[mine]],
            "article": la[mine].astype(np.int64),
            "w": np.exp(-(week - lw[mine]) / RECENCY_WEEKS),
        }
    )
    rep = (
        entries.filter(pl.Series(pop[entries["article"].to_numpy()] > 0))
        .group_by("pos", "article")
        .agg(pl.col("w").sum())
    )
    repurchase = Grouped.from_frame(rep)

    live = np.flatnonzero(pop > 0)
    products = pl.DataFrame({"product": catalogue.product[live], "article": live, "pop": pop[live]}).with_columns(
        share=pl.col("pop") / pl.col("pop").sum().over("product")
    )
    bought = (
        entries.with_columns(product=pl.Series(catalogue.product[entries["article"].to_numpy()]))
        .group_by("pos", "product")
        .agg(pl.col("w").sum())
    )
    owned = entries.select("pos", "article").unique()
    sib = (
        bought.join(products, on="product")
        .join(owned, on=["pos", "article"], how="anti")
        .select("pos", "article", w=pl.col("w") * pl.col("share"))
    )
    siblings = Grouped.from_frame(sib)
    return repurchase, siblings
