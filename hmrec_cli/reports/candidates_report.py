"""`hmrec evaluate --candidates`: candidate sets side by side, and their union, on rolling weeks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from hmrec_cli.cache import Cache, Entry, split_name
from hmrec_cli.data.splits import Week, history, truth
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.pipeline.recall import Request, candidate_scores, ranked_hits, run, scores_of_hits, summarise
from hmrec_cli.pipeline.settings import PluginParams

SEGMENTS = ("bought in last 4 weeks", "bought earlier", "never bought")


CURVE_K = 100  # recall@K is drawn for K = 1 .. CURVE_K
CANDIDATES_K = 100  # candidates per buyer of each set built for the comparison


@dataclass
class SetResult:
    name: str  # method@key of every week used, or "union" / "oracle"
    scores: list[pl.DataFrame]
    curves: list[np.ndarray] = field(default_factory=list)  # per week: recall@K summed over its buyers, K = 1..CURVE_K

    def pooled(self) -> pl.DataFrame:
        return pl.concat(self.scores)

    def recall_curve(self) -> list[float]:
        """Macro recall@K for K = 1..CURVE_K over every buyer-week (empty for a set with no order,
        or weeks without buyers)."""
        if not self.curves or not self.pooled().height:
            return []
        return (sum(self.curves) / self.pooled().height).tolist()


def recall_sums(candidates: pl.DataFrame, target: pl.DataFrame, k: int = CURVE_K) -> np.ndarray:
    """recall@K summed over the week's buyers for K = 1..k. Divided by the buyers it is the macro
    recall@K of `candidate_scores`."""
    return curve_of_hits(ranked_hits(candidates, target), k)


def curve_of_hits(hits: pl.DataFrame, k: int = CURVE_K) -> np.ndarray:
    """`recall_sums` from a set's `ranked_hits`, in one pass: each hit at position p adds
    1/|purchases| of its buyer to every K >= p."""
    near = hits.filter(pl.col("pos") <= k)
    weights = np.bincount(near["pos"].to_numpy() - 1, weights=1.0 / near["n_truth"].to_numpy(), minlength=k)
    return np.cumsum(weights)


def scored(candidates: pl.DataFrame, target: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """A set's per-buyer scores and its recall curve, from one ranking of the set."""
    hits = ranked_hits(candidates, target)
    return scores_of_hits(hits, target, candidates), curve_of_hits(hits)


def buyer_segments(store: Store, week: Week) -> pl.DataFrame:
    """Each of the week's buyers with their segment by their last purchase before the week."""
    buyers = truth(store.transactions, week).select("customer").unique()
    last = history(store.transactions, week).group_by("customer").agg(last=pl.col("t_dat").max())
    days = (pl.lit(week.start) - pl.col("last")).dt.total_days()
    return buyers.join(last, on="customer", how="left").select(
        "customer",
        segment=pl.when(pl.col("last").is_null())
        .then(pl.lit(SEGMENTS[2]))
        .when(days <= 28)
        .then(pl.lit(SEGMENTS[0]))
        .otherwise(pl.lit(SEGMENTS[1])),
    )


def compare(
    store: Store,
    cache: Cache,
    names: list[str],
    weeks: list[Week],
    plugins: PluginParams,
    seed: int,
    on_progress: Callable[[str, int, int], None],
    device: str = "auto",
    resume: bool = False,
) -> tuple[list[SetResult], pl.DataFrame]:
    """Per named set (plus union, plus the oracle when known): per-customer-week scores pooled over
    `weeks`; and per set the pooled scores by buyer segment."""
    results = {name: SetResult(name, []) for name in names}
    labels: dict[str, set[str]] = {name: set() for name in names}
    union, oracle = SetResult("union", []), SetResult("oracle", [])
    segments = []
    for week in with_purchases(weeks):
        target = truth(store.transactions, week)
        buyers = target["customer"].unique()
        week_segments = buyer_segments(store, week)
        sets = []
        for name in names:
            entry = _entry(store, cache, name, week, plugins, seed, on_progress, device, resume)
            labels[name].add(entry.label)
            cands = entry.read().filter(pl.col("customer").is_in(buyers.implode()))
            scores, curve = scored(cands, target)
            results[name].scores.append(scores)
            results[name].curves.append(curve)
            segments.append(  # sorted: a join's row order varies between runs, and so would a mean's last digit
                scores.join(week_segments, on="customer").sort("customer").with_columns(set=pl.lit(name))
            )
            sets.append(cands)
        merged = (
            pl.concat([s.select("customer", "article", "score") for s in sets])
            .group_by("customer", "article")
            .agg(pl.col("score").max())
        )
        union.scores.append(candidate_scores(merged, target))
        truth_oracle = store.oracle(week.start)
        if truth_oracle is not None:
            scores, curve = scored(truth_oracle.drop("rank"), target)
            oracle.scores.append(scores)
            oracle.curves.append(curve)
    out = [SetResult(" ".join(sorted(labels[n])), results[n].scores, results[n].curves) for n in names]
    out.append(union)
    if len(oracle.scores) == len(weeks):
        out.append(oracle)
    return out, pl.concat(segments)


def with_purchases(weeks: list[Week]) -> list[Week]:
    """`weeks`, each of which must hold purchases to compare sets on (week next holds none)."""
    if not all(week.has_truth for week in weeks):
        raise InputError("--candidates needs weeks with purchases; week next has none")
    return weeks


def set_request(method: str, week: Week, plugins: PluginParams) -> Request:
    """What a set named by its method is compared as: its top `CANDIDATES_K` for the week's buyers."""
    return Request(method, week, CANDIDATES_K, plugins, "buyers")


def built_requests(names: list[str], weeks: list[Week], plugins: PluginParams) -> list[Request]:
    """The sets `compare` builds (or takes from the cache): each method named without a key, every week."""
    methods = [split_name(name)[0] for name in names if not split_name(name)[1]]
    return [set_request(method, week, plugins) for week in with_purchases(weeks) for method in methods]


def _entry(
    store: Store,
    cache: Cache,
    name: str,
    week: Week,
    plugins: PluginParams,
    seed: int,
    on_progress,
    device: str,
    resume: bool,
) -> Entry:
    """`method@key`: that cached set; `method`: the set of the parameters in force (defaults, the
    config file, -o), from the cache or built, never a cached set of other parameters."""
    method, key = split_name(name)
    if key:
        return cache.resolve("candidates", name, week.start.isoformat(), store.fingerprint)
    return run(
        store,
        cache,
        set_request(method, week, plugins),
        seed=seed,
        on_progress=on_progress,
        device=device,
        resume=resume,
    )


def table_rows(results: list[SetResult]) -> list[dict]:
    return [{"set": r.name, **summarise(r.pooled())} for r in results]


def segment_rows(segments: pl.DataFrame) -> list[dict]:
    """Per set and segment, with the keys of the sets' rows (`buyer_weeks`: a buyer counts once per
    week). The means are numpy's over each group's rows in their order: polars 2.2 sums a group's
    floats in an order of its own, so a sharded run's last digit differed from a plain one's."""
    rows = [
        {
            "set": name,
            "segment": segment,
            "buyer_weeks": group.height,
            "recall@100": float(np.mean(group["recall@100"].to_numpy())),
            "recall@all": float(np.mean(group["recall@all"].to_numpy())),
            "map@12": float(np.mean(group["ap"].to_numpy())),
        }
        for (name, segment), group in segments.group_by("set", "segment", maintain_order=True)
    ]
    return sorted(rows, key=lambda row: (row["set"], row["segment"]))
