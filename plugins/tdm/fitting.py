"""Training TDM and retrieving with it (imported only when a TDM runs: it loads torch).

Training examples are the purchases of the `weeks` weeks before the target week, each with the
buyer's history cut at the start of the week of the purchase (so the model learns to predict a
week from what came before it, as it will be used). A held-out sample of the newest week's buyers
measures recall@100 by beam search after every epoch; the best epoch's weights (and its tree) are
kept. With `tree_rounds`, every `epochs` epochs the articles get new places in the tree
(tree_learning.py: by clustering their learned vectors, or greedily where the model sends their
buyers) and training continues on the new tree. On a small log the batches shrink and the
epochs repeat so training still takes `min_steps` steps an epoch (toolkit.batches.scaled_batch, passes_for), and at
most half the newest week's buyers are held out.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import torch
from hmrec_plugins.tdm import TDMParams
from hmrec_plugins.tdm.beam import TreeOnDevice, beam_search, exhaustive
from hmrec_plugins.tdm.model import Encoded, NodeScorer, Shape
from hmrec_plugins.tdm.sampler import LevelSampler
from hmrec_plugins.tdm.tree import Tree, catalogue_tree, kmeans_tree
from hmrec_plugins.tdm.tree_learning import VOTES_PER_ARTICLE, install, reassigned_tree, relearned_tree, sample_votes

from hmrec_cli import console
from hmrec_cli.errors import InputError
from hmrec_cli.plugin_api import Context, RunSettings, fill_cold, recent_popularity
from hmrec_cli.toolkit.batches import MIN_BATCH, scaled_batch, shuffled_batches, to_device
from hmrec_cli.toolkit.data_parallel import leads
from hmrec_cli.toolkit.features import article_side_table, customer_codes, unsold_articles
from hmrec_cli.toolkit.towers import subtree_mass, week_offsets
from hmrec_cli.toolkit.training import Settings, resolve_device, train
from hmrec_cli.toolkit.weekly_examples import USER_DENSE, user_inputs, weekly_examples

RETRIEVE_BATCH = 256  # customers per beam search step
EMPTY_MASS = 1e-30  # the share of a subtree without an article (such nodes are never valid): a finite log
VALID_K = 100
MAX_HELD_OUT_SHARE = 0.5  # of the newest training week's buyers: the rest still train the model


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
        data = weekly_examples(ctx.history, ctx.week, p.weeks, p.history_length)
        if data.pair_article.size == 0:
            raise InputError(f"tdm: no purchases in the {p.weeks} weeks before {ctx.week.start} to learn from")
        train_pairs, valid_pairs = split_validation(data.week, data.pair_example, p.valid_customers, run.seed)
        batch_size = scaled_batch(int(train_pairs.size), p.batch_size, p.min_steps)
        epochs = p.epochs * passes_for(train_pairs.size, p.min_steps)
        torch.manual_seed(run.seed)
        tree = initial_tree(ctx, p, run.seed)
        self.model = build_model(ctx, p, tree).to(self.device)
        install(self.model, tree)
        t = to_device(
            {
                **data.users.arrays(),
                "pair_example": data.pair_example,
                "pair_article": data.pair_article,
                "week": data.week,
            },
            self.device,
        )
        prior, by_article = None, None
        if p.popularity_prior:  # training weeks' offsets, then the target week's (last row)
            prior, by_article = week_offsets(ctx.history, data, ctx.week.start, ctx.articles.height)
        state: dict = {"leaves": None, "offsets": None}

        def sampler() -> LevelSampler:
            """The sampler of the model's current tree, and the prior's node offsets on it (both
            rebuilt when the tree changed)."""
            leaves = self.model.leaf_article.detach()
            if state["leaves"] is None or not torch.equal(state["leaves"], leaves):
                tree = tree_of(self.model, p.branching)
                state["sampler"], state["leaves"] = LevelSampler(tree, self.device), leaves.clone()
                if by_article is not None:
                    state["offsets"] = node_offsets(tree, by_article).to(self.device)
            return state["sampler"]

        def rebuild(epoch: int) -> None:
            """A tree-learning round: the articles get new places in the tree."""
            if p.tree_learning == "kmeans":
                install(self.model, relearned_tree(self.model, p.branching, run.seed + epoch))
                return
            votes = torch.from_numpy(
                sample_votes(data.pair_article, train_pairs, VOTES_PER_ARTICLE, run.seed + epoch)
            ).to(self.device)
            tree = reassigned_tree(
                self.model,
                tree_of(self.model, p.branching),
                t,
                t["pair_example"][votes],
                t["pair_article"][votes],
                p.gap,
            )
            install(self.model, tree, keep_inner=True)

        def batches(epoch: int):
            """Each round's first epoch starts with tree learning (after the previous round was
            validated and checkpointed, so a resumed run rebuilds exactly where an uninterrupted one does)."""
            if epoch > 0 and epoch % epochs == 0:
                rebuild(epoch)
            sampler()
            yield from shuffled_batches(train_pairs.size, batch_size, run.seed, epoch, self.device)

        train_on = torch.from_numpy(train_pairs).to(self.device)

        def loss_of(batch: torch.Tensor) -> torch.Tensor:
            pair = train_on[batch]
            row = t["pair_example"][pair]
            enc = self.model.encode(t["items"][row], t["age_days"][row], t["customer"][row], t["dense"][row])
            enc = with_prior(enc, state["offsets"], t["week"][row])
            levels = state["sampler"]
            positives = levels.positives(t["pair_article"][pair])  # [B, D]
            negatives, mask = levels.negatives(positives, p.negatives_per_level)  # [B, D, n]
            nodes = torch.cat([positives.unsqueeze(-1), negatives], -1)  # [B, D, 1 + n]: the positive first
            labels = torch.zeros(nodes.shape, device=nodes.device)
            labels[..., 0] = 1
            weight = torch.cat([torch.ones_like(mask[..., :1]), mask], -1).float()
            logits = self.model.score(enc, nodes.flatten(1)).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, labels.flatten(1), weight=weight.flatten(1), reduction="sum"
            )
            return loss / weight.sum()

        validate = None
        if valid_pairs.size:
            rows = np.unique(data.pair_example[valid_pairs])
            truth = pl.DataFrame({"row": data.pair_example[valid_pairs], "article": data.pair_article[valid_pairs]})
            inputs = {
                k: v[torch.from_numpy(rows).to(self.device)]
                for k, v in t.items()
                if k in ("items", "age_days", "customer", "dense", "week")
            }

            def validate() -> float:
                sampler()  # the prior's offsets on the current tree
                found = self._search(
                    TreeOnDevice.of(tree_of(self.model, p.branching), self.device),
                    inputs,
                    VALID_K,
                    p.beam or VALID_K,
                    offsets=state["offsets"],
                )[0]
                got = pl.DataFrame({"row": np.repeat(rows, found.shape[1]), "article": found.ravel()})
                hits = truth.join(got, on=["row", "article"], how="semi").group_by("row").len().rename({"len": "hits"})
                per = truth.group_by("row").len().join(hits, on="row", how="left").fill_null(0)
                return float((per["hits"] / per["len"]).mean())

        total = epochs * (p.tree_rounds + 1)
        settings = Settings(
            total, p.learning_rate, 0.0, total, run.seed, self.device
        )  # patience = all epochs: rounds never stop early
        log = train(
            self.model,
            loss_of,
            batches,
            int(train_pairs.size),
            settings,
            validate=validate,
            checkpoint=run.checkpoint,
            resume=run.resume,
            on_progress=run.on_progress,
        ).as_dict()
        self.tree = tree_of(self.model, p.branching)
        self.offsets = None if by_article is None else node_offsets(self.tree, by_article).to(self.device)
        if run.checkpoint is not None and leads():  # the final tree beside the checkpoint, as arrays anyone can read
            self.tree.save(run.checkpoint.with_name(run.checkpoint.stem + ".tree.npz"))
        unsold = unsold_articles(ctx.history, ctx.week, ctx.articles.height, p.sold_within_days)
        self.on_sale = TreeOnDevice.of(self.tree, self.device, None if unsold is None else np.flatnonzero(~unsold))
        rounds = [
            {
                "round": r,
                "after_epoch": (r + 1) * epochs,
                f"valid_recall@{VALID_K}": log["epochs"][(r + 1) * epochs - 1]["validation"],
            }
            for r in range(p.tree_rounds + 1)
            if len(log["epochs"]) >= (r + 1) * epochs
        ]
        return {
            **log,
            "rounds": rounds,
            "training_purchases": int(train_pairs.size),
            "held_out_purchases": int(valid_pairs.size),
            "batch_size": batch_size,
            "epochs_per_round": epochs,
            "steps_per_epoch": -(-int(train_pairs.size) // batch_size),
            "depth": self.tree.depth,
            **({"popularity_prior": dataclasses.asdict(prior)} if prior is not None else {}),
            "device": self.device.type,
        }

    def _search(
        self,
        on: TreeOnDevice,
        inputs: dict[str, torch.Tensor],
        k: int,
        beam: int,
        every_leaf: bool = False,
        offsets: torch.Tensor | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """[customers, k] article indexes (-1 where fewer leaves exist) and their scores, by beam
        search (or by scoring every leaf); `offsets`: the prior's node offsets [weeks, nodes], the
        row of each customer's week in `inputs["week"]`."""
        self.model.eval()
        tree = tree_of(self.model, self.params.branching)
        article_of_leaf = torch.from_numpy(tree.article_of_leaf).to(self.device)
        arts, scores = [], []
        with (
            torch.no_grad(),
            torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"),
        ):
            table = self.model.node_table()
            for lo in range(0, inputs["customer"].shape[0], RETRIEVE_BATCH):
                part = {k: v[lo : lo + RETRIEVE_BATCH] for k, v in inputs.items()}
                enc = self.model.encode(part["items"], part["age_days"], part["customer"], part["dense"])
                enc = with_prior(enc, offsets, part.get("week"))
                found = (
                    exhaustive(self.model, on, enc, k, table=table)
                    if every_leaf
                    else beam_search(self.model, on, enc, beam, k, table)
                )
                art = article_of_leaf[found.leaves - tree.first_leaf]
                arts.append(torch.where(torch.isfinite(found.scores), art, -1).cpu())
                scores.append(found.scores.cpu())
        return torch.cat(arts).numpy(), torch.cat(scores).numpy()

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        inputs = user_inputs(self.ctx.history, self.ctx.week, customers, self.params.history_length)
        arrays = to_device(inputs.arrays(), self.device)
        if self.offsets is not None:  # every customer reads the target week's row (the last)
            arrays["week"] = torch.full_like(arrays["customer"], self.offsets.shape[0] - 1)
        arts, scores = self._search(
            self.on_sale, arrays, k, self.params.beam or k, self.params.search == "exhaustive", self.offsets
        )
        keep = arts >= 0
        found = pl.DataFrame(
            {
                "customer": np.repeat(inputs.customer, arts.shape[1])[keep.ravel()].astype(np.uint32),
                "article": arts[keep].astype(np.uint32),
                "score": scores[keep].astype(np.float32),
            }
        )
        return fill_cold(found, customers, self.popular, k)


