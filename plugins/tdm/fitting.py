"""Training TDM and retrieving with it (imported only when a TDM runs: it loads torch).

Training examples are the purchases of the `weeks` weeks before the target week, each with the
buyer's history cut at the start of the week of the purchase (so the model learns to predict a
week from what came before it, as it will be used). A held-out sample of the newest week's buyers
measures recall@100 by beam search after every epoch; the best epoch's weights (and its tree) are
kept. With `tree_rounds`, every `epochs` epochs the tree is rebuilt from the learned article
vectors (tree_learning.py) and training continues on the new tree.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from hmrec_cli import console
from hmrec_cli.errors import InputError
from hmrec_cli.features import article_codes, customer_codes
from hmrec_cli.plugin_api import Context, RunSettings, fill_cold, recent_popularity
from hmrec_cli.sequences import purchase_sequences
from hmrec_cli.training import Settings, resolve_device, seeded_generator, train
from hmrec_plugins.tdm import TDMParams
from hmrec_plugins.tdm.beam import TreeOnDevice, beam_search
from hmrec_plugins.tdm.model import NodeScorer, Shape
from hmrec_plugins.tdm.sampler import LevelSampler
from hmrec_plugins.tdm.tree import Tree, catalogue_tree, kmeans_tree
from hmrec_plugins.tdm.tree_learning import install, relearned_tree

RETRIEVE_BATCH = 256  # customers per beam search step
VALID_K = 100


class Fitted:
    """A TDM fitted for one week (`fit`), retrieving for any customers (`retrieve`)."""

    def __init__(self, params: TDMParams):
        self.params = params

    def fit(self, ctx: Context, run: RunSettings) -> dict:
        p = self.params
        self.ctx = ctx
        self.device = resolve_device(run.device, console.warn)
        self.popular = recent_popularity(ctx.history, ctx.week)
        run.on_progress("tdm examples", 0, 1)
        data = training_examples(ctx, p.weeks, p.history_length)
        if data["article"].size == 0:
            raise InputError(f"tdm: no purchases in the {p.weeks} weeks before {ctx.week.start} to learn from")
        train_rows, valid_rows = split_validation(data, p.valid_customers, run.seed)
        torch.manual_seed(run.seed)
        tree = initial_tree(ctx, p, run.seed)
        self.model = build_model(ctx, p, tree).to(self.device)
        install(self.model, tree)
        t = {k: torch.from_numpy(np.require(v, requirements=["C", "W"])).to(self.device) for k, v in data.items()}
        examples = torch.from_numpy(train_rows).to(self.device)
        state = {"sampler": None, "leaves": None}
        rounds: list[dict] = []

        def current_sampler() -> LevelSampler:
            """The sampler of the model's current tree (rebuilt when the tree changed, e.g. on resume)."""
            leaves = self.model.leaf_article.detach().cpu()
            if state["leaves"] is None or not torch.equal(state["leaves"], leaves):
                state["sampler"], state["leaves"] = LevelSampler(tree_of(self.model, p.branching), self.device), leaves.clone()
            return state["sampler"]

        def batches(epoch: int):
            current_sampler()
            order = torch.randperm(examples.numel(), generator=seeded_generator(run.seed, epoch)).to(self.device)
            yield from (examples[b] for b in order.split(p.batch_size))

        def loss_of(rows: torch.Tensor) -> torch.Tensor:
            sampler = state["sampler"]
            seq = t["seq"][rows]
            enc = self.model.encode(t["items"][seq], t["ages"][seq], t["customer"][seq])
            positives = sampler.positives(t["article"][rows])  # [B, D]
            negatives, mask = sampler.negatives(positives, p.negatives_per_level)  # [B, D, n]
            nodes = torch.cat([positives.unsqueeze(-1), negatives], -1).flatten(1)
            labels = torch.zeros_like(nodes, dtype=torch.float32)
            labels.view(*negatives.shape[:2], -1)[..., 0] = 1
            weight = torch.cat([torch.ones_like(mask[..., :1]), mask], -1).flatten(1).float()
            logits = self.model.score(enc, nodes).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=weight, reduction="sum")
            return loss / weight.sum()

        validate = None
        if valid_rows.size:
            valid_seq = np.unique(data["seq"][valid_rows])
            truth = pl.DataFrame({"seq": data["seq"][valid_rows], "article": data["article"][valid_rows]})

            def validate() -> float:
                found = self._search(t["items"][valid_seq], t["ages"][valid_seq], t["customer"][valid_seq], VALID_K, p.beam or VALID_K)
                got = pl.DataFrame({"seq": np.repeat(valid_seq, found.shape[1]), "article": found.ravel()})
                hits = truth.join(got, on=["seq", "article"], how="semi").group_by("seq").len()
                per = truth.group_by("seq").len().join(hits, on="seq", how="left", suffix="_hit").fill_null(0)
                return float((per["len_hit"] / per["len"]).mean())

        def end_of_epoch(epoch: int, figure: float | None) -> None:
            """Every `epochs` epochs: record the round and rebuild the tree from the learned vectors."""
            if epoch % p.epochs == 0:
                rounds.append({"round": len(rounds), "epochs": epoch, f"valid_recall@{VALID_K}": figure})
                if epoch < total_epochs:
                    install(self.model, relearned_tree(self.model, p.branching, run.seed + epoch))

        total_epochs = p.epochs * (p.tree_rounds + 1)
        settings = Settings(total_epochs, p.learning_rate, 0.0, total_epochs, run.seed, self.device)
        log = train(
            self.model, loss_of, batches, int(examples.numel()), settings, validate=validate,
            checkpoint=run.checkpoint, resume=run.resume, on_progress=run.on_progress, on_epoch_end=end_of_epoch,
        )
        self.tree = tree_of(self.model, p.branching)
        self.on_device = TreeOnDevice.of(self.tree, self.device)
        return {
            **log.as_dict(), "rounds": rounds, "training_purchases": int(examples.numel()), "held_out_purchases": int(valid_rows.size),
            "depth": self.tree.depth, "device": self.device.type,
        }

    def _search(self, items: torch.Tensor, ages: torch.Tensor, customers: torch.Tensor, k: int, beam: int) -> np.ndarray:
        """[customers, k] article indexes found by beam search (-1 where fewer leaves exist)."""
        tree = tree_of(self.model, self.params.branching)
        on = TreeOnDevice.of(tree, self.device)
        return self._beam(on, tree, items, ages, customers, k, beam)[0]

    def _beam(self, on: TreeOnDevice, tree: Tree, items, ages, customers, k: int, beam: int) -> tuple[np.ndarray, np.ndarray]:
        self.model.eval()
        arts, scores = [], []
        article_of_leaf = torch.from_numpy(tree.article_of_leaf).to(self.device)
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            table = self.model.node_table()
            for lo in range(0, customers.shape[0], RETRIEVE_BATCH):
                part = slice(lo, lo + RETRIEVE_BATCH)
                enc = self.model.encode(items[part], ages[part], customers[part])
                found = beam_search(self.model, on, enc, beam, k, table)
                art = article_of_leaf[found.leaves - tree.first_leaf]
                arts.append(torch.where(torch.isfinite(found.scores), art, -1).cpu())
                scores.append(found.scores.cpu())
        return torch.cat(arts).numpy(), torch.cat(scores).numpy()

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        seqs = purchase_sequences(self.ctx.history, self.ctx.week, customers, self.params.history_length)
        rows = seqs.rows(customers)
        ids = customers.cast(pl.Int64).to_numpy()
        items = torch.from_numpy(seqs.items[rows].astype(np.int64)).to(self.device)
        ages = torch.from_numpy(seqs.age_days[rows].astype(np.int64)).to(self.device)
        arts, scores = self._beam(self.on_device, self.tree, items, ages, torch.from_numpy(ids).to(self.device), k, self.params.beam or k)
        keep = arts >= 0
        found = pl.DataFrame({
            "customer": np.repeat(ids, arts.shape[1])[keep.ravel()].astype(np.uint32),
            "article": arts[keep].astype(np.uint32),
            "score": scores[keep].astype(np.float32),
        })
        return fill_cold(found, customers, self.popular, k)


