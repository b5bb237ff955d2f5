"""The `newest` retriever: articles whose first sale is most recent, for everybody."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hmrec_cli.plugin import Between, Context, Retriever, RunSettings, param


@dataclass(frozen=True)
class NewestParams:
    min_sales: int = param(1, "sales an article needs before the week to be proposed", valid=Between(1, 1_000_000))


class Newest(Retriever):
    name = "newest"
    version = "1"
    summary = "New arrivals: articles whose first sale is most recent"
    Params = NewestParams

    def fit(self, ctx: Context, run: RunSettings) -> None:
        first = ctx.history.group_by("article").agg(first=pl.col("t_dat").min(), sales=pl.len())
        self.ranking = (
            first.filter(pl.col("sales") >= self.params.min_sales)
            .sort(["first", "sales", "article"], descending=[True, True, False])
            .with_columns(score=(1.0 / (1 + pl.int_range(pl.len()))).cast(pl.Float32))
            .select("article", "score")
        )

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        return pl.DataFrame({"customer": customers}).join(self.ranking.head(k), how="cross")