def split_validation(
    week: np.ndarray, pair_example: np.ndarray, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase pairs for training and for validation: those of up to `count` buyers of the
    newest week, never more than MAX_HELD_OUT_SHARE of them (drawn with the seed), so on a log of
    a few dozen buyers a week the week nearest the target still trains the model; none held out
    when the newest week is the only one."""
    pairs = np.arange(pair_example.size)
    if count == 0 or week.size == 0 or (week == week.max()).all():
        return pairs, pairs[:0]
    newest = np.flatnonzero(week == week.max())
    held = np.random.default_rng(seed).choice(newest, min(count, int(newest.size * MAX_HELD_OUT_SHARE)), replace=False)
    out = np.isin(pair_example, held)
    return pairs[~out], pairs[out]


def passes_for(examples: int, min_steps: int) -> int:
    """How many times the epochs are repeated: under `min_steps` x MIN_BATCH purchases (1,600 at
    100 steps) even the smallest batches leave an epoch short of steps, and still smaller batches
    fitted worse than more passes (docs/results.md, "TDM on small real logs")."""
    return max(1, -(-min_steps * MIN_BATCH // max(examples, 1)))


def initial_tree(ctx: Context, p: TDMParams, seed: int) -> Tree:
    if p.init == "catalogue":
        return catalogue_tree(ctx.articles, p.branching)
    return kmeans_tree(purchase_vectors(ctx), p.branching, seed)


def purchase_vectors(ctx: Context, size: int = 32) -> np.ndarray:
    """Article vectors from a truncated SVD of the recency-weighted customers x articles matrix
    (last 26 weeks), rows scaled to unit length; articles not bought get zero vectors."""
    import scipy.sparse.linalg

    from hmrec_cli.toolkit.interactions import interaction_matrix

    matrix = interaction_matrix(ctx.history, ctx.week, ctx.customers.height, ctx.articles.height, 182, 60.0)
    rank = min(size, min(matrix.shape) - 1)
    if rank < 1 or matrix.nnz == 0:
        return np.zeros((ctx.articles.height, 1))
    v0 = np.random.default_rng(0).standard_normal(min(matrix.shape))
    _, s, vt = scipy.sparse.linalg.svds(matrix.astype(np.float64), k=rank, v0=v0)
    vectors = vt.T * s
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def with_prior(enc: Encoded, offsets: torch.Tensor | None, week: torch.Tensor | None) -> Encoded:
    """`enc` scored with the prior's node `offsets` [weeks, nodes], each row reading its `week`'s
    row (unchanged without a prior)."""
    return enc if offsets is None else dataclasses.replace(enc, prior=(offsets, week))


def node_offsets(tree: Tree, by_article: torch.Tensor) -> torch.Tensor:
    """[weeks, nodes] the popularity prior's offset of every node of `tree`: the log of its
    subtree's share of softmax(`by_article` [weeks, articles]) times its level's valid nodes. A
    node is trained against negatives drawn uniformly from its level, so this is the log odds a
    node's classifier gives when it knows only the prior (0 where the week's sales are spread
    evenly); a level's share alone pushes deep nodes' logits so low that negatives teach nothing."""
    share = subtree_mass(torch.from_numpy(tree.paths), tree.n_nodes, torch.softmax(by_article.double(), dim=1))
    level = tree.level_of(np.arange(tree.n_nodes))
    level_size = np.where(tree.valid, np.bincount(level[tree.valid], minlength=tree.depth + 1)[level], 1)
    return (torch.log(share.clamp_min(EMPTY_MASS)) + torch.log(torch.from_numpy(level_size.astype(np.float64)))).float()


def build_model(ctx: Context, p: TDMParams, tree: Tree) -> NodeScorer:
    articles = article_side_table(ctx.articles, ctx.history, ctx.week, ctx.customers)  # row 0 = padding
    customers = customer_codes(ctx.customers)
    shape = Shape(
        articles=ctx.articles.height,
        first_leaf=tree.first_leaf,
        article_fields=articles.sizes,
        customer_fields=customers.sizes,
        dense=len(USER_DENSE),
        embedding_size=p.embedding_size,
        attention_hidden=p.attention_hidden,
        hidden=tuple(int(h) for h in p.hidden.split(",")),
    )
    return NodeScorer(
        shape,
        torch.from_numpy(articles.values),
        torch.from_numpy(customers.values),
        torch.zeros(tree.n_nodes, dtype=torch.long),
        p.repeat_term,
        torch.from_numpy(tree.level_of(np.arange(tree.n_nodes))) if p.popularity_prior else None,
    )


def tree_of(model: NodeScorer, branching: int) -> Tree:
    """The tree the model holds (its leaf -> article buffer), as arrays."""
    leaf_article = model.leaf_article.detach().cpu().numpy()
    nodes = np.flatnonzero(leaf_article)
    leaf_of_article = np.empty(nodes.size, dtype=np.int64)
    leaf_of_article[leaf_article[nodes] - 1] = nodes
    return Tree.from_leaves(leaf_of_article, branching)