def training_examples(ctx: Context, weeks: int, length: int) -> dict[str, np.ndarray]:
    """Per training week (oldest first), its buyers' histories cut at the week's start (one
    sequence row per customer-week) and one example per distinct article bought that week.
    Returns `items`/`ages` [S, L], `customer`/`week` [S] and `seq`/`article` [E]."""
    parts, offset = [], 0
    for back in range(weeks, 0, -1):  # one pass per week, never per customer
        week = ctx.week.earlier(back)
        bought = ctx.history.filter((pl.col("t_dat") >= week.start) & (pl.col("t_dat") <= week.end)).select("customer", "article").unique()
        if bought.height == 0:
            continue
        seqs = purchase_sequences(ctx.history.filter(pl.col("t_dat") < week.start), week, bought["customer"].unique(), length)
        parts.append({
            "items": seqs.items.astype(np.int64), "ages": seqs.age_days.astype(np.int64),
            "customer": seqs.customers.cast(pl.Int64).to_numpy(), "week": np.full(seqs.customers.len(), back, dtype=np.int64),
            "seq": seqs.rows(bought["customer"]) + offset, "article": bought["article"].cast(pl.Int64).to_numpy(),
        })
        offset += seqs.customers.len()
    if not parts:
        return {"items": np.zeros((0, length), np.int64), "ages": np.zeros((0, length), np.int64), "customer": np.zeros(0, np.int64),
                "week": np.zeros(0, np.int64), "seq": np.zeros(0, np.int64), "article": np.zeros(0, np.int64)}
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def split_validation(data: dict[str, np.ndarray], count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Example rows for training and for validation: the purchases of up to `count` buyers of the
    newest week (drawn with the seed), only when the newest week is not the only one."""
    rows = np.arange(data["seq"].size)
    week_of = data["week"][data["seq"]]
    newest = week_of == week_of.min()
    if count == 0 or newest.all():
        return rows, rows[:0]
    candidates = np.unique(data["seq"][newest])
    held = np.random.default_rng(seed).choice(candidates, min(count, candidates.size), replace=False)
    out = np.isin(data["seq"], held)
    return rows[~out], rows[out]


def initial_tree(ctx: Context, p: TDMParams, seed: int) -> Tree:
    if p.init == "catalogue":
        return catalogue_tree(ctx.articles, p.branching)
    return kmeans_tree(purchase_vectors(ctx), p.branching, seed)


def purchase_vectors(ctx: Context, size: int = 32) -> np.ndarray:
    """Article vectors from a truncated SVD of the recency-weighted customers x articles matrix
    (last 26 weeks), rows scaled to unit length; articles not bought get zero vectors."""
    import scipy.sparse.linalg

    from hmrec_cli.interactions import interaction_matrix

    matrix = interaction_matrix(ctx.history, ctx.week, ctx.customers.height, ctx.articles.height, 182, 60.0)
    rank = min(size, min(matrix.shape) - 1)
    if rank < 1 or matrix.nnz == 0:
        return np.zeros((ctx.articles.height, 1))
    v0 = np.random.default_rng(0).standard_normal(min(matrix.shape))
    _, s, vt = scipy.sparse.linalg.svds(matrix.astype(np.float64), k=rank, v0=v0)
    vectors = vt.T * s
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def build_model(ctx: Context, p: TDMParams, tree: Tree) -> NodeScorer:
    articles, customers = article_codes(ctx.articles), customer_codes(ctx.customers)
    article_table = np.vstack([np.zeros((1, len(articles.fields)), dtype=np.int64), articles.values])
    shape = Shape(
        articles=ctx.articles.height, first_leaf=tree.first_leaf, article_fields=articles.sizes, customer_fields=customers.sizes,
        embedding_size=p.embedding_size, attention_hidden=p.attention_hidden, hidden=tuple(int(h) for h in p.hidden.split(",")),
    )
    return NodeScorer(shape, torch.from_numpy(article_table), torch.from_numpy(customers.values), torch.zeros(tree.n_nodes, dtype=torch.long))


def tree_of(model: NodeScorer, branching: int) -> Tree:
    """The tree the model holds (its leaf -> article buffer), as arrays."""
    leaf_article = model.leaf_article.detach().cpu().numpy()
    nodes = np.flatnonzero(leaf_article)
    leaf_of_article = np.empty(nodes.size, dtype=np.int64)
    leaf_of_article[leaf_article[nodes] - 1] = nodes
    return Tree.from_leaves(leaf_of_article, branching)
