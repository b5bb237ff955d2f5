"""`same-product`: other articles (colours, variants) of the product codes a customer bought,
scored by how recently they bought the product and how well the article sells now."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hmrec_cli.data.splits import recent_history
from hmrec_cli.params import MAX_DAYS, Between, LogUniform, param
from hmrec_cli.plugin_api import Context, Retriever, RunSettings, fill_cold, recency_weight, recent_popularity, top_k


@dataclass(frozen=True)
class SameProductParams:
    half_life_days: float = param(
        30.0,
        "a purchase's weight halves every this many days back (0: no decay)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(3.0, 180.0),
    )
    window_days: int = param(
        365,
        "only products bought in the last this many days (0: all history)",
        valid=Between(0, MAX_DAYS),
        search=LogUniform(28, 730),
    )
    popularity_days: int = param(
        28, "days of sales that rank the variants of a product", valid=Between(1, MAX_DAYS), search=LogUniform(7, 56)
    )


class SameProduct(Retriever):
    name = "same-product"
    version = "1"
    summary = "Other colours of products the customer bought, by recency and article popularity"
    Params = SameProductParams
    needs_products = True

    def fit(self, ctx: Context, run: RunSettings) -> None:
        p = self.params
        product = ctx.articles.select("article", "product_code")
        past = recent_history(ctx.history, ctx.week, p.window_days) if p.window_days > 0 else ctx.history
        self.owned = past.select("customer", "article").unique()
        self.products = (
            past.join(product, on="article")
            .group_by("customer", "product_code")
            .agg(w=recency_weight(ctx.week, p.half_life_days).sum())
        )
        sales = recent_history(ctx.history, ctx.week, p.popularity_days).group_by("article").agg(n=pl.len())
        self.variants = product.join(sales, on="article", how="left").with_columns(
            pop=(pl.col("n").fill_null(0) + 1).cast(pl.Float32)  # +1: an unsold colour still ranks, last
        )
        self.popular = recent_popularity(ctx.history, ctx.week)

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        mine = self.products.filter(pl.col("customer").is_in(customers.implode()))
        candidates = (
            mine.join(self.variants, on="product_code")
            .join(self.owned, on=["customer", "article"], how="anti")
            .select("customer", "article", score=(pl.col("w") * pl.col("pop")).cast(pl.Float32))
        )
        return fill_cold(top_k(candidates, k), customers, self.popular, k)
