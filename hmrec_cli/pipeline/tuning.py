"""`hmrec tune`: search a plugin's parameters on rolling back-test weeks, never on the week evaluated.

The tuning weeks are the `weeks` weeks just before the target week, so nothing a trial fits or
scores reads a row of the target week or later (each week's fit sees only rows before that week,
and its truth ends before the target week starts). The target week is then a clean hold-out: the
start and the best settings are scored on it after the search has chosen.

A trial is one set of parameters, run through the normal path (`recall.run` for a retriever,
`ranking.rank` for a ranker), so every candidate set and ranking is cached like any other run:
repeating a tune answers its trials from the cache. Trial 0 is the settings in force (defaults,
then the project config, then -o, resolved by the caller), so the best trial is never worse than the start on the
tuning weeks. Parameters given with -o are pinned: the search varies the others.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import polars as pl

from hmrec_cli.cache import Cache, Entry
from hmrec_cli.data.splits import DAYS, Week, earlier_weeks_with_history, truth
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import K, average_precision, recall
from hmrec_cli.pipeline.ranking import RankRequest, rank
from hmrec_cli.pipeline.recall import Request, ordered, run
from hmrec_cli.pipeline.search_space import Dimension, dimensions, propose
from hmrec_cli.pipeline.settings import PluginParams, Sources, TrainWeeks
from hmrec_cli.registry import find


@dataclass(frozen=True)
class TuneRequest:
    """What to tune: a retriever (`sources` empty) or a ranker over `sources`, on the `weeks`
    weeks before `week`, by `metric` (`recall@N` or `map@12`). `plugins`: the parameters in force
    (`plugin_params.resolve`); what -o set for the tuned plugin is pinned."""

    plugin: str
    week: Week
    weeks: int = 4
    trials: int = 40
    metric: str = "recall@100"
    k: int = 100
    sources: Sources = ()  # or AUTO: as `hmrec rank --candidates auto`
    train_weeks: TrainWeeks = 4
    plugins: PluginParams = PluginParams()
    only: tuple[str, ...] = ()  # search only these parameters (empty: every one with a range)
    holdout_weeks: int = 1  # hold-out: the target week and the weeks after it, this many in all

    @property
    def is_ranker(self) -> bool:
        return bool(self.sources)


@dataclass
class Trial:
    number: int
    params: dict  # the searched parameters' values
    mean: float = math.nan
    se: float = math.nan
    customer_weeks: int = 0
    seconds: float = 0.0
    cached: bool = False  # every week answered from the cache
    entries: list[str] = field(default_factory=list)
    values: np.ndarray = field(
        default_factory=lambda: np.zeros(0), repr=False
    )  # per customer-week, the same order in every trial

    def as_dict(self) -> dict:
        return {
            "trial": self.number,
            "params": self.params,
            "metric": self.mean,
            "se": self.se,
            "customer_weeks": self.customer_weeks,
            "seconds": round(self.seconds, 3),
            "cached": self.cached,
            "entries": self.entries,
        }


@dataclass
class Outcome:
    dims: list[Dimension]
    pinned: dict  # -o values, fixed in every trial
    weeks: list[Week]
    trials: list[Trial]

    @property
    def best(self) -> Trial:
        return max(
            self.trials, key=lambda t: (-math.inf if math.isnan(t.mean) else t.mean, -t.number)
        )  # equals: the earlier trial

    def gain(self) -> tuple[float, float]:
        """Best minus trial 0 on the tuning weeks, with the paired standard error (same customer-weeks)."""
        return paired(self.best.values, self.trials[0].values)


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of a - b and its standard error, a and b scored on the same customers in the same order."""
    diff = a - b
    return (float(diff.mean()) if diff.size else math.nan), (
        float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan
    )


def tuning_weeks(week: Week, weeks: int, store: Store) -> list[Week]:
    """The `weeks` weeks just before `week`, oldest first; each must start after the first day
    (its fit needs history)."""
    if weeks < 1:
        raise InputError(f"--weeks {weeks}: tune on at least one week")
    if weeks > (most := earlier_weeks_with_history(week.start, store.first_date)):
        raise InputError(
            f"--weeks {weeks}: the data starts {store.first_date}, so at most {max(most, 0)} weeks before the week {week.start} "
            "have history to tune on; use fewer weeks or a later --week"
        )
    return [week.earlier(i) for i in range(weeks, 0, -1)]


