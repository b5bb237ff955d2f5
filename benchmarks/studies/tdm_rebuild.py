"""What a tree-learning round does to TDM's beam search, taken apart right after the rebuild.

    python benchmarks/studies/tdm_rebuild.py --data STORE [--learning greedy|kmeans] [--week last] [--votes 2000]

Fits `tdm -o tree_rounds=1 -o tree_learning=L` (plugin defaults otherwise, seed 0) and, just before
and just after the rebuild (before any retraining), measures on a sample of the votes (training
purchases, up to 8 an article as the greedy round draws them; kmeans draws none, so they are
drawn the same way with seed 0) the beam-search recall@100 of each voter's own purchase,
their summed log-likelihood of the bought article's ancestors on levels 1-6 and 7 down, the median
rank of those ancestors among all nodes of levels 7-12, and the held-out recall@100 of the newest
training week's held-out buyers. Prints one JSON object with the per-epoch held-out recall too.
The hooks wrap the plugin's own functions (training, rebuild, install), so what is measured is
the shipped code path.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import hmrec_plugins.tdm.fitting as fitting
import numpy as np
import torch
from hmrec_plugins.tdm import TDM, TDMParams
from hmrec_plugins.tdm.beam import TreeOnDevice
from hmrec_plugins.tdm.tree_learning import VOTES_PER_ARTICLE

from hmrec_cli.data.splits import history, resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.plugin_api import Context, RunSettings

RANK_LEVELS = range(7, 13)


def measure(seen: dict) -> dict:
    fitted, (users, rows, articles) = seen["fitted"], seen["votes"]
    model, tree = fitted.model, fitting.tree_of(fitted.model, fitted.params.branching)
    inputs = {k: users[k][rows] for k in ("items", "age_days", "customer", "dense")}
    found = fitted._search(TreeOnDevice.of(tree, fitted.device), inputs, 100, 100)[0]
    bought = articles.cpu().numpy()
    with torch.no_grad():
        enc = model.encode(inputs["items"], inputs["age_days"], inputs["customer"], inputs["dense"])
        paths = torch.from_numpy(tree.paths[bought][:, 1 : tree.depth]).to(fitted.device)
        ancestor = model.score(enc, paths).float()
        loglik = torch.nn.functional.logsigmoid(ancestor)
        ranks = [
            float(
                (
                    model.score(enc, torch.from_numpy(tree.level_nodes(lv)).to(fitted.device)).float()
                    > ancestor[:, lv - 1 : lv]
                )
                .sum(1)
                .median()
            )
            for lv in RANK_LEVELS
            if lv < tree.depth
        ]
    return {
        "voters_recall@100": round(float((found == bought[:, None]).any(1).mean()), 4),
        "loglik_levels_1_6": round(float(loglik[:, :6].sum(1).mean()), 3),
        "loglik_levels_7_down": round(float(loglik[:, 6:].sum(1).mean()), 3),
        "median_rank_levels_7_12": ranks,
        "held_out_recall@100": round(seen["validate"](), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--learning", choices=("greedy", "kmeans"), default="greedy")
    ap.add_argument("--week", default="last")
    ap.add_argument("--votes", type=int, default=2000)
    args = ap.parse_args()
    seen: dict = {}
    train, fit, install, sampled = fitting.train, fitting.Fitted.fit, fitting.install, fitting.sample_votes

    def hooked_fit(self, *a, **kw):
        seen["fitted"] = self
        return fit(self, *a, **kw)

    def hooked_train(*a, **kw):
        seen["validate"] = kw["validate"]
        return train(*a, **kw)

    def hooked_votes(pair_article, pairs, per_article, seed):
        votes = sampled(pair_article, pairs, per_article, seed)
        seen["vote_pairs"] = np.random.default_rng(0).choice(votes, min(args.votes, votes.size), replace=False)
        return votes

    def hooked_install(model, tree, keep_inner=False):
        if "validate" in seen and "before" not in seen:  # the rebuild's install: measure the old tree first
            if "vote_pairs" not in seen:  # kmeans draws no votes: draw them as greedy would
                hooked_votes(seen["t"]["pair_article"].cpu().numpy(), seen["train_pairs"], VOTES_PER_ARTICLE, 0)
            pairs = torch.from_numpy(seen["vote_pairs"]).to(model.leaf_article.device)
            seen["votes"] = (seen["t"], seen["t"]["pair_example"][pairs], seen["t"]["pair_article"][pairs])
            seen["before"] = measure(seen)
            install(model, tree, keep_inner=keep_inner)
            seen["after"] = measure(seen)
            return
        install(model, tree, keep_inner=keep_inner)

    def hooked_to_device(arrays, device):
        moved = to_device(arrays, device)
        if "pair_example" in moved:
            seen["t"] = moved
        return moved

    def hooked_split(*a, **kw):
        seen["train_pairs"], held_out = split(*a, **kw)
        return seen["train_pairs"], held_out

    to_device, split = fitting.to_device, fitting.split_validation
    fitting.train, fitting.Fitted.fit, fitting.install, fitting.sample_votes = (
        hooked_train,
        hooked_fit,
        hooked_install,
        hooked_votes,
    )
    fitting.to_device, fitting.split_validation = hooked_to_device, hooked_split
    store = Store.open(args.data)
    week = resolve_week(args.week, store.first_date, store.last_date)
    ctx = Context(
        history=history(store.transactions, week), articles=store.articles, customers=store.customers, week=week
    )
    log = TDM(TDMParams(tree_rounds=1, tree_learning=args.learning)).fit(ctx, RunSettings(seed=0, device="cpu"))
    print(
        json.dumps(
            {
                "learning": args.learning,
                "week": week.label,
                "before_rebuild": seen["before"],
                "after_rebuild": seen["after"],
                "held_out_recall@100_per_epoch": [round(e["validation"], 4) for e in log["epochs"]],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
