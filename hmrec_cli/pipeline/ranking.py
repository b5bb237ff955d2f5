"""Running a ranker for a week: build labelled candidate unions for the weeks before it, fit, score
the target week's union in customer chunks, cache the top 12 per customer and measure it.

Every training week is built exactly as the target week is: each source fitted on the history
before *that* week (through `recall.run`, so cached), its candidates for that week's buyers, and
a Context whose history is cut at that week's start. Labels are that week's purchases. Nothing
fitted or computed for a week sees a row on or after its first day.

Memory is bounded at any scale: every week's union is built `RANK_CHUNK` customers at a time (the
same chunks for training weeks and the target week, `candidate_features.customer_chunks`). A
training chunk keeps only what a ranker learns from (customers with a purchase among their
candidates: every positive and the ranker's `negative_share` of the negatives, drawn per row from
the seed so the chunking never changes which) and is spilled to Parquet under
`cache/models/<ranker>/<week>/` until the week is complete, beside every row of up to
`POLICY.tune_customers` of those customers (their ranks and labels only: what tuning merge's
order needs, so a learned ranker starts from exactly the order `merge` would fit); the newest
training week keeps every row of at most `POLICY.newest_week_customers` buyers; the target week
is scored chunk by chunk. Nothing holds customers x candidates x features for all customers at once.

The cache key is derived, never listed by hand: the request's fields (`cache.request_fields`),
the plugins' versions, code (`code_digest.plugin_digest`) and parameters, and the code and POLICY
constants of this module and of every core module it reaches (`code_digest.pipeline_state`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from hmrec_cli.atomic import scratch_dir
from hmrec_cli.cache import Cache, Entry, cache_key, customers_digest, request_fields
from hmrec_cli.data.frames import stack
from hmrec_cli.data.splits import Week, earlier_weeks_with_history, history_prefix, truth, with_purchases
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import K, ManyOrders, average_precision, recall
from hmrec_cli.pipeline import settings as pipeline_settings
from hmrec_cli.pipeline import shards, shared_fits, source_choice
from hmrec_cli.pipeline.bought import drops_bought
from hmrec_cli.pipeline.code_digest import pipeline_state, plugin_digest
from hmrec_cli.pipeline.manifests import CandidateManifest, RankingManifest
from hmrec_cli.pipeline.recall import Request, device_kind_of, ordered, run, select_customers
from hmrec_cli.pipeline.recall import prefit as recall_prefit
from hmrec_cli.pipeline.row_samples import at_most, first_customers, kept, whole_rows
from hmrec_cli.pipeline.settings import AUTO, Auto, DropBought, PluginParams, Sources, TrainWeeks
from hmrec_cli.pipeline.shards import Shard
from hmrec_cli.pipeline.source_choice import choose
from hmrec_cli.pipeline.spill import Spill
from hmrec_cli.plugin_api import Context, Ranker, RankingWeek, RunSettings, check_device, check_scores
from hmrec_cli.registry import PluginInfo, find
from hmrec_cli.toolkit.candidate_features import FEATURE_CHUNK, customer_chunks
from hmrec_cli.toolkit.data_parallel import from_leader, leads, local_scratch, manifest_fields, world
from hmrec_cli.toolkit.fusion import TUNE_CUSTOMERS, buyers_with_a_hit

RANK_CHUNK = FEATURE_CHUNK  # customers per union chunk and scoring call: ~10M candidate rows at 500 per customer
RANKING_SCHEMA = pl.Schema({"customer": pl.UInt32, "article": pl.UInt32, "score": pl.Float32, "rank": pl.UInt32})


@dataclass(frozen=True)
class RankPolicy:
    """The constants that decide what a ranking holds (a chunk size does not, so none is here);
    every ranking's cache key hashes them, with the POLICY of each module the ranking reaches."""

    auto_min_positives: int = (
        900_000  # --train-weeks auto: about 4 weeks of H&M's full log (250-300k purchases a week in 2020)
    )
    auto_max_weeks: int = 26  # --train-weeks auto on a small shop stops at half a year: older weeks are another season
    newest_week_customers: int = (
        20_000  # buyers of the newest training week kept whole (validation, merge tuning, the side-by-side figures)
    )
    tune_customers: int = (
        TUNE_CUSTOMERS  # a sampled week keeps the whole lists of this many buyers with a hit, for tuning merge's order
    )
    tuning_oversample: int = (
        3  # those are drawn from this many times as many buyers (all when fewer), then cut by `first_customers`
    )