def check_metric(metric: str, k: int, is_ranker: bool) -> tuple[str, int]:
    """`recall@N` (N <= k) or `map@12`; a ranker keeps 12 articles, so recall@N <= 12 there."""
    name, at, n = metric.strip().lower().partition("@")
    if not at or not n.isdigit() or name not in ("recall", "map") or int(n) < 1:
        raise InputError(f"--metric {metric}: expected recall@N (e.g. recall@100) or map@12")
    if name == "map" and int(n) != K:
        raise InputError(f"--metric {metric}: MAP is scored at 12 (the competition's cut-off): map@12")
    limit = K if is_ranker else k
    if name == "recall" and int(n) > limit:
        raise InputError(
            f"--metric {metric}: at most recall@{limit} ({'a ranking keeps 12 articles' if is_ranker else f'--k {k} candidates'})"
        )
    return name, int(n)


def tune(
    store: Store,
    cache: Cache,
    request: TuneRequest,
    seed: int = 0,
    on_trial: Callable[[Trial, Outcome], None] = lambda trial, outcome: None,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
    device: str = "auto",
) -> Outcome:
    """Run trial 0 (the settings in force) and `trials - 1` proposed ones; call `on_trial` as each finishes."""
    if request.trials < 1:
        raise InputError(f"--trials {request.trials}: run at least one trial")
    kind = "ranker" if request.is_ranker else "retriever"
    cls = find(kind, request.plugin).load()
    check_metric(request.metric, request.k, request.is_ranker)
    pinned = dict(request.plugins.given.get(request.plugin, {}))
    start = dataclasses.asdict(request.plugins.of(request.plugin, cls.Params))
    dims = dimensions(cls.Params, request.only, tuple(pinned))
    if not dims:
        raise InputError(
            f"{request.plugin}: no parameter left to search (its searchable ones are pinned with -o or it declares no search range)"
        )
    weeks = tuning_weeks(request.week, request.weeks, store)
    if request.week.has_truth:
        holdout_weeks(request.week, request.holdout_weeks, store)  # refuse a hold-out past the data before any work
    elif request.holdout_weeks > 1:
        raise InputError(f"--holdout-weeks {request.holdout_weeks}: week next has no purchases to score")
    outcome = Outcome(dims, pinned, weeks, [])
    rng = np.random.default_rng(seed)
    tried: list[tuple[dict, float | None]] = []
    for number in range(request.trials):
        point = {d.name: start[d.name] for d in dims} if number == 0 else propose(dims, tried, request.trials, rng)
        trial = score_trial(store, cache, request, number, point, weeks, seed, on_progress, device)
        tried.append((point, None if math.isnan(trial.mean) else trial.mean))  # NaN: a week without buyers
        outcome.trials.append(trial)
        on_trial(trial, outcome)
    return outcome


def score_trial(
    store: Store,
    cache: Cache,
    request: TuneRequest,
    number: int,
    point: dict,
    weeks: list[Week],
    seed: int,
    on_progress,
    device: str,
) -> Trial:
    """The trial's metric pooled over every buyer of every tuning week, with its standard error."""
    started = time.perf_counter()
    values, entries = [], []
    for week in weeks:
        entry = run_point(store, cache, request, point, week, seed, on_progress, device)
        entries.append(entry)
        values.append(per_customer(entry, store, week, request))
    pooled = np.concatenate(values)
    se = float(pooled.std(ddof=1) / math.sqrt(pooled.size)) if pooled.size > 1 else math.nan
    mean = float(pooled.mean()) if pooled.size else math.nan
    return Trial(
        number,
        point,
        mean,
        se,
        int(pooled.size),
        time.perf_counter() - started,
        all(e.cached for e in entries),
        [e.label for e in entries],
        pooled,
    )


