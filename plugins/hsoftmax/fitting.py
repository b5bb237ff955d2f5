"""Fitting and serving hsoftmax (imported only when it is fitted: torch)."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import torch
from hmrec_plugins.hsoftmax.model import HierarchicalSoftmax
from hmrec_plugins.hsoftmax.tree import Tree, catalogue_tree, huffman_tree

from hmrec_cli import console
from hmrec_cli.plugin_api import CANDIDATE_SCHEMA, Context, RunSettings, fill_cold, recent_popularity, top_k
from hmrec_cli.toolkit.batches import id_frequency, scaled_batch, shuffled_batches, to_device
from hmrec_cli.toolkit.features import unsold_articles
from hmrec_cli.toolkit.towers import nothing_to_learn, tower_shape, user_vectors, week_offsets
from hmrec_cli.toolkit.training import Settings, resolve_device, train
from hmrec_cli.toolkit.weekly_examples import UserInputs, user_inputs, weekly_examples

OWN_CHUNK = 65_536  # (customer, own article) pairs whose tree probability is computed at once
SEARCH_ENTRIES = 1_000_000  # children (or nodes) scored per beam-search step and chunk of customers: bounds memory


def build_tree(ctx: Context, params) -> Tree:
    if params.tree == "catalogue":
        return catalogue_tree(ctx.articles, params.max_branching)
    sales = np.bincount(ctx.history["article"].to_numpy(), minlength=ctx.articles.height)
    return huffman_tree(sales)


def allowed_nodes(tree: Tree, excluded: np.ndarray | None) -> np.ndarray | None:
    """True for nodes with at least one proposable leaf below them (one step per level)."""
    if excluded is None:
        return None
    allowed = np.zeros(tree.nodes, dtype=bool)
    allowed[tree.leaf_of[~excluded]] = True
    for column in range(tree.depth - 1, -1, -1):  # from the deepest level up
        nodes = tree.path[:, column]
        ok = (nodes >= 0) & allowed[np.maximum(nodes, 0)]
        allowed[tree.parent[nodes[ok]]] = True
    return allowed


class Fitted:
    def __init__(self, params):
        self.params = params

    def fit(self, ctx: Context, run: RunSettings) -> dict:
        p = self.params
        self.ctx, self.device = ctx, resolve_device(run.device, console.warn)
        self.popular = recent_popularity(ctx.history, ctx.week)
        run.on_progress("examples", 0, 1)
        examples = weekly_examples(ctx.history, ctx.week, p.weeks, p.history_length, p.min_purchases)
        tree = build_tree(ctx, p)
        shape, article_table, customer_table = tower_shape(ctx, p)
        torch.manual_seed(run.seed)
        self.model = HierarchicalSoftmax(shape, article_table, customer_table, tree.arrays(), p.repeat_term).to(
            self.device
        )
        pairs = int(examples.pair_article.size)
        if pairs == 0:
            console.warn(nothing_to_learn("hsoftmax", ctx, p))
            self.trained = False
            return {"examples": 0, "pairs": 0}
        t = to_device(
            {
                **examples.users.arrays(),
                "pair_example": examples.pair_example,
                "pair_article": examples.pair_article,
                "week": examples.week,
            },
            self.device,
        )
        prior, offsets = None, None
        if p.popularity_prior:
            prior, by_article = week_offsets(ctx.history, examples, ctx.week.start, ctx.articles.height)
            offsets = self.model.node_offsets(by_article.to(self.device))  # training weeks', then the target week's
        self.offsets = offsets[-1] if offsets is not None else None

        def loss_of(idx: torch.Tensor) -> torch.Tensor:
            example = t["pair_example"][idx]
            users = self.model.user(
                t["customer"][example], t["items"][example], t["age_days"][example], t["dense"][example]
            )
            tilt = (offsets, t["week"][example]) if offsets is not None else None
            return self.model.loss(users, t["pair_article"][idx], t["items"][example], t["age_days"][example], tilt)

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
        self.excluded = unsold_articles(ctx.history, ctx.week, ctx.articles.height, p.sold_within_days)
        allowed = allowed_nodes(tree, self.excluded)
        self.allowed = torch.from_numpy(allowed).to(self.device) if allowed is not None else None
        self.trained = True
        frequency = id_frequency(t["pair_article"], ctx.articles.height).cpu().numpy()
        depth = (tree.path >= 0).sum(1)
        return {
            **log.as_dict(),
            "examples": examples.rows,
            "pairs": pairs,
            "batch_size": batch,
            **({"popularity_prior": dataclasses.asdict(prior)} if prior is not None else {}),
            "weeks": [d.isoformat() for d in examples.starts],
            "device": self.device.type,
            "tree": {
                "nodes": tree.nodes,
                "max_depth": tree.depth,
                "widest": int(tree.child_count.max()),
                "mean_purchase_depth": float((depth * frequency).sum() / frequency.sum()),
            },
        }

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        if not self.trained:
            return fill_cold(pl.DataFrame(schema=CANDIDATE_SCHEMA), customers, self.popular, k)
        inputs = user_inputs(self.ctx.history, self.ctx.week, customers, self.params.history_length)
        ids, users = user_vectors(self.model.user, inputs, self.device)
        tree, parts, beam = self.model.tree, [], max(self.params.beam, k)
        # a beam wider than the tree's inner nodes holds them all: chunk by what it can hold
        frontier = min(beam, int((tree.child_count > 0).sum()))
        chunk = max(1, SEARCH_ENTRIES // max(frontier * int(tree.child_count.max()), tree.parent.shape[0]))
        with torch.no_grad():
            for lo in range(0, ids.size, chunk):
                rows, articles, log_p = self.model.beam_search(
                    users[lo : lo + chunk], k, beam, self.allowed, self.offsets
                )
                parts.append(
                    pl.DataFrame(
                        {
                            "customer": ids[lo:][rows.cpu().numpy()].astype(np.uint32),
                            "article": articles.cpu().numpy().astype(np.uint32),
                            "score": log_p.cpu().numpy().astype(np.float32),
                        }
                    )
                )
        found = pl.concat(parts) if parts else pl.DataFrame(schema=CANDIDATE_SCHEMA)
        return found if self.model.repeat is None else self._with_repeats(found, inputs, users, k)

    def _with_repeats(self, found: pl.DataFrame, inputs: UserInputs, users: torch.Tensor, k: int) -> pl.DataFrame:
        """The mixture's top k per customer: a leaf of the beam the customer never bought scores
        log(1 - g) + log P_tree (so the beam's order stands), each of the customer's own articles on
        sale log((1 - g) P_tree + g P_own), whether the beam reached it or not."""
        ids = inputs.customer
        items = torch.from_numpy(inputs.items).to(self.device)
        with torch.no_grad():
            log_gate, log_rest = (g.cpu().numpy() for g in self.model.repeat.log_gates(users, items))
            shares = self.model.repeat.own_shares(items, torch.from_numpy(inputs.age_days).to(self.device))
        row, position = (x.cpu().numpy() for x in torch.nonzero(items > 0, as_tuple=True))
        own = (
            pl.DataFrame(
                {"row": row, "article": inputs.items[row, position] - 1, "share": shares.cpu().numpy()[row, position]}
            )
            .group_by("row", "article")
            .agg(pl.col("share").sum())
            .filter(pl.lit(True) if self.excluded is None else ~pl.col("article").is_in(np.flatnonzero(self.excluded)))
            .sort("row", "article")
        )
        rows, articles = own["row"].to_numpy().copy(), own["article"].to_numpy().copy()
        tree_log_p = np.zeros(rows.size, dtype=np.float32)
        with torch.no_grad():
            for lo in range(0, rows.size, OWN_CHUNK):
                part = slice(lo, lo + OWN_CHUNK)
                chunk_rows = torch.from_numpy(rows[part]).to(self.device)
                tilt = None
                if self.offsets is not None:  # one week: every row reads row 0 of the offsets
                    tilt = (self.offsets.unsqueeze(0), torch.zeros_like(chunk_rows))
                tree_log_p[part] = (
                    self.model.tree_log_probs(users[chunk_rows], torch.from_numpy(articles[part]).to(self.device), tilt)
                    .cpu()
                    .numpy()
                )
        own_scores = np.logaddexp(log_rest[rows] + tree_log_p, log_gate[rows] + np.log(own["share"].to_numpy()))
        owned = pl.DataFrame(
            {
                "customer": ids[rows].astype(np.uint32),
                "article": articles.astype(np.uint32),
                "score": own_scores.astype(np.float32),
            }
        )
        rest = pl.DataFrame({"customer": ids.astype(np.uint32), "log_rest": log_rest.astype(np.float32)})
        explored = (
            found.join(owned, on=["customer", "article"], how="anti")
            .join(rest, on="customer")
            .select("customer", "article", score=pl.col("score") + pl.col("log_rest"))
        )
        return top_k(pl.concat([explored, owned]), k)
