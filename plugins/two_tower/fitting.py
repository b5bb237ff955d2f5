"""Fitting and serving the two-tower retrievers (imported only when one is fitted: torch)."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import torch
from hmrec_plugins.two_tower.model import TwoTower, full_softmax_loss, sampled_softmax_loss

from hmrec_cli import console
from hmrec_cli.plugin_api import Context, RunSettings, fill_cold, recent_popularity, top_k
from hmrec_cli.toolkit.ann import AnnIndex, candidate_frame, top_k_on_device
from hmrec_cli.toolkit.batches import id_frequency, scaled_batch, shuffled_batches, to_device
from hmrec_cli.toolkit.features import unsold_articles
from hmrec_cli.toolkit.towers import nothing_to_learn, repeat_pairs, tower_shape, user_vectors, week_offsets
from hmrec_cli.toolkit.training import Settings, resolve_device, train
from hmrec_cli.toolkit.weekly_examples import UserInputs, user_inputs, weekly_examples


class Fitted:
    """A two-tower model fitted for one week (`fit`), proposing articles (`retrieve`)."""

    def __init__(self, params, loss: str):
        self.params, self.loss = params, loss

    def fit(self, ctx: Context, run: RunSettings) -> dict:
        p = self.params
        self.ctx, self.device, self.seed = ctx, resolve_device(run.device, console.warn), run.seed
        self.popular = recent_popularity(ctx.history, ctx.week)
        run.on_progress("examples", 0, 1)
        examples = weekly_examples(ctx.history, ctx.week, p.weeks, p.history_length, p.min_purchases)
        n_articles = ctx.articles.height
        shape, article_table, customer_table = tower_shape(ctx, p)
        torch.manual_seed(run.seed)
        self.model = TwoTower(shape, article_table, customer_table, self.loss, p.repeat_term, p.popularity_prior).to(
            self.device
        )
        pairs = int(examples.pair_article.size)
        if pairs == 0:
            console.warn(nothing_to_learn("youtube-dnn" if self.loss == "full" else "sampled-softmax", ctx, p))
            self.items = None
            return {"examples": 0, "pairs": 0}
        excluded = unsold_articles(ctx.history, ctx.week, n_articles, p.sold_within_days)
        kept, pair_column = softmax_columns(examples.pair_article, excluded, getattr(p, "softmax", "all"))
        t = to_device(
            {
                **examples.users.arrays(),
                "pair_example": examples.pair_example,
                "pair_article": examples.pair_article,
                "pair_column": pair_column,
                "week": examples.week,
            },
            self.device,
        )
        kept = torch.from_numpy(kept).to(self.device) if kept is not None else None
        column_of = softmax_lookup(kept, n_articles, self.device)  # article index + 1 -> softmax column, -1 = none
        fitted_prior, prior = None, None
        if p.popularity_prior:  # over the softmax's articles; offsets of the training weeks, then the target week's
            fitted_prior, prior = week_offsets(ctx.history, examples, ctx.week.start, n_articles, kept, pair_column)
            prior = prior.to(self.device)
        kept_prior = prior[:, kept] if prior is not None and kept is not None else prior
        frequency = id_frequency(t["pair_article"], n_articles)
        probability = frequency / frequency.sum()
        log_q = torch.log(probability) if getattr(p, "logq", False) else None

        def loss_of(idx: torch.Tensor) -> torch.Tensor:
            example, target = t["pair_example"][idx], t["pair_article"][idx]
            items, ages = t["items"][example], t["age_days"][example]
            users = self.model.user(t["customer"][example], items, ages, t["dense"][example])
            repeat, weeks = self.model.repeat, t["week"][example]
            if self.loss == "full":
                width = kept.numel() if kept is not None else n_articles

                def bonus(lo: int, hi: int):
                    added = repeat.on_lookup(items[lo:hi], ages[lo:hi], column_of, width) if repeat is not None else 0.0
                    return added + (kept_prior[weeks[lo:hi]] if prior is not None else 0.0)

                return full_softmax_loss(users, self.model.articles, t["pair_column"][idx], kept, bonus)
            negatives = torch.multinomial(probability, p.negatives, replacement=True) if p.negatives else target[:0]
            columns = torch.cat([target, negatives])
            scores = users.float() @ self.model.articles(columns).float().T
            if repeat is not None:
                scores = scores + repeat.on_columns(items, ages, columns)
            if prior is not None:
                scores = scores + prior[weeks.unsqueeze(1), columns.unsqueeze(0)]
            return sampled_softmax_loss(
                scores, log_q[columns] if log_q is not None else None, hidden_columns(example, target, negatives)
            )

        batch = scaled_batch(pairs, p.batch_size, p.min_steps)
        settings = Settings(
            p.epochs, p.learning_rate, p.weight_decay, patience=p.epochs, seed=run.seed, device=self.device
        )
        log = train(
            self.model,
            loss_of,
            lambda epoch: shuffled_batches(pairs, batch, run.seed, epoch, self.device),
            pairs,
            settings,
            checkpoint=run.checkpoint,
            resume=run.resume,
            on_progress=run.on_progress,
        )
        self._serving(excluded, prior[-1] if prior is not None else None)
        softmax = (
            {"softmax_articles": int(kept.numel()) if kept is not None else n_articles} if self.loss == "full" else {}
        )
        return {
            **log.as_dict(),
            "examples": examples.rows,
            "pairs": pairs,
            "batch_size": batch,
            **softmax,
            **({"popularity_prior": dataclasses.asdict(fitted_prior)} if fitted_prior is not None else {}),
            "weeks": [d.isoformat() for d in examples.starts],
            "device": self.device.type,
        }

    def _serving(self, excluded: np.ndarray | None, prior: torch.Tensor | None) -> None:
        """Article vectors for search (with the week's popularity `prior` folded in); the annoy
        index holds the proposable articles only."""
        with torch.no_grad():
            self.items = self.model.serving_items(prior).float()
        self.excluded = torch.from_numpy(excluded).to(self.device) if excluded is not None else None
        self.index = None
        if getattr(self.params, "search", "exact") == "annoy":
            self.allowed = np.flatnonzero(~excluded) if excluded is not None else np.arange(self.items.shape[0])
            self.index = AnnIndex.build(self.items.cpu().numpy()[self.allowed], self.params.trees, seed=self.seed)

    def inputs(self, customers: pl.Series) -> UserInputs:
        """The user tower's inputs for `customers` at the week's cut."""
        return user_inputs(self.ctx.history, self.ctx.week, customers, self.params.history_length)

    def user_vectors(self, inputs: UserInputs) -> tuple[np.ndarray, torch.Tensor]:
        """Sorted distinct customer indexes and their serving vectors (on the device)."""
        ids, users = user_vectors(self.model.user, inputs, self.device)
        return ids, self.model.serving_users(users)

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        if self.items is None:
            return fill_cold(
                pl.DataFrame(schema={"customer": pl.UInt32, "article": pl.UInt32, "score": pl.Float32}),
                customers,
                self.popular,
                k,
            )
        inputs = self.inputs(customers)
        ids, users = self.user_vectors(inputs)
        added = repeat_pairs(self.model.repeat, inputs, self.device) if self.model.repeat is not None else None
        if self.index is not None:
            found = self.index.top_k(users.cpu().numpy(), ids, k)
            found = found.with_columns(article=pl.Series(self.allowed.astype(np.uint32)).gather(found["article"]))
            return found if added is None else self._with_own(found, ids, users, added, k)
        values, index = top_k_on_device(users, self.items, k, exclude=self.excluded, add_pairs=added)
        return candidate_frame(ids, values, index)

    def _with_own(
        self, found: pl.DataFrame, ids: np.ndarray, users: torch.Tensor, added: tuple, k: int
    ) -> pl.DataFrame:
        """The index's neighbours and the customer's own articles on sale, each scored by the inner
        product plus its repeat term (an index of vectors cannot hold a per-customer bonus), top k."""
        rows, articles, bonus = added
        with torch.no_grad():
            inner = (users[rows].float() * self.items[articles]).sum(-1)
        own = (
            pl.DataFrame(
                {
                    "customer": ids[rows.cpu().numpy()].astype(np.uint32),
                    "article": articles.cpu().numpy().astype(np.uint32),
                    "inner": inner.cpu().numpy(),
                    "bonus": bonus.cpu().numpy(),
                }
            )
            .group_by("customer", "article")
            .agg(score=(pl.col("inner").first() + pl.col("bonus").sum()).cast(pl.Float32))
            .filter(pl.lit(True) if self.excluded is None else pl.col("article").is_in(self.allowed))
        )
        return top_k(pl.concat([found.join(own, on=["customer", "article"], how="anti"), own]), k)


def softmax_lookup(kept: torch.Tensor | None, n_articles: int, device: torch.device) -> torch.Tensor:
    """Article index + 1 -> its column of youtube-dnn's softmax (`kept` columns, or every article), -1
    for padding and for articles outside the softmax."""
    column_of = torch.full((n_articles + 1,), -1, dtype=torch.long, device=device)
    articles = kept if kept is not None else torch.arange(n_articles, device=device)
    column_of[articles + 1] = torch.arange(articles.numel(), device=device)
    return column_of


def softmax_columns(
    pair_article: np.ndarray, excluded: np.ndarray | None, softmax: str
) -> tuple[np.ndarray | None, np.ndarray]:
    """youtube-dnn's softmax columns: with `softmax=sold`, the articles that are a training target
    or can be proposed (not `excluded`), sorted, and each pair's target as a column of them; with
    `all` (or when those are every article) None, and the targets as they are. An article outside
    the columns would get no positive, only be pushed down, and is never proposed."""
    if softmax == "all" or excluded is None:
        return None, pair_article
    kept = ~excluded
    kept[pair_article] = True
    if kept.all():
        return None, pair_article
    columns = np.flatnonzero(kept)
    return columns, np.searchsorted(columns, pair_article)


def hidden_columns(example: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """[B, B + N] True where a column must not count as a negative for a row: another purchase of
    the same customer-week, or the row's own article (a duplicate in the batch or a drawn one);
    never the row's own positive (the diagonal)."""
    own = (example.unsqueeze(1) == example.unsqueeze(0)) | (target.unsqueeze(1) == target.unsqueeze(0))
    own.fill_diagonal_(False)
    return torch.cat([own, target.unsqueeze(1) == negatives.unsqueeze(0)], dim=1)
