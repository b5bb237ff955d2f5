"""The `newest` retriever: articles whose first sale is most recent, for everybody."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from hmrec_cli.plugin import Context, Retriever, RunSettings


@dataclass(frozen=True)
class NewestParams:
    min_sales: int = field(
        default=1, metadata={"doc": "only articles sold at least this many times so far", "valid": (1, 1_000_000)}
    )


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