def run_point(
    store: Store, cache: Cache, request: TuneRequest, point: dict, week: Week, seed: int, on_progress, device: str
) -> Entry:
    """The cached candidate set (retriever) or ranking (ranker) of these parameters for the week's
    buyers; the trial's values replace the plugin's parameters in force (checked as -o is)."""
    kind = "ranker" if request.is_ranker else "retriever"
    plugins = request.plugins.trying(request.plugin, find(kind, request.plugin).load().Params, point)
    if request.is_ranker:
        ranking = RankRequest(request.plugin, request.sources, week, request.train_weeks, request.k, plugins, "buyers")
        return rank(store, cache, ranking, seed=seed, device=device, on_progress=on_progress)
    return run(
        store,
        cache,
        Request(request.plugin, week, request.k, plugins, "buyers"),
        seed=seed,
        on_progress=on_progress,
        device=device,
    )


def per_customer(entry: Entry, store: Store, week: Week, request: TuneRequest) -> np.ndarray:
    """The metric of each of the week's buyers (a buyer the set leaves out scores 0)."""
    target = truth(store.transactions, week)
    name, n = check_metric(request.metric, request.k, request.is_ranker)
    found = entry.read().filter(pl.col("customer").is_in(target["customer"].unique().implode()))
    ranked = found.select("customer", "article", "rank") if "rank" in found.columns else ordered(found)
    scores = average_precision(ranked, target) if name == "map" else recall(ranked, target, n).rename({"recall": "ap"})
    return scores["ap"].to_numpy()


def holdout(
    store: Store, cache: Cache, request: TuneRequest, start: dict, best: dict, seed: int, on_progress, device: str
) -> dict:
    """The metric of the start and of the best point on the target week itself (which chose
    nothing), each with its standard error, and best - start with the paired standard error."""
    weeks = holdout_weeks(request.week, request.holdout_weeks, store)
    scored = {}
    for label, point in (("start", start), ("best", best)):
        entries = [run_point(store, cache, request, point, week, seed, on_progress, device) for week in weeks]
        values = np.concatenate([per_customer(e, store, w, request) for e, w in zip(entries, weeks, strict=True)])
        se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
        scored[label] = (
            values,
            {
                "metric": float(values.mean()) if values.size else math.nan,
                "se": se,
                "customer_weeks": int(values.size),
                "entries": [e.label for e in entries],
            },
        )
    gain, gain_se = paired(scored["best"][0], scored["start"][0])
    return {
        "weeks": [w.start.isoformat() for w in weeks],
        "start": scored["start"][1],
        "best": scored["best"][1],
        "gain": gain,
        "gain_se": gain_se,
    }


def unclear_gain(outcome: Outcome, held: dict, min_gain_se: float) -> str | None:
    """Why the best settings are not worth writing, or None when they are: the rankers' rule, a
    gain over trial 0 (the settings in force) above `min_gain_se` standard errors of the paired
    per-buyer difference, on the hold-out (`held`), which chose nothing; without one (week next)
    on the tuning weeks, which chose the best and so flatter it."""
    if outcome.best is outcome.trials[0]:
        return "trial 0, the settings in force, stayed best"
    if held:
        (gain, se), where = (
            (held["gain"], held["gain_se"]),
            "on the hold-out week" if len(held["weeks"]) == 1 else f"on the {len(held['weeks'])} hold-out weeks",
        )
    else:
        (gain, se), where = outcome.gain(), "on the tuning weeks (week next has no hold-out)"
    if gain > min_gain_se * se:
        return None
    return f"{gain:+.4f} ± {se:.4f} {where}, below {min_gain_se:g} SE"


def holdout_weeks(week: Week, count: int, store: Store) -> list[Week]:
    """The target week and the `count - 1` weeks after it: none of them chose anything."""
    after = (
        store.last_date - timedelta(days=DAYS - 1) - week.start
    ).days // DAYS  # whole weeks after it that end by the last date
    if count - 1 > after:
        raise InputError(
            f"--holdout-weeks {count}: the data ends on {store.last_date}, so at most {after + 1} weeks from {week.start} have purchases to score"
        )
    return [week.earlier(-i) for i in range(count)]
