"""Is a learned tree better than the catalogue tree, when a fresh model is trained on it?

    python benchmarks/studies/tdm_fresh_tree.py --data STORE [--week last] [--seeds 0,1,2] [--learning kmeans,greedy]

For each seed: fits `tdm` with its defaults on the catalogue tree, builds the tree a tree-learning
round would build from that model (`kmeans` of its article vectors, or JTM's `greedy`
re-assignment, with the plugin's own functions and the round's seed), then fits a new model, from
scratch and with the same seed and settings, on that tree. Each fit's recall@100 over the week's
buyers (per buyer, then averaged) is compared with the catalogue fit of the same seed, paired over
the same buyers; the spread between seeds on the catalogue tree says how large a difference
training noise alone makes. Prints one JSON line per fit as it finishes, then a summary.

A round in the plugin keeps training the model it has (and, with `kmeans`, restarts the inner nodes
as means); this asks the cleaner question of whether the learned tree itself is better.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import hmrec_plugins.tdm.fitting as fitting
import numpy as np
import polars as pl
import torch
from hmrec_plugins.tdm import TDM, TDMParams
from hmrec_plugins.tdm.tree_learning import VOTES_PER_ARTICLE, reassigned_tree, relearned_tree, sample_votes

from hmrec_cli.data.splits import history, resolve_week, truth
from hmrec_cli.data.store import Store
from hmrec_cli.metrics import recall
from hmrec_cli.plugin_api import Context, RunSettings
from hmrec_cli.toolkit.batches import to_device
from hmrec_cli.toolkit.weekly_examples import weekly_examples

K = 100


def fit(ctx: Context, seed: int, tree=None) -> tuple[TDM, dict]:
    """A TDM with the plugin's defaults, on `tree` instead of the initial tree when one is given."""
    initial = fitting.initial_tree
    if tree is not None:
        fitting.initial_tree = lambda ctx, p, seed: tree
    try:
        began = time.perf_counter()
        model = TDM(TDMParams())
        log = model.fit(ctx, RunSettings(seed=seed, device="cpu"))
    finally:
        fitting.initial_tree = initial
    return model, {
        "valid_recall@100": [round(e["validation"], 4) for e in log["epochs"]],
        "fit_s": round(time.perf_counter() - began),
    }


def learned_tree(model: TDM, ctx: Context, how: str, seed: int):
    """The tree a round after the first `epochs` epochs would build (the plugin's functions and seeds)."""
    p, fitted = model.params, model.fitted
    if how == "kmeans":
        return relearned_tree(fitted.model, p.branching, seed + p.epochs)
    data = weekly_examples(ctx.history, ctx.week, p.weeks, p.history_length)
    train_pairs, _ = fitting.split_validation(data.week, data.pair_example, p.valid_customers, seed)
    t = to_device(
        {**data.users.arrays(), "pair_example": data.pair_example, "pair_article": data.pair_article}, fitted.device
    )
    votes = torch.from_numpy(sample_votes(data.pair_article, train_pairs, VOTES_PER_ARTICLE, seed + p.epochs)).to(
        fitted.device
    )
    return reassigned_tree(
        fitted.model,
        fitting.tree_of(fitted.model, p.branching),
        t,
        t["pair_example"][votes],
        t["pair_article"][votes],
        p.gap,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--week", default="last")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--learning", default="kmeans,greedy")
    args = ap.parse_args()
    load = os.getloadavg()
    store = Store.open(args.data)
    week = resolve_week(args.week, store.first_date, store.last_date)
    ctx = Context(
        history=history(store.transactions, week), articles=store.articles, customers=store.customers, week=week
    )
    bought = truth(store.transactions, week)
    buyers = bought["customer"].unique().sort()

    def per_buyer(model: TDM) -> np.ndarray:
        found = model.retrieve(buyers, K).with_columns(
            rank=pl.col("score").rank("ordinal", descending=True).over("customer")
        )
        return recall(found, bought, K)["recall"].to_numpy()

    rows = []
    for seed in map(int, args.seeds.split(",")):
        catalogue, log = fit(ctx, seed)
        base = per_buyer(catalogue)
        rows.append({"seed": seed, "tree": "catalogue", "recall@100": round(float(base.mean()), 4), **log})
        print(json.dumps(rows[-1]), flush=True)
        for how in args.learning.split(","):
            model, log = fit(ctx, seed, learned_tree(catalogue, ctx, how, seed))
            diff = per_buyer(model) - base
            rows.append(
                {
                    "seed": seed,
                    "tree": how,
                    "recall@100": round(float(base.mean() + diff.mean()), 4),
                    "minus_catalogue": round(float(diff.mean()), 4),
                    "paired_se": round(float(diff.std() / np.sqrt(diff.size)), 4),
                    **log,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    summary = {
        tree: round(float(np.mean([r["recall@100"] for r in rows if r["tree"] == tree])), 4)
        for tree in ("catalogue", *args.learning.split(","))
    }
    catalogue_runs = [r["recall@100"] for r in rows if r["tree"] == "catalogue"]
    print(
        json.dumps(
            {
                "week": week.label,
                "buyers": buyers.len(),
                "mean_over_seeds": summary,
                "catalogue_seed_spread": round(max(catalogue_runs) - min(catalogue_runs), 4),
                "load_average_before": load,
                "load_average_after": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    main()
