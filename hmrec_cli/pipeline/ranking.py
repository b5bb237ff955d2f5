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
the plugins' versions and parameters, and the code and POLICY constants of this module and of
every core module it reaches (`code_digest.pipeline_state`).
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
from hmrec_cli.code_digest import pipeline_state
from hmrec_cli.data.frames import stack
from hmrec_cli.data.splits import Week, earlier_weeks_with_history, history_prefix, truth, with_purchases
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import K, ManyOrders, average_precision, recall
from hmrec_cli.pipeline import source_choice
from hmrec_cli.pipeline.bought import DROP_BOUGHT, drops_bought
from hmrec_cli.pipeline.recall import Request, device_kind_of, ordered, run, select_customers
from hmrec_cli.pipeline.source_choice import choose
from hmrec_cli.plugin_api import Context, Ranker, RankingWeek, RunSettings, check_device, check_scores, route_options
from hmrec_cli.project_config import ProjectConfig
from hmrec_cli.registry import find
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
    """One ranking to produce. `options`: `key=value` for the ranker, `source:key=value` for a source."""

    ranker: str
    sources: tuple[str, ...]
    week: Week
    train_weeks: int | str = 4  # or "auto": see `auto_train_weeks`
    k: int = 100
    options: tuple[str, ...] = ()
    customers: str = "auto"
    config: ProjectConfig = ProjectConfig()  # hmrec.toml's values for the ranker and the sources
    drop_bought: str = "auto"  # see `hmrec_cli.bought`


def resolved_train_weeks(store: Store, request: RankRequest) -> RankRequest:
    """`--train-weeks auto` (with `-o min_positives=N`, taken out of the ranker's options) becomes
    a number of weeks; a number stays as it is (and refuses `min_positives`)."""
    given = [
        o
        for o in request.options
        if o.partition("=")[0].strip().replace("-", "_") in ("min_positives", f"{request.ranker}:min_positives")
    ]
    if request.train_weeks != "auto":
        if given:
            raise InputError(f"-o {given[0]}: min_positives goes with --train-weeks auto")
        if isinstance(request.train_weeks, str) and not (
            request.train_weeks.strip().isascii() and request.train_weeks.strip().isdigit()
        ):
            raise InputError(f"--train-weeks {request.train_weeks}: expected a number of weeks or auto")
        return dataclasses.replace(request, train_weeks=int(request.train_weeks))
    wanted = POLICY.auto_min_positives
    if given:
        text = given[-1].partition("=")[2].strip()
        if not text.isdigit() or int(text) < 1:
            raise InputError(f"-o {given[-1]}: min_positives must be a whole number of purchases, 1 or more")
        wanted = int(text)
    options = tuple(o for o in request.options if o not in given)
    return dataclasses.replace(request, options=options, train_weeks=auto_train_weeks(store, request.week, wanted))


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
    with _Spill(spill) as rows, _Spill(tuning_spill) as tuning_rows:
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


