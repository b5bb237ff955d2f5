"""`popular`: the articles bought most in the days before the week, optionally time-decayed, kept
separately per age band and per the customer's usual channel, and optionally without what the
customer already bought (on logs without repeat purchases that one line is a strong baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from hmrec_cli.data.splits import recent_history
from hmrec_cli.params import MAX_DAYS, Between, Choice, LogUniform, Uniform, param
from hmrec_cli.plugin_api import Context, Retriever, RunSettings, recency_weight, top_k

AGE_BANDS = (
    (25, "16-24"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
)  # (below, label); then 55+; unknown age is its own band


@dataclass(frozen=True)
class PopularParams:
    window_days: int = param(
        7, "days of history before the week that count", valid=Between(1, MAX_DAYS), search=LogUniform(3, 28)
    )
    half_life_days: float = param(
        0.0,
        "a sale's weight halves every this many days back (0: no decay)",
        valid=Between(0, MAX_DAYS),
        search=Uniform(0.0, 14.0),
    )
    by_age: bool = param(
        False, "separate lists per age band (16-24, 25-34, 35-44, 45-54, 55+, unknown)", search=Choice(False, True)
    )
    by_channel: bool = param(
        False, "separate lists per customer's usual channel (store, online, none yet)", search=Choice(False, True)
    )
    exclude_bought: bool = param(
        False,
        "leave out articles the customer bought before the week (filled from the next 2k of the list)",
        search=Choice(False, True),
    )


class Popular(Retriever):
    name = "popular"
    version = "2"
    summary = "Most-bought articles of the last days; time decay; per age band and channel"
    Params = PopularParams

    def fit(self, ctx: Context, run: RunSettings) -> None:
        p = self.params
        self.segments = self._segments(ctx)
        self.owned = ctx.history.select("customer", "article").unique() if p.exclude_bought else None
        recent = recent_history(ctx.history, ctx.week, p.window_days)
        if (
            recent.is_empty() and not ctx.history.is_empty()
        ):  # the window fell on a closed spell: its days up to the last sale
            recent = ctx.history.filter(pl.col("t_dat") > ctx.history["t_dat"].max() - timedelta(days=p.window_days))
        recent = recent.with_columns(w=recency_weight(ctx.week, p.half_life_days))
        buyers = recent.join(self.segments, on="customer", how="left").with_columns(pl.col("segment").fill_null(""))
        per_segment = buyers.group_by("segment", "article").agg(score=pl.col("w").sum())
        overall = buyers.group_by("article").agg(score=pl.col("w").sum()).with_columns(segment=pl.lit(None, pl.String))
        self.lists = pl.concat([per_segment, overall.select(per_segment.columns)]).with_columns(
            score=(pl.col("score") / pl.col("score").sum().over("segment")).cast(pl.Float32)
        )

    def _segments(self, ctx: Context) -> pl.DataFrame:
        parts = []
        if self.params.by_age:
            band = pl.lit("55+")
            for below, label in reversed(AGE_BANDS):
                band = pl.when(pl.col("age") < below).then(pl.lit(label)).otherwise(band)
            parts.append(pl.when(pl.col("age").is_not_null()).then(band).otherwise(pl.lit("unknown")))
        segments = ctx.customers.select("customer", *[p.alias(f"s{i}") for i, p in enumerate(parts)])
        if self.params.by_channel:
            usual = ctx.history.group_by("customer").agg(
                channel=(pl.col("channel") == 2).mean().round().cast(pl.Int8).cast(pl.String)
            )
            segments = segments.join(usual, on="customer", how="left").with_columns(pl.col("channel").fill_null("none"))
        names = [c for c in segments.columns if c != "customer"]
        return segments.select("customer", segment=pl.concat_str(names, separator="|") if names else pl.lit(""))

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        segment_lists = self._segment_lists(k if self.owned is None else 2 * k)
        who = pl.DataFrame({"customer": customers}).join(self.segments, on="customer", how="left")
        who = who.with_columns(pl.col("segment").fill_null(""))
        proposed = who.join(segment_lists, on="segment").select("customer", "article", "score")
        if self.owned is None:
            return proposed
        mine = self.owned.filter(pl.col("customer").is_in(customers.implode()))
        return top_k(proposed.join(mine, on=["customer", "article"], how="anti"), k)

    def _segment_lists(self, k: int) -> pl.DataFrame:
        """Each segment's top k, topped up from the overall list (scored below any own share)."""
        own = top_k(self.lists.filter(pl.col("segment").is_not_null()), k, by="segment")
        overall = top_k(
            self.lists.filter(pl.col("segment").is_null()).with_columns(segment=pl.lit("")), k, by="segment"
        )
        names = pl.concat([self.segments.select("segment").unique(), pl.DataFrame({"segment": [""]})]).unique()
        fallback = names.join(overall.drop("segment").with_columns(pl.col("score") * 1e-3), how="cross")
        both = pl.concat([own.select("segment", "article", "score"), fallback.select("segment", "article", "score")])
        return top_k(both.group_by("segment", "article").agg(pl.col("score").max()), k, by="segment")