POLICY = RankPolicy()


@dataclass(frozen=True)
class RankRequest:
    """One ranking to produce. `plugins`: the ranker's and the sources' parameters, resolved at the
    edge (`plugin_params.resolve`; a plugin it leaves out runs with its defaults)."""

    ranker: str
    sources: Sources  # or AUTO: the pool, chosen on the training weeks (`source_choice`)
    week: Week
    train_weeks: TrainWeeks = 4  # or AUTO: see `auto_train_weeks`
    k: int = 100
    plugins: PluginParams = PluginParams()
    customers: str = "auto"
    drop_bought: DropBought = DropBought.AUTO  # see `hmrec_cli.pipeline.bought`
    shard: Shard | None = None  # only the customers of this shard (`shards`); the trained ranker is every shard's


def resolved_train_weeks(store: Store, request: RankRequest) -> RankRequest:
    """`--train-weeks auto` (with `-o min_positives=N`, taken out of the ranker's options at the
    edge) becomes a number of weeks; a number stays as it is."""
    if request.train_weeks is not AUTO:
        return request
    wanted = request.plugins.min_positives or POLICY.auto_min_positives
    return dataclasses.replace(request, train_weeks=auto_train_weeks(store, request.week, wanted))


def auto_train_weeks(store: Store, week: Week, min_positives: int) -> int:
    """The fewest weeks before `week` whose purchases (distinct customer-article pairs per week)
    add up to `min_positives`, going back until the history ends (the oldest training week must
    start after the first day, so its sources have history) or POLICY.auto_max_weeks. At least 1."""
    available = min(POLICY.auto_max_weeks, max(((week.start - store.first_date).days - 1) // 7, 1))
    back = ((pl.lit(week.start) - pl.col("t_dat")).dt.total_days() - 1) // 7 + 1  # 1 = the week just before
    counts = (
        store.transactions.filter(pl.col("t_dat") < week.start)
        .select("customer", "article", back=back)
        .filter(pl.col("back") <= available)
        .unique()
        .group_by("back")
        .len()
    )
    per_week = np.zeros(available + 1, dtype=np.int64)
    per_week[counts["back"].to_numpy()] = counts["len"].to_numpy()
    reached = np.flatnonzero(np.cumsum(per_week[1:]) >= min_positives)
    return int(reached[0]) + 1 if reached.size else available


def union(entries: list[Entry], sources: tuple[str, ...], k: int, customers: pl.Series | None = None) -> pl.DataFrame:
    """The candidate sets of one week side by side: per source its score and rank, sentinels
    (score 0, rank k) where it did not propose the article; sorted by customer, article. (A set
    asked to drop what was bought already holds none of it: `hmrec_cli.bought`.)"""
    frame = None
    for source, entry in zip(sources, entries, strict=True):
        scan = pl.scan_parquet(entry.path)
        if customers is not None:
            scan = scan.filter(pl.col("customer").is_between(customers.min(), customers.max())).filter(
                pl.col("customer").is_in(customers.implode())
            )
        part = ordered(scan.collect()).select(
            "customer",
            "article",
            pl.col("score").alias(f"{source}_score"),
            pl.col("rank").cast(pl.UInt16).alias(f"{source}_rank"),
        )
        frame = part if frame is None else frame.join(part, on=["customer", "article"], how="full", coalesce=True)
    return frame.with_columns(
        *(pl.col(f"{s}_score").fill_null(0.0) for s in sources),
        *(pl.col(f"{s}_rank").fill_null(k) for s in sources),
    ).sort("customer", "article")


def labelled(candidates: pl.DataFrame, target: pl.DataFrame) -> pl.DataFrame:
    """Add `label` (bought this week) and `bought` (distinct articles the customer bought)."""
    hits = target.select("customer", "article", label=pl.lit(1, pl.UInt8))
    sizes = target.group_by("customer").agg(bought=pl.len().cast(pl.UInt16))
    return (
        candidates.join(hits, on=["customer", "article"], how="left")
        .join(sizes, on="customer", how="left")
        .with_columns(pl.col("label").fill_null(0), pl.col("bought").fill_null(0))
        .sort("customer", "article")
    )


def training_week(
    store: Store,
    entries: list[Entry],
    week: Week,
    sources: tuple[str, ...],
    k: int,
    seed: int,
    share: float,
    newest: bool,
    spill: Path,
    chunk: int = RANK_CHUNK,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
) -> RankingWeek:
    """One labelled training week built `chunk` customers at a time and spilled to `spill`: the
    newest week whole for at most `POLICY.newest_week_customers` of its buyers (drawn with the
    seed), an older one as the customers with a purchase among their candidates, every positive
    and a `share` of the negatives (see `keep_draw`), with `tuning` rows when share < 1 (see
    `whole_rows`)."""
    week_truth = truth(store.transactions, week)
    buyers = week_truth["customer"].unique().sort()
    customers = at_most(buyers, POLICY.newest_week_customers, seed) if newest else buyers
    sampled = not newest and share < 1.0
    tuning_spill = spill.with_suffix(".tuning.parquet")
    # customers kept whole: `tuning_oversample` times the tuning sample's share of the buyers (all when few enough),
    # cut to the `tune_customers` first by `customer_draw` at the end
    whole_share = min(1.0, POLICY.tuning_oversample * POLICY.tune_customers / max(buyers.len(), 1))
    with Spill(spill) as rows, Spill(tuning_spill) as tuning_rows:
        for i, part in enumerate(chunks := customer_chunks(customers, chunk)):
            on_progress(f"union {week.start}", i, len(chunks))
            cands = labelled(union(entries, sources, k, part), week_truth)
            if sampled:
                tuning_rows.write(whole_rows(cands, sources, seed, week, whole_share))
            rows.write(kept(cands, share, seed, week) if not newest else cands)
        candidates, tuning = rows.read(), tuning_rows.read()
    if candidates is None:
        raise InputError(f"training week {week}: nobody bought anything that week")
    if tuning is not None:
        tuning = tuning.filter(
            pl.col("customer").is_in(first_customers(tuning["customer"], POLICY.tune_customers, seed, week).implode())
        )
    return RankingWeek(
        context(store, week),
        candidates,
        sources,
        k,
        negative_share=1.0 if newest else share,
        buyers=None if newest else buyers.len(),
        tuning=tuning,
    )


def choice_week(
    store: Store, entries: list[Entry], week: Week, sources: tuple[str, ...], k: int, seed: int
) -> tuple[pl.DataFrame, int]:
    """A training week as `source_choice.choose` reads it: the labelled union of at most
    `source_choice.POLICY.customers` of its buyers (drawn with the seed), cut to those with a
    purchase among the candidates, and the number of buyers drawn."""
    week_truth = truth(store.transactions, week)
    buyers = at_most(week_truth["customer"].unique().sort(), source_choice.POLICY.customers, seed)
    rows = labelled(union(entries, sources, k, buyers), week_truth)
    hit = rows.filter(pl.col("label") > 0)["customer"].unique()
    return rows.filter(pl.col("customer").is_in(hit.implode())), buyers.len()


def context(store: Store, week: Week) -> Context:
    return Context(
        history=history_prefix(store.transactions, week), articles=store.articles, customers=store.customers, week=week
    )


def top_predictions(candidates: pl.DataFrame, scores: np.ndarray, n: int = K) -> pl.DataFrame:
    """The n best-scored articles per customer (ties broken by article id), with rank 0..n-1."""
    return (
        candidates.select("customer", "article", score=pl.Series(scores.astype(np.float32)))
        .sort(["customer", "score", "article"], descending=[False, True, False])
        .group_by("customer", maintain_order=True)
        .head(n)
        .with_columns(rank=pl.int_range(pl.len(), dtype=pl.UInt32).over("customer"))
    )


def rank(
    store: Store,
    cache: Cache,
    request: RankRequest,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    force: bool = False,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
    chunk: int = RANK_CHUNK,
) -> Entry:
    """Produce (or fetch from the cache) the ranking for `request`; `chunk` customers at a time
    (the result does not depend on it). The stages: `plan` -> `training_weeks` -> `fit` ->
    `score` -> `ranking_figures`. A shard's ranking (`request.shard`) scores only its customers
    with the ranker every shard of the week shares (`trained`)."""
    planned = plan(store, request, seed, device)
    week_name = planned.request.week.start.isoformat()
    if (
        hit := from_leader(lambda: None if force else cache.get("rankings", request.ranker, week_name, planned.key))
    ) is not None:
        return hit
    started = time.perf_counter()
    share = request.shard is not None  # a forced shard recomputes its entry, with the fits its process holds
    resume = resume or (share and not force)  # a shard of another process may have trained it: no epoch again
    settings = RunSettings(seed=seed, device=device, resume=resume, on_progress=on_progress)
    ranker = trained(store, cache, planned, settings, chunk, share)
    sources = ranker.sources
    target_entries = source_sets(
        store, cache, planned, request.week, sources, planned.request.customers, settings, request.shard
    )
    if ranker.model is None:  # the others receive the entry rank 0 writes
        return from_leader(lambda: None)
    model = ranker.model
    score_started = time.perf_counter()
    with cache.put("rankings", request.ranker, week_name, planned.key, written := {}) as tmp:
        rows, top, pairs = score(store, model, planned, sources, target_entries, tmp, chunk, on_progress)
        figures = None
        if planned.target is not None:
            figures = ranking_figures(store, request.week, top, pairs, planned.target, sources, target_entries)
        manifest = RankingManifest(
            plugin_version=planned.plugin.load().version,
            distribution=planned.plugin.distribution,
            params=dataclasses.asdict(planned.params),
            fingerprint=store.fingerprint,
            k=request.k,
            customers=planned.described,
            customer_count=planned.customers.len(),
            seed=seed,
            sources=list(sources),
            source_choice={"pool": list(planned.request.sources), "steps": ranker.choice} if planned.auto else None,
            source_options={s: list(o) for s, o in planned.source_options.items()},
            source_params=planned.source_params,
            source_sets=[e.label for e in target_entries],
            train_weeks=[w.start.isoformat() for w in planned.train_weeks],
            empty_train_weeks=[w.start.isoformat() for w in planned.asked_weeks if w not in planned.train_weeks]
            or None,
            training_rows=ranker.training_rows,
            device=planned.device_kind or "cpu",
            training=ranker.log,
            newest_training_week=ranker.newest,
            dropped_bought=dropped_bought(store, planned),
            rows=rows,
            fit_seconds=round(ranker.fit_seconds, 3),
            score_seconds=round(time.perf_counter() - score_started, 3),
            seconds=round(time.perf_counter() - started, 3),
            figures=figures,
            shard=None if request.shard is None else str(request.shard),
            model_key=planned.fit_key,
            **manifest_fields(),
        )
        written.update(manifest.as_dict())
    return from_leader(lambda: cache.committed("rankings", request.ranker, week_name, planned.key))


@dataclass(frozen=True)
class RankPlan:
    """A request checked and resolved before any work: the ranker and its parameters, each source's
    -o options and parameters, the training weeks, the customers to rank, and the cache keys."""

    request: RankRequest  # train_weeks a number, sources named (the pool for auto)
    auto: bool  # --candidates auto: the training weeks choose among `request.sources`
    plugin: PluginInfo
    params: object  # the ranker's Params
    source_options: dict[str, tuple[str, ...]]
    source_params: dict[str, dict]
    asked_weeks: list[Week]
    train_weeks: list[Week]  # those of `asked_weeks` that hold purchases
    target: pl.DataFrame | None  # the week's purchases, when it has them
    customers: pl.Series
    described: str  # how `customers` were chosen, for the manifest
    device_kind: str | None  # cpu or cuda for a ranker that uses torch, else None
    key: str  # the ranking's: every field of the request, the shard's customers included
    fit_key: str  # the trained ranker's: the same without the customers and the shard, so shards share it


def plan(store: Store, request: RankRequest, seed: int, device: str) -> RankPlan:
    """Stage 1: validate the request, resolve what `auto` and the options stand for, derive the key."""
    request = resolved_request(store, request)
    auto = isinstance(request.sources, Auto)
    if auto:  # every source of the pool is fitted; the training weeks choose among them (`source_choice`)
        request = dataclasses.replace(request, sources=source_choice.offered(store, source_choice.POLICY.pool))
    request = resolved_train_weeks(store, request)
    plugin = find("ranker", request.ranker)
    cls: type[Ranker] = plugin.load()
    source_classes = {s: find("retriever", s).load() for s in request.sources}  # unknown names fail now
    params = request.plugins.of(request.ranker, cls.Params)
    source_options = {s: tuple(request.plugins.options(s)) for s in request.sources}
    source_params = {s: dataclasses.asdict(request.plugins.of(s, c.Params)) for s, c in source_classes.items()}
    if request.train_weeks > (most := earlier_weeks_with_history(request.week.start, store.first_date)):
        raise InputError(
            f"--train-weeks {request.train_weeks}: the data starts {store.first_date}, so at most {max(most, 0)} weeks "
            f"before the week {request.week.start} have history to learn from"
        )
    asked_weeks = [request.week.earlier(i) for i in range(request.train_weeks, 0, -1)]
    train_weeks = learnable(store, asked_weeks, request.train_weeks)
    target = truth(store.transactions, request.week) if request.week.has_truth else None
    customers, described = select_customers(store, request.week, request.customers, target)
    customers = shards.only(customers, request.shard, store.customers)
    if request.shard is not None and target is not None:  # the shard's figures are of its own buyers
        target = target.filter(pl.col("customer").is_in(customers.implode()))
    check_device(device)
    device_kind = device_kind_of(device) if cls.uses_device else None  # torch only for rankers that use it
    parts = dict(  # -o options and hmrec.toml enter as the params they give
        auto=auto,
        version=cls.version,
        code=plugin_digest(cls),
        params=params,
        sources={
            s: {"version": c.version, "code": plugin_digest(c), "params": source_params[s]}
            for s, c in source_classes.items()
        },
        fingerprint=store.fingerprint,
        seed=seed,
        device=device_kind,
        pipeline=pipeline_state(__name__),
        **({"world_size": world()[1]} if world()[1] > 1 else {}),  # each rank trains on a share of every batch
    )
    fields = dict(week=request.week.start.isoformat(), plugins=None)
    key = cache_key(request=request_fields(request, customers=customers_digest(customers), **fields), **parts)
    fit_key = cache_key(request=request_fields(request, customers=None, shard=None, **fields), **parts)
    return RankPlan(
        request, auto, plugin, params, source_options, source_params, asked_weeks, train_weeks, target, customers,
        described, device_kind, key, fit_key,
    )  # fmt: skip


def resolved_request(store: Store, request: RankRequest) -> RankRequest:
    """The request with its shared options as typed values (a Python caller may hand in text)."""
    given = request.sources
    return dataclasses.replace(
        request,
        sources=given if isinstance(given, Auto) else pipeline_settings.sources(given),
        train_weeks=pipeline_settings.train_weeks(request.train_weeks),
        drop_bought=pipeline_settings.drop_bought(request.drop_bought),
    )


def source_sets(
    store: Store,
    cache: Cache,
    planned: RankPlan,
    week: Week,
    sources: tuple[str, ...],
    customers: str,
    settings: RunSettings,
    shard: Shard | None = None,
) -> list[Entry]:
    """Each source's candidate set for `week` and `customers` (`recall.run`, so cached), only
    `shard`'s customers when given."""
    r = planned.request
    return [
        run(
            store,
            cache,
            Request(s, week, r.k, r.plugins, customers, r.drop_bought, shard),
            seed=settings.seed,
            on_progress=settings.on_progress,
            device=settings.device,
            resume=settings.resume,
        )
        for s in sources
    ]


def training_weeks(
    store: Store, cache: Cache, planned: RankPlan, settings: RunSettings, spill: Path, chunk: int
) -> tuple[tuple[str, ...], list | None, list[RankingWeek]]:
    """Stage 2: every training week's candidate sets, the sources `auto` keeps (with the steps that
    chose them, None otherwise), and the labelled weeks built from them (`training_week`)."""
    r = planned.request
    sources, choice = r.sources, None
    week_entries = [source_sets(store, cache, planned, w, sources, "buyers", settings) for w in planned.train_weeks]
    if planned.auto:
        sources, choice, week_entries = chosen_sources(store, planned, week_entries, settings)
    share = float(getattr(planned.params, "negative_share", 1.0))  # the ranker's own share, drawn here per chunk
    last = len(planned.train_weeks) - 1
    return (
        sources,
        choice,
        [
            training_week(
                store,
                entries,
                w,
                sources,
                r.k,
                settings.seed,
                1.0 if i == last else share,
                i == last,
                spill / f"{w.start}.parquet",
                chunk,
                settings.on_progress,
            )
            for i, (w, entries) in enumerate(zip(planned.train_weeks, week_entries, strict=True))
        ],
    )


def chosen_sources(
    store: Store, planned: RankPlan, week_entries: list[list[Entry]], settings: RunSettings
) -> tuple[tuple[str, ...], list, list[list[Entry]]]:
    """`--candidates auto`: the sources `source_choice.choose` keeps on the training weeks, its
    steps, and the training weeks' candidate sets cut to those sources."""
    pool, k = planned.request.sources, planned.request.k
    settings.on_progress("choosing the sources", 0, len(pool))
    weeks = [
        choice_week(store, entries, w, pool, k, settings.seed)
        for w, entries in zip(planned.train_weeks, week_entries, strict=True)
    ]
    chosen, steps = choose(weeks, pool, k, on_progress=settings.on_progress)
    kept_entries = [[e for s, e in zip(pool, entries, strict=True) if s in chosen] for entries in week_entries]
    return chosen, steps, kept_entries


@dataclass(frozen=True)
class Trained:
    """A ranker fitted for a week (what every shard of the week scores with) and what its manifest
    says of it. `model` is None in a rank other than 0, which receives rank 0's entry."""

    model: Ranker | None
    sources: tuple[str, ...]  # those `auto` kept, else the request's
    choice: list | None  # the steps that chose them (`auto`)
    log: dict
    fit_seconds: float
    training_rows: int
    newest: dict  # `newest_week_figures`


def trained(store: Store, cache: Cache, planned: RankPlan, settings: RunSettings, chunk: int, share: bool) -> Trained:
    """Stages 2 and 3, `training_weeks` -> `fit`, with the checkpoint and the spill under the fit
    key, the same for every shard; with `share`, the ranker `shared_fits` keeps for every shard of
    the week (trained here the first time)."""

    def train() -> Trained:
        r = planned.request
        model = planned.plugin.load()(planned.params)
        checkpoint = cache.checkpoint(r.ranker, r.week.start.isoformat(), planned.fit_key)
        at = dataclasses.replace(settings, checkpoint=checkpoint)
        with scratch_dir(checkpoint.with_suffix(".spill") if leads() else local_scratch()) as spill:
            sources, choice, training = training_weeks(store, cache, planned, at, spill, chunk)
            if not (leads() or model.uses_device):  # nothing the ranks train together: rank 0 ranks alone
                return Trained(None, sources, choice, {}, 0.0, 0, {})
            log, fit_seconds = fit(model, training, dataclasses.replace(at, device=planned.device_kind or at.device))
        if not leads():
            return Trained(None, sources, choice, log, fit_seconds, 0, {})
        at.on_progress("newest training week", 0, 1)
        newest = newest_week_figures(model, r.ranker, training, at.seed)
        return Trained(model, sources, choice, log, fit_seconds, sum(t.candidates.height for t in training), newest)

    return shared_fits.fitted(planned.fit_key, train) if share else train()


def prefit(
    store: Store,
    cache: Cache,
    request: RankRequest,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
    chunk: int = RANK_CHUNK,
    force: bool = False,
) -> None:
    """Fit what every shard of `request` shares into `shared_fits`: the ranker (with the training
    weeks' candidate sets) and the target week's retrievers (whether or not the shards' rankings
    are cached: it fits either way), from the weights a shard of another process finished unless `force`."""
    planned = plan(store, request, seed, device)
    settings = RunSettings(seed=seed, device=device, resume=resume or not force, on_progress=on_progress)
    r = planned.request
    for s in trained(store, cache, planned, settings, chunk, share=True).sources:
        recall_prefit(
            store,
            cache,
            Request(s, r.week, r.k, r.plugins, r.customers, r.drop_bought, r.shard),
            seed=seed,
            on_progress=on_progress,
            device=device,
            resume=resume,
            force=force,
        )


def ranking_key(store: Store, request: RankRequest, seed: int = 0, device: str = "auto") -> tuple[str, str]:
    """The week and the key `rank` files `request`'s ranking under (an engine assembling it from shards)."""
    planned = plan(store, request, seed, device)
    return planned.request.week.start.isoformat(), planned.key


def fit(model: Ranker, training: list[RankingWeek], settings: RunSettings) -> tuple[dict, float]:
    """Stage 3: the ranker fitted on the training weeks; its log and the seconds it took."""
    started = time.perf_counter()
    log = model.fit(training, settings)
    return log, time.perf_counter() - started


def score(
    store: Store,
    model: Ranker,
    planned: RankPlan,
    sources: tuple[str, ...],
    entries: list[Entry],
    out: Path,
    chunk: int,
    on_progress: Callable[[str, int, int], None],
) -> tuple[int, pl.DataFrame, pl.DataFrame]:
    """Stage 4: the target week's union scored `chunk` customers at a time, each customer's top 12
    written to `out`; the rows written, and (for the figures) the week's buyers' top 12 and union pairs."""
    r, customers = planned.request, planned.customers
    stage, ctx = f"{r.ranker} {r.week.start.isoformat()}: rank", context(store, r.week)
    buyers = planned.target["customer"].unique().implode() if planned.target is not None else None
    buyers_parts, union_hits, rows, done = [], [], 0, 0
    writer = pq.ParquetWriter(out, pl.DataFrame(schema=RANKING_SCHEMA).to_arrow().schema)
    try:
        for part in customer_chunks(customers, chunk):
            on_progress(stage, done, customers.len())
            done += part.len()
            cands = union(entries, sources, r.k, part)
            scores = check_scores(
                np.asarray(model.score(RankingWeek(ctx, cands, sources, r.k)), dtype=np.float32),
                cands.height,
                r.ranker,
                planned.params,
            )
            top = top_predictions(cands, scores).select(RANKING_SCHEMA.names()).cast(dict(RANKING_SCHEMA))
            writer.write_table(top.to_arrow())
            rows += top.height
            if buyers is not None:
                buyers_parts.append(top.filter(pl.col("customer").is_in(buyers)))
                union_hits.append(cands.filter(pl.col("customer").is_in(buyers)).select("customer", "article"))
        on_progress(stage, customers.len(), customers.len())
    finally:
        writer.close()
    pairs = stack(union_hits, {"customer": pl.UInt32, "article": pl.UInt32})
    return rows, stack(buyers_parts, RANKING_SCHEMA), pairs


def dropped_bought(store: Store, planned: RankPlan) -> list[str]:
    """The first days of the weeks (training and target) whose candidate sets left out what was bought."""
    r = planned.request
    return [
        w.start.isoformat()
        for w in (*planned.train_weeks, r.week)
        if drops_bought(history_prefix(store.transactions, w), w, r.drop_bought, store.fingerprint)
    ]


def learnable(store: Store, weeks: list[Week], asked: int) -> list[Week]:
    """The training weeks that hold purchases: a week without (a closed shop) has no labels and
    is left out (the manifest's `empty_train_weeks`); none at all is a usage error."""
    kept = with_purchases(store.transactions, weeks)
    if not kept:
        raise InputError(
            f"--train-weeks {asked}: no purchases from {weeks[0].start} to {weeks[-1].end} to learn from; take more training weeks"
        )
    return kept


def newest_week_figures(model: Ranker, name: str, training: list[RankingWeek], seed: int) -> dict:
    """MAP@12 on the newest training week's buyers (at most `POLICY.newest_week_customers`) of the
    fitted ranker, of `merge` fitted on the same weeks, and of each source's own order: the check that a learned ranker beats the simple
    orders on data it could have learned from. Both rankers saw this week (it picked the learned
    ranker's epoch or trees, lgbm's trees are boosted again on it, and merge tunes on it), so the
    figures are optimistic. Only
    the buyers with a purchase among their candidates are scored (the others score 0 in any order)."""
    week = training[-1]
    rows, share = buyers_with_a_hit(
        week, week.candidates.height, np.random.default_rng(seed)
    )  # every such buyer, none drawn
    hits = dataclasses.replace(week, candidates=rows)
    orders = ManyOrders(rows)  # the ranker, merge and every source scored on the same rows
    figure = lambda scores: share * orders.map(scores)  # noqa: E731
    out = {
        "week": week.ctx.week.start.isoformat(),
        "customers": week.candidates["customer"].n_unique(),
        "ranker": name,
        name: figure(model.score(hits)),
    }
    if name != "merge":
        merge_scores = model.merge_scores(hits)
        if merge_scores is None:
            merge = find("ranker", "merge").load()()
            merge.fit(training, RunSettings(seed=seed))
            merge_scores = merge.score(hits)
        out["merge"] = figure(merge_scores)
    out["sources"] = {s: figure(-rows[f"{s}_rank"].cast(pl.Float64).to_numpy()) for s in week.sources}
    return out


def ranking_figures(
    store: Store, week: Week, top: pl.DataFrame, candidates: pl.DataFrame, target: pl.DataFrame, sources, entries
) -> dict:
    """MAP@12 and recall@12 of the ranking on the week's buyers, next to each source's own order,
    the union's recall (the most any ranker of these candidates can reach) and the oracle's MAP@12."""
    if not target.height:  # a week without purchases: nothing to score
        return {
            "buyers": 0,
            "map@12": float("nan"),
            "recall@12": float("nan"),
            "union_recall@all": float("nan"),
            "union_candidates_per_customer": float("nan"),
            "sources_map@12": {s: None for s in sources},
        }
    predictions = top.select("customer", pl.col("article").cast(pl.Int64), "rank")
    out = {
        "buyers": target["customer"].n_unique(),
        "map@12": float(average_precision(predictions, target)["ap"].mean()),
        "recall@12": float(recall(predictions, target, K)["recall"].mean()),
        "union_recall@all": float(
            recall(candidates.with_columns(rank=pl.lit(0, pl.UInt32)), target, 10**9)["recall"].mean()
        ),
        "union_candidates_per_customer": candidates.height / max(candidates["customer"].n_unique(), 1),
        "sources_map@12": {
            s: (CandidateManifest.of(e).figures or {}).get("map@12") for s, e in zip(sources, entries, strict=True)
        },
    }
    oracle = store.oracle(week.start)
    if oracle is not None:
        out["oracle_map@12"] = float(average_precision(oracle, target)["ap"].mean())
    return out
