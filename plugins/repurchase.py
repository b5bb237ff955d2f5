"""`repurchase`: the customer's own past articles, scored by how recently and how often they
bought them. Customers without history get the week's popular articles (scored below).

On a log where customers never buy an article twice its candidates are all misses that crowd the
union; `active=auto` (the default) switches it off there: when fewer than `min_repeat_share` of
the last 28 days' purchases before the week repeat the customer's earlier purchase, every
customer gets only the popular fill, which is what a cold customer gets anyway."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hmrec_cli.data.splits import recent_history, repeat_share
from hmrec_cli.params import MAX_DAYS, Between, Choice, LogUniform, OneOf, param
from hmrec_cli.plugin_api import Context, Retriever, RunSettings, fill_cold, recency_weight, recent_popularity, top_k


@dataclass(frozen=True)
class RepurchaseParams:
    half_life_days: float = param(
        30.0,
        "a purchase's weight halves every this many days back (0: no decay)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(3.0, 180.0),
    )
    window_days: int = param(
        0,
        "only purchases of the last this many days count (0: all history)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(28, 730),
    )
    active: str = param(
        "auto",
        "on, off (everyone gets the popular fill), or auto: off when repeats are rarer than min_repeat_share",
        valid=OneOf("auto", "on", "off"),
        search=Choice("auto", "on", "off"),
    )
    min_repeat_share: float = param(
        0.01,
        "auto: the share of the last 28 days' purchases repeating an earlier purchase needed to stay on",
        valid=Between(0, 1),
    )


class Repurchase(Retriever):
    name = "repurchase"
    version = "1"
    summary = "The customer's own past articles by recency and frequency"
    Params = RepurchaseParams

    def fit(self, ctx: Context, run: RunSettings) -> dict:
        p = self.params
        past = recent_history(ctx.history, ctx.week, p.window_days) if p.window_days > 0 else ctx.history
        self.scores = past.group_by("customer", "article").agg(
            score=recency_weight(ctx.week, p.half_life_days).sum().cast(pl.Float32)
        )
        self.popular = recent_popularity(ctx.history, ctx.week)
        share = repeat_share(ctx.history, ctx.week)
        self.on = p.active == "on" or (p.active == "auto" and share >= p.min_repeat_share)
        if not self.on:
            self.scores = self.scores.clear()
        return {"repeat_share": round(share, 4), "active": self.on}

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        mine = top_k(self.scores.filter(pl.col("customer").is_in(customers.implode())), k)
        return fill_cold(mine, customers, self.popular, k)
