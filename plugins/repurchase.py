"""`repurchase`: the customer's own past articles, scored by how recently and how often they
bought them. Customers without history get the week's popular articles (scored below)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from hmrec_cli.plugin_api import Context, Retriever, RunSettings, fill_cold, recency_weight, recent_popularity, top_k
from hmrec_cli.splits import recent_history


@dataclass(frozen=True)
class RepurchaseParams:
    half_life_days: float = field(default=30.0, metadata={"doc": "a purchase's weight halves every this many days back"})
    window_days: int = field(default=0, metadata={"doc": "only purchases of the last this many days count (0: all history)"})


class Repurchase(Retriever):
    name = "repurchase"
    version = "1"
    summary = "The customer's own past articles by recency and frequency"
    Params = RepurchaseParams

    def fit(self, ctx: Context, run: RunSettings) -> None:
        p = self.params
        past = recent_history(ctx.history, ctx.week, p.window_days) if p.window_days > 0 else ctx.history
        self.scores = past.group_by("customer", "article").agg(score=recency_weight(ctx.week, p.half_life_days).sum().cast(pl.Float32))
        self.popular = recent_popularity(ctx.history, ctx.week)

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        mine = top_k(self.scores.filter(pl.col("customer").is_in(customers.implode())), k)
        return fill_cold(mine, customers, self.popular, k)