def at_most(buyers: pl.Series, n: int, seed: int) -> pl.Series:
    """At most `n` of the (sorted) `buyers`, drawn with the seed, sorted."""
    if buyers.len() <= n:
        return buyers
    return pl.Series(
        "customer", np.sort(np.random.default_rng(seed).choice(buyers.to_numpy(), n, replace=False)), dtype=pl.UInt32
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


class _Spill:
    """Chunks written to a Parquet file as they come, read back whole and the file removed."""

    def __init__(self, path: Path):
        self.path, self.writer = path, None

    def __enter__(self) -> _Spill:
        return self

    def write(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow()
        self.writer = self.writer or pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)

    def read(self) -> pl.DataFrame | None:
        if self.writer is None:
            return None
        self.writer.close()
        self.writer = None
        frame = pl.read_parquet(self.path)
        self.path.unlink()
        return frame

    def __exit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()


def whole_rows(candidates: pl.DataFrame, sources: tuple[str, ...], seed: int, week: Week, share: float) -> pl.DataFrame:
    """Every row (ranks and labels) of the customers with a purchase among their candidates whose
    `customer_draw` is below `share`: the sample fusion tuning scores merge's order on exactly."""
    hit = candidates.filter(pl.col("label") > 0)["customer"].unique()
    chosen = hit.filter(pl.Series(customer_draw(hit.to_numpy(), seed, week) < share))
    return candidates.filter(pl.col("customer").is_in(chosen.implode())).select(
        "customer", "article", "label", "bought", *(f"{s}_rank" for s in sources)
    )


def first_customers(customers: pl.Series, n: int, seed: int, week: Week) -> pl.Series:
    """The `n` distinct customers with the smallest `customer_draw` (all when fewer): a seeded
    sample that does not depend on how the week was chunked."""
    distinct = customers.unique().sort().to_numpy()
    if distinct.size <= n:
        return pl.Series(distinct)
    return pl.Series(np.sort(distinct[np.argsort(customer_draw(distinct, seed, week), kind="stable")[:n]]))


def customer_draw(customer: np.ndarray, seed: int, week: Week) -> np.ndarray:
    """A uniform number in [0, 1) per customer, fixed by the seed and the week."""
    return keep_draw(customer, np.full(customer.shape, 2**32 - 1, dtype=np.uint64), seed, week)


def kept(candidates: pl.DataFrame, share: float, seed: int, week: Week) -> pl.DataFrame:
    """The rows a ranker learns from: customers with a purchase among their candidates, every
    positive, and the negatives whose `keep_draw` is below `share`."""
    positive = pl.col("label") > 0
    draw = (
        pl.lit(True)
        if share >= 1.0
        else pl.Series(
            keep_draw(candidates["customer"].to_numpy(), candidates["article"].to_numpy(), seed, week) < share
        )
    )
    return candidates.filter(positive.any().over("customer") & (positive | draw))


def keep_draw(customer: np.ndarray, article: np.ndarray, seed: int, week: Week) -> np.ndarray:
    """A uniform number in [0, 1) per (customer, article), fixed by the seed and the week
    (splitmix64 of the pair): which rows are kept never depends on how customers are chunked."""
    x = (customer.astype(np.uint64) << np.uint64(32)) | article.astype(np.uint64)
    x ^= np.uint64((seed * 1_000_003 + week.start.toordinal()) % 2**64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53


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
    (the result does not depend on it)."""
    auto = request.sources == ("auto",)
    if auto:  # every source of the pool is fitted; the training weeks choose among them (`source_choice`)
        request = dataclasses.replace(request, sources=source_choice.offered(store, source_choice.POLICY.pool))
    request = resolved_train_weeks(store, request)
    if request.train_weeks < 1:
        raise InputError(f"--train-weeks {request.train_weeks}: need at least one earlier week to learn from")
    if not request.sources:
        raise InputError("--candidates: name at least one retriever, e.g. popular,repurchase")
    if len(set(request.sources)) != len(request.sources):
        raise InputError(f"--candidates {','.join(request.sources)}: a source is named twice")
    plugin = find("ranker", request.ranker)
    cls: type[Ranker] = plugin.load()
    source_classes = {s: find("retriever", s).load() for s in request.sources}  # unknown names fail now
    ranker_options, source_options = route_options(request.options, request.sources, request.ranker)
    params = request.config.params(cls.Params, request.ranker, ranker_options)
    source_params = {
        s: dataclasses.asdict(request.config.params(c.Params, s, source_options[s])) for s, c in source_classes.items()
    }
    if request.train_weeks > (most := earlier_weeks_with_history(request.week.start, store.first_date)):
        raise InputError(
            f"--train-weeks {request.train_weeks}: the data starts {store.first_date}, so at most {max(most, 0)} weeks "
            f"before the week {request.week.start} have history to learn from"
        )
    train_weeks = [request.week.earlier(i) for i in range(request.train_weeks, 0, -1)]
    asked_weeks, train_weeks = train_weeks, learnable(store, train_weeks, request.train_weeks)
    if request.drop_bought not in DROP_BOUGHT:
        raise InputError(f"--drop-bought {request.drop_bought}: expected one of {', '.join(DROP_BOUGHT)}")
    target = truth(store.transactions, request.week) if request.week.has_truth else None
    customers, described = select_customers(store, request.week, request.customers, target)
    check_device(device)
    device_kind = device_kind_of(device) if cls.uses_device else None  # torch only for rankers that use it
    week_name = request.week.start.isoformat()
    key = cache_key(  # -o options and hmrec.toml enter as the params they give
        request=request_fields(
            request, week=week_name, customers=customers_digest(customers), options=None, config=None
        ),
        auto=auto,
        version=cls.version,
        params=params,
        sources={s: {"version": c.version, "params": source_params[s]} for s, c in source_classes.items()},
        fingerprint=store.fingerprint,
        seed=seed,
        device=device_kind,
        pipeline=pipeline_state(__name__),
        **({"world_size": world()[1]} if world()[1] > 1 else {}),  # each rank trains on a share of every batch
    )
    if (
        hit := from_leader(lambda: None if force else cache.get("rankings", request.ranker, week_name, key))
    ) is not None:
        return hit

    started = time.perf_counter()
    sources = request.sources
    share = float(getattr(params, "negative_share", 1.0))  # the ranker's own share, drawn here per chunk
    model = cls(params)
    checkpoint = cache.checkpoint(request.ranker, week_name, key)
    with scratch_dir(checkpoint.with_suffix(".spill") if leads() else local_scratch()) as spill:
        week_entries = [
            [
                run(
                    store,
                    cache,
                    Request(s, w, request.k, source_options[s], "buyers", request.config, request.drop_bought),
                    seed=seed,
                    on_progress=on_progress,
                    device=device,
                    resume=resume,
                )
                for s in sources
            ]
            for w in train_weeks
        ]
        choice = None
        if auto:
            on_progress("choosing the sources", 0, len(sources))
            weeks = [
                choice_week(store, entries, w, sources, request.k, seed)
                for w, entries in zip(train_weeks, week_entries, strict=True)
            ]
            chosen, choice = choose(weeks, sources, request.k, on_progress=on_progress)
            week_entries = [
                [e for s, e in zip(sources, entries, strict=True) if s in chosen] for entries in week_entries
            ]
            sources = chosen
        training = []
        for i, (w, entries) in enumerate(zip(train_weeks, week_entries, strict=True)):
            newest_week = i == len(train_weeks) - 1
            training.append(
                training_week(
                    store,
                    entries,
                    w,
                    sources,
                    request.k,
                    seed,
                    1.0 if newest_week else share,
                    newest_week,
                    spill / f"{w.start}.parquet",
                    chunk,
                    on_progress,
                )
            )
        target_entries = [
            run(
                store,
                cache,
                Request(
                    s,
                    request.week,
                    request.k,
                    source_options[s],
                    request.customers,
                    request.config,
                    request.drop_bought,
                ),
                seed=seed,
                on_progress=on_progress,
                device=device,
                resume=resume,
            )
            for s in sources
        ]
        fit_started = time.perf_counter()
        if not (leads() or cls.uses_device):  # nothing the ranks train together: rank 0 ranks alone
            return from_leader(lambda: None)
        log = model.fit(
            training,
            RunSettings(
                seed=seed, device=device_kind or device, checkpoint=checkpoint, resume=resume, on_progress=on_progress
            ),
        )
        fit_seconds = time.perf_counter() - fit_started
    if not leads():  # the others receive the entry rank 0 writes
        return from_leader(lambda: None)
    training_rows = sum(t.candidates.height for t in training)
    on_progress("newest training week", 0, 1)
    newest = newest_week_figures(model, request.ranker, training, seed)
    del training

    manifest = {
        "plugin_version": cls.version,
        "distribution": plugin.distribution,
        "params": dataclasses.asdict(params),
        "fingerprint": store.fingerprint,
        "sources": list(sources),
        **({"source_choice": {"pool": list(request.sources), "steps": choice}} if auto else {}),
        "source_options": {s: list(o) for s, o in source_options.items()},
        "source_params": source_params,
        "source_sets": [e.label for e in target_entries],
        "train_weeks": [w.start.isoformat() for w in train_weeks],
        **(
            {"empty_train_weeks": [w.start.isoformat() for w in asked_weeks if w not in train_weeks]}
            if len(asked_weeks) > len(train_weeks)
            else {}
        ),
        "training_rows": training_rows,
        "k": request.k,
        "customers": described,
        "customer_count": customers.len(),
        "seed": seed,
        "device": device_kind or "cpu",
        "training": log,
        "newest_training_week": newest,
        **manifest_fields(),
    }
    target_ctx = context(store, request.week)
    manifest["dropped_bought"] = [
        w.start.isoformat()
        for w in (*train_weeks, request.week)
        if drops_bought(history_prefix(store.transactions, w), w, request.drop_bought, store.fingerprint)
    ]
    score_started = time.perf_counter()
    buyers = target["customer"].unique().implode() if target is not None else None
    buyers_parts, union_hits = [], []
    with cache.put("rankings", request.ranker, week_name, key, manifest) as tmp:
        writer = pq.ParquetWriter(tmp, pl.DataFrame(schema=RANKING_SCHEMA).to_arrow().schema)
        rows = 0
        try:
            done = 0
            for part in customer_chunks(customers, chunk):
                on_progress(f"{request.ranker} {week_name}: rank", done, customers.len())
                done += part.len()
                cands = union(target_entries, sources, request.k, part)
                scores = check_scores(
                    np.asarray(model.score(RankingWeek(target_ctx, cands, sources, request.k)), dtype=np.float32),
                    cands.height,
                    request.ranker,
                    params,
                )
                top = top_predictions(cands, scores).select(RANKING_SCHEMA.names()).cast(dict(RANKING_SCHEMA))
                writer.write_table(top.to_arrow())
                rows += top.height
                if target is not None:
                    buyers_parts.append(top.filter(pl.col("customer").is_in(buyers)))
                    union_hits.append(cands.filter(pl.col("customer").is_in(buyers)).select("customer", "article"))
            on_progress(f"{request.ranker} {week_name}: rank", customers.len(), customers.len())
        finally:
            writer.close()
        manifest.update(
            rows=rows,
            fit_seconds=round(fit_seconds, 3),
            score_seconds=round(time.perf_counter() - score_started, 3),
            seconds=round(time.perf_counter() - started, 3),
        )
        if target is not None:
            pairs = stack(union_hits, {"customer": pl.UInt32, "article": pl.UInt32})
            manifest["figures"] = ranking_figures(
                store, request.week, stack(buyers_parts, RANKING_SCHEMA), pairs, target, sources, target_entries
            )
    return from_leader(lambda: cache.committed("rankings", request.ranker, week_name, key))


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
    ranker's epoch or trees, and merge tunes on it), so the figures are optimistic, alike. Only
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
            s: e.manifest.get("figures", {}).get("map@12") for s, e in zip(sources, entries, strict=True)
        },
    }
    oracle = store.oracle(week.start)
    if oracle is not None:
        out["oracle_map@12"] = float(average_precision(oracle, target)["ap"].mean())
    return out
