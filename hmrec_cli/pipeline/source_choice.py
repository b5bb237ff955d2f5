"""`--candidates auto`: which sources a ranking fuses, chosen on the data's own training weeks.

No one list of sources wins everywhere: on a film log without repeats the neural sources lift
merge by a tenth, on the real H&M extract they cost it, on the synthetic world they pay again.
So `auto` fits every source of the pool for the training weeks and picks by forward selection:
start from the four sources the full H&M data was tuned with (`POLICY.start`), then add, one at
a time, the source that most raises the MAP@12 of the equal-weight fusion (`fusion.fuse`, weights
1, c = `POLICY.c`), pooled over the training weeks' buyers, while the gain is clear of noise: above
`POLICY.min_gain_se` standard errors of the per-buyer difference. Starting from the single best
source instead chose one or two sources a week on the real extract and lost there. Equal weights keep
the choice from tuning itself to the weeks it is measured on (the ranker tunes its fusion
afterwards); the week ranked is never seen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from hmrec_cli.metrics import ManyOrders
from hmrec_cli.toolkit.fusion import fuse, ranks


@dataclass(frozen=True)
class ChoicePolicy:
    """How `--candidates auto` chooses; every ranking's cache key hashes it."""

    start: tuple[str, ...] = (
        "popular",
        "repurchase",
        "same-product",
        "itemcf",
    )  # the sources full H&M data was tuned with
    pool: tuple[str, ...] = (  # the sources auto fits for the training weeks and chooses from
        "popular",
        "repurchase",
        "same-product",
        "itemcf",
        "usercf",
        "als",
        "bpr",
        "sampled-softmax",
        "youtube-dnn",
    )
    min_gain_se: float = 1.0  # a source is added while its gain exceeds this many standard errors
    c: float = 10.0  # the equal-weight fusion's rank offset (merge's default)
    customers: int = 20_000  # buyers per week the choice is measured on (drawn with the seed; all when fewer)


POLICY = ChoicePolicy()


def default_sources(store=None) -> tuple[str, ...]:
    """The sources rank, submit, recommend and the API use when none are named or configured: the
    ones `auto` starts from, less those the store (when given) cannot feed."""
    return POLICY.start if store is None else offered(store, POLICY.start)


def offered(store, sources: tuple[str, ...]) -> tuple[str, ...]:
    """`sources` less those the store cannot feed: a source that groups articles by product on a
    store without products (an order log ingested without --product) would only repeat `popular`."""
    if store.has_products:
        return sources
    from hmrec_cli.registry import find

    return tuple(s for s in sources if not find("retriever", s).load().needs_products)


class Weeks:
    """The training weeks as the choice reads them, prepared once: per week the buyers with a
    purchase among the candidates (ready to score many orders), each source's ranks, and how many
    buyers the week has (the others score 0 in any order)."""

    def __init__(self, weeks: list[tuple[pl.DataFrame, int]], sources: tuple[str, ...], k: int):
        self.sources, self.k = sources, k
        self.parts = [
            (ManyOrders(rows), ranks(rows, sources), buyers) if rows.height else (None, None, buyers)
            for rows, buyers in weeks
        ]
        self.any_hit = any(rows.height for rows, _ in weeks)

    def per_buyer_ap(self, chosen: list[str]) -> np.ndarray:
        """AP@12 of the equal-weight fusion of `chosen` for every buyer of every week."""
        columns = [self.sources.index(s) for s in chosen]
        out = []
        for orders, source_ranks, buyers in self.parts:
            ap = (
                orders.ap(fuse(source_ranks[:, columns], [1.0] * len(columns), POLICY.c, self.k))
                if orders
                else np.zeros(0)
            )
            out += [ap, np.zeros(buyers - ap.size)]
        return np.concatenate(out)


def choose(
    weeks: list[tuple[pl.DataFrame, int]],
    sources: tuple[str, ...],
    k: int,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
) -> tuple[tuple[str, ...], list[dict]]:
    """The sources to fuse (in the pool's order) and each step's figures, in the order taken (for the manifest)."""
    prepared = Weeks(weeks, sources, k)
    if not prepared.any_hit:
        return sources, [
            {"note": "no buyer of a training week has a purchase among the candidates: the whole pool is kept"}
        ]
    chosen = [s for s in sources if s in POLICY.start]
    current = prepared.per_buyer_ap(chosen)
    steps = [{"source": s, "map@12": float(current.mean()), "why": "start"} for s in chosen]
    while len(chosen) < len(sources):
        on_progress("choosing the sources", len(chosen), len(sources))
        trials = {s: prepared.per_buyer_ap([*chosen, s]) for s in sources if s not in chosen}
        best = max(trials, key=lambda s: (trials[s].mean(), -sources.index(s)))
        diff = trials[best] - current
        gain, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("inf")
        if gain <= POLICY.min_gain_se * se:
            steps.append({"source": best, "gain": gain, "stderr": se, "why": "left out: gain not clear of the noise"})
            break
        chosen.append(best)
        current = trials[best]
        steps.append({"source": best, "map@12": float(current.mean()), "gain": gain, "stderr": se, "why": "added"})
    return tuple(s for s in sources if s in chosen), steps
