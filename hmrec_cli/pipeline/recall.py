"""Running a retriever for a week: fit on the history before it, retrieve in customer chunks,
cache the candidate set, and measure it when the week has purchases."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from hmrec_cli.cache import Cache, Entry, cache_key, customers_digest, request_fields
from hmrec_cli.data.frames import stack
from hmrec_cli.data.kaggle_tables import first_invalid_utf8_line
from hmrec_cli.data.splits import Week, history_prefix, truth
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import K
from hmrec_cli.pipeline import bought, shards, shared_fits
from hmrec_cli.pipeline.bought import bought_before, drops_bought
from hmrec_cli.pipeline.code_digest import pipeline_state, plugin_digest
from hmrec_cli.pipeline.manifests import CandidateManifest
from hmrec_cli.pipeline.settings import DropBought, PluginParams
from hmrec_cli.pipeline.shards import Shard
from hmrec_cli.plugin_api import CANDIDATE_SCHEMA, Context, Retriever, RunSettings, check_candidates, check_device
from hmrec_cli.registry import PluginInfo, find
from hmrec_cli.toolkit.data_parallel import from_leader, leads, manifest_fields, world

CHUNK = 200_000  # customers per retrieve call: bounds memory at 1.37M customers x 100 candidates


@dataclass(frozen=True)
class Request:
    """One candidate set to produce: which retriever, with what, for whom."""

    method: str
    week: Week
    k: int = 100
    plugins: PluginParams = PluginParams()  # its parameters, resolved at the edge (`plugin_params.resolve`)
    customers: str = "auto"  # auto | buyers | all | a file of customer ids
    drop_bought: DropBought = DropBought.AUTO  # leave out what each customer bought before (`bought`)
    shard: Shard | None = None  # only the customers of this shard (`shards`); the model is every shard's


def device_kind_of(device: str) -> str:
    """`cpu` or `cuda`: what `--device` resolves to here (imports torch, so only for plugins that use one)."""
    from hmrec_cli.console import warn
    from hmrec_cli.toolkit.training import resolve_device

    return resolve_device(device, warn).type


def select_customers(store: Store, week: Week, spec: str, target: pl.DataFrame | None) -> tuple[pl.Series, str]:
    """The customers to retrieve for, and a description for the manifest (`target`: the week's truth)."""
    if spec == "auto":
        spec = "buyers" if target is not None else "all"
    if spec == "buyers":
        if target is None:
            raise InputError("--customers buyers: week next has no buyers; use all or a file")
        return target["customer"].unique().sort(), "buyers"
    if spec == "all":
        return store.submission_customers.sort(), "all"
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"--customers {spec}: expected buyers, all or a file of customer ids")
    ids = read_customer_ids(path)
    known = store.customers.filter(pl.col("customer_id").is_in(ids.implode()))["customer"]
    if known.len() == 0:
        raise InputError(f"{path}: none of its customer ids are in the store")
    unknown = ids.filter(~ids.is_in(store.customers["customer_id"].implode())).unique(maintain_order=True)
    if unknown.len():
        from hmrec_cli import console

        first = ", ".join(unknown.head(3).to_list())
        console.warn(
            f"--customers {path.name}: {unknown.len():,} ids are not in the store and were left out (first: {first})"
        )
    return known.sort(), f"file {path.name} ({known.len()} customers)"


def read_customer_ids(path: Path) -> pl.Series:
    """The ids of a customers file: one per line, a `customer_id` header allowed; anything else
    (no ids, bytes that are not text, several columns) is one line naming the file and line."""
    if path.stat().st_size == 0:
        raise InputError(f"--customers {path}: file is empty (expected one customer id per line)")
    line = first_invalid_utf8_line(path)
    if line is not None:
        raise InputError(f"--customers {path}, line {line}: not text (expected one customer id per line)")
    lines = (
        pl.read_csv(path, has_header=False, separator="\x1f", quote_char=None, new_columns=["id"], infer_schema=False)
        .with_row_index("line", offset=1)
        .with_columns(pl.col("id").str.strip_chars())
        .filter(pl.col("id") != "")
    )
    bad = lines.filter(pl.col("id").str.contains(r"[,;\t\x00]"))
    if bad.height:
        raise InputError(
            f"--customers {path}, line {bad['line'][0]}: several columns (expected one customer id per line)"
        )
    ids = lines.filter(~((pl.col("line") == 1) & (pl.col("id") == "customer_id")))["id"]
    if ids.len() == 0:
        raise InputError(f"--customers {path}: no customer ids in it")
    return ids


def ordered(candidates: pl.DataFrame) -> pl.DataFrame:
    """Candidates with `rank` (0 = best) by descending score, ties broken by article id."""
    return candidates.sort(["customer", "score", "article"], descending=[False, True, False]).with_columns(
        rank=pl.int_range(pl.len(), dtype=pl.UInt32).over("customer")
    )


def without_bought(candidates: pl.DataFrame, drop: pl.DataFrame, k: int) -> pl.DataFrame:
    """A retriever's list without the pairs in `drop`, cut to each customer's best `k` (`ordered`)."""
    return (
        ordered(candidates.join(drop, on=["customer", "article"], how="anti")).filter(pl.col("rank") < k).drop("rank")
    )


def ranked_hits(candidates: pl.DataFrame, target: pl.DataFrame) -> pl.DataFrame:
    """The hits of a candidate set, found in one pass: per (buyer, bought article it proposes) the
    article's position `pos` (1 = best) among the buyer's distinct candidates in the set's own
    order (`ordered`), its ordinal `found` among the buyer's hits, and the buyer's `n_truth`.
    Every figure of `scores_of_hits` and `candidates_report.recall_sums` is read from it."""
    bought = target.select("customer", "article").unique()
    pair = pl.col("customer").cast(pl.UInt64) * 2**32 + pl.col("article").cast(pl.UInt64)  # one hashable key per pair
    positions = (
        ordered(candidates)
        .select("customer", "article")
        .filter(pair.is_first_distinct())
        .with_columns(pos=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over("customer"))
    )
    sizes = bought.group_by("customer").agg(n_truth=pl.len())
    return (
        positions.join(bought, on=["customer", "article"])
        .sort("customer", "pos")
        .with_columns(found=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over("customer"))
        .join(sizes, on="customer", maintain_order="left")  # the figures sum in this order: the same bits every run
    )


def scores_of_hits(
    hits: pl.DataFrame, target: pl.DataFrame, candidates: pl.DataFrame, ks: tuple[int, ...] = (12, 50, 100)
) -> pl.DataFrame:
    """`candidate_scores` from the set's `ranked_hits`."""
    pos = pl.col("pos")
    per_buyer = hits.group_by("customer").agg(
        precision_sum=(pl.col("found") / pos).filter(pos <= K).sum(),
        hits=pl.len(),
        **{f"hits@{k}": (pos <= k).sum() for k in ks},
    )
    n_truth = pl.col("n_truth")
    return (
        target.select("customer", "article")
        .unique()
        .group_by("customer")
        .agg(n_truth=pl.len())
        .join(per_buyer, on="customer", how="left")
        .join(candidates.group_by("customer").agg(n_candidates=pl.len()), on="customer", how="left")
        .with_columns(pl.exclude("customer", "n_truth").fill_null(0))
        .select(
            "customer",
            ap=pl.col("precision_sum").cast(pl.Float64) / pl.min_horizontal(n_truth, pl.lit(K)),
            **{f"recall@{k}": pl.col(f"hits@{k}") / n_truth for k in ks},
            **{"recall@all": pl.col("hits") / n_truth},
            hits="hits",
            n_truth="n_truth",
            n_candidates="n_candidates",
        )
        .sort("customer")
    )


def candidate_scores(
    candidates: pl.DataFrame, target: pl.DataFrame, ks: tuple[int, ...] = (12, 50, 100)
) -> pl.DataFrame:
    """Per buyer in `target`: AP@12 of the set's own order, recall@k for each k and for the whole
    set, hits, purchases and candidates. Poolable over weeks (one row per customer-week). The
    same figures as `metrics.average_precision` and `metrics.recall`, from one pass over the set."""
    return scores_of_hits(ranked_hits(candidates, target), target, candidates, ks)


def summarise(scores: pl.DataFrame) -> dict:
    """Means of candidate_scores: macro recall@k, MAP@12, pairs covered (micro), set size, over
    `buyers` rows (buyer-weeks when pooled); weeks without buyers have no score (NaN, null in
    --json), not 0."""
    if not scores.height:
        return {
            "buyers": 0,
            **dict.fromkeys(
                [c for c in scores.columns if c.startswith("recall@")]
                + [f"map@{K}", "pairs_covered", "candidates_per_customer"],
                float("nan"),
            ),
        }
    out = {c: float(scores[c].mean()) for c in scores.columns if c.startswith("recall@")}
    out[f"map@{K}"] = float(scores["ap"].mean())
    out["pairs_covered"] = float(scores["hits"].sum() / scores["n_truth"].sum())
    out["candidates_per_customer"] = float(scores["n_candidates"].mean())
    return {"buyers": scores.height, **out}


def figures(candidates: pl.DataFrame, target: pl.DataFrame) -> dict:
    return summarise(candidate_scores(candidates, target))


def set_figures(store: Store, week: Week, of_buyers: pl.DataFrame, target: pl.DataFrame | None) -> dict:
    """A candidate set's manifest figures from its buyers' candidates: `figures` and, in the
    synthetic world, `oracle_figures` (its true top-100 scored the same way); none without purchases."""
    if target is None:
        return {}
    out = {"figures": figures(of_buyers, target)}
    oracle = store.oracle(week.start)
    if oracle is not None:
        out["oracle_figures"] = figures(oracle.drop("rank"), target)
    return out


def run(
    store: Store,
    cache: Cache,
    request: Request,
    seed: int = 0,
    force: bool = False,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
    device: str = "auto",
    resume: bool = False,
) -> Entry:
    """Produce (or fetch from the cache) the candidate set for `request`: `plan` -> `fit` ->
    `retrieve` -> figures. A trained retriever checkpoints under `cache/models/<method>/<week>/<fit key>.pt`;
    `resume` continues from it. A shard's run (`request.shard`) retrieves only for its customers,
    with the model every shard of the week shares (`fitted`)."""
    planned = plan(store, request, seed, device)
    week_name = request.week.start.isoformat()
    if (
        hit := from_leader(lambda: None if force else cache.get("candidates", request.method, week_name, planned.key))
    ) is not None:
        return hit
    if not (leads() or planned.plugin.load().uses_device):  # nothing the ranks train together: rank 0 makes the set
        return from_leader(lambda: None)
    start = time.perf_counter()
    share = request.shard is not None  # a forced shard recomputes its entry, with the fits its process holds
    resume = resume or (share and not force)  # a shard of another process may have trained it: no epoch again
    model, fit_log, fit_seconds = fitted(store, cache, planned, seed, device, resume, on_progress, share)
    if not leads():  # the others receive the entry rank 0 writes
        return from_leader(lambda: None)
    with cache.put("candidates", request.method, week_name, planned.key, written := {}) as tmp:
        rows, of_buyers = retrieve(store, model, planned, tmp, on_progress)
        figures_of = set_figures(store, request.week, of_buyers, planned.target)
        manifest = CandidateManifest(
            plugin_version=planned.plugin.load().version,
            distribution=planned.plugin.distribution,
            params=dataclasses.asdict(planned.params),
            fingerprint=store.fingerprint,
            k=request.k,
            customers=planned.described,
            shard=None if request.shard is None else str(request.shard),
            customer_count=planned.customers.len(),
            seed=seed,
            device=planned.device_kind,
            training=fit_log or None,
            dropped_bought=planned.dropping,
            fit_seconds=fit_seconds,
            model_key=planned.fit_key,
            rows=rows,
            seconds=round(time.perf_counter() - start, 3),
            **figures_of,
            **manifest_fields(),
        )
        written.update(manifest.as_dict())
    return from_leader(lambda: cache.committed("candidates", request.method, week_name, planned.key))


@dataclass(frozen=True)
class RecallPlan:
    """A request checked and resolved before any work: the retriever and its parameters, the
    customers, whether the set drops what was bought, and the cache keys."""

    request: Request
    plugin: PluginInfo
    params: object  # the retriever's Params
    target: pl.DataFrame | None  # the week's purchases, when it has them
    customers: pl.Series
    described: str  # how `customers` were chosen, for the manifest
    device_kind: str | None  # cpu or cuda for a retriever that uses torch, else None
    past: pl.DataFrame  # the history before the week (a zero-copy slice)
    dropping: bool  # whether the set leaves out what each customer bought before
    key: str  # the candidate set's: every field of the request, the shard's customers included
    fit_key: str  # the fitted model's: the same without the customers and the shard, so shards share it


def plan(store: Store, request: Request, seed: int, device: str) -> RecallPlan:
    """Stage 1: validate the request and derive its key: the request's fields, the plugin's version,
    code and parameters, and the code and POLICY of this module and all it reaches (`pipeline_state`)."""
    check_device(device)
    plugin = find("retriever", request.method)
    cls = plugin.load()
    if cls.needs_products and not store.has_products:
        raise InputError(
            f"{request.method}: the store {store.path} has no product attribute (ingested from an order log without --product); "
            "ingest it with --items FILE --item-key COL --product COL, or leave this source out"
        )
    params = request.plugins.of(request.method, cls.Params)
    target = truth(store.transactions, request.week) if request.week.has_truth else None
    customers, described = select_customers(store, request.week, request.customers, target)
    customers = shards.only(customers, request.shard, store.customers)
    if request.shard is not None and target is not None:  # the shard's figures are of its own buyers
        target = target.filter(pl.col("customer").is_in(customers.implode()))
    device_kind = device_kind_of(device) if cls.uses_device else None
    past = history_prefix(store.transactions, request.week)  # a zero-copy slice: cache hits pay nothing for it
    dropping = drops_bought(past, request.week, request.drop_bought, store.fingerprint)
    parts = dict(  # -o options and hmrec.toml enter as the params they give; the drop rule as whether it drops
        version=cls.version,
        code=plugin_digest(cls),
        params=params,
        fingerprint=store.fingerprint,
        seed=seed,
        device=device_kind,
        pipeline=pipeline_state(__name__),
        **({"world_size": world()[1]} if world()[1] > 1 else {}),  # ranks draw other negatives: another model
    )
    fields = dict(week=request.week.start.isoformat(), plugins=None, drop_bought=dropping)
    key = cache_key(request=request_fields(request, customers=customers_digest(customers), **fields), **parts)
    fit_key = cache_key(request=request_fields(request, customers=None, shard=None, **fields), **parts)
    return RecallPlan(request, plugin, params, target, customers, described, device_kind, past, dropping, key, fit_key)


def fit(store: Store, planned: RecallPlan, settings: RunSettings) -> tuple[Retriever, dict | None]:
    """Stage 2: the retriever fitted on the history before the week, and its training log."""
    r = planned.request
    settings.on_progress(f"{r.method} {r.week.start.isoformat()}: fit", 0, 1)
    model = planned.plugin.load()(planned.params)
    ctx = Context(history=planned.past, articles=store.articles, customers=store.customers, week=r.week)
    return model, model.fit(ctx, settings)


def fitted(
    store: Store,
    cache: Cache,
    planned: RecallPlan,
    seed: int,
    device: str,
    resume: bool,
    on_progress: Callable[[str, int, int], None],
    share: bool,
) -> tuple[Retriever, dict | None, float]:
    """`fit` with its checkpoint under the fit key, and the seconds it took; with `share`, the model
    `shared_fits` keeps for every shard of the week (fitted here the first time)."""

    def fit_once():
        start = time.perf_counter()
        checkpoint = cache.checkpoint(planned.request.method, planned.request.week.start.isoformat(), planned.fit_key)
        settings = RunSettings(
            seed=seed,
            device=planned.device_kind or device,
            checkpoint=checkpoint,
            resume=resume,
            on_progress=on_progress,
        )
        model, log = fit(store, planned, settings)
        return model, log, round(time.perf_counter() - start, 3)

    return shared_fits.fitted(planned.fit_key, fit_once) if share else fit_once()


def prefit(
    store: Store,
    cache: Cache,
    request: Request,
    seed: int = 0,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
    device: str = "auto",
    resume: bool = False,
    force: bool = False,
) -> None:
    """Fit `request`'s retriever once into `shared_fits` (a driver, before it sends out the shards,
    whose candidate sets may or may not be cached: it fits either way), from the weights a shard
    of another process finished unless `force`."""
    planned = plan(store, request, seed, device)
    fitted(store, cache, planned, seed, device, resume or not force, on_progress, share=True)


def retrieve(
    store: Store, model: Retriever, planned: RecallPlan, out: Path, on_progress: Callable[[str, int, int], None]
) -> tuple[int, pl.DataFrame]:
    """Stage 3: the candidates `CHUNK` customers at a time, written to `out`. When the set drops what
    customers bought before, the retriever is asked for (1 + refill) * k (`bought.POLICY`) and the
    bought ones leave, so the set still holds up to k articles each customer has not bought. The rows
    written, and the week's buyers' candidates (for the figures)."""
    r, customers = planned.request, planned.customers
    stage = f"{r.method} {r.week.start.isoformat()}: retrieve"
    drop = bought_before(planned.past, r.week, r.drop_bought, store.fingerprint)
    asked = r.k * (1 + bought.POLICY.refill) if drop is not None else r.k
    buyers = planned.target["customer"].unique().implode() if planned.target is not None else None
    writer, rows, parts = None, 0, []
    try:
        for lo in range(0, customers.len(), CHUNK):
            on_progress(stage, lo, customers.len())
            part = customers.slice(lo, CHUNK)
            chunk = check_candidates(model.retrieve(part, asked), r.method, asked, planned.params)
            chunk = chunk.filter(pl.col("customer").is_in(part.implode()))
            if drop is not None:
                chunk = without_bought(chunk, drop, r.k)
            table = chunk.sort(["customer", "score", "article"], descending=[False, True, False]).to_arrow()
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
            rows += chunk.height
            if buyers is not None:
                parts.append(chunk.filter(pl.col("customer").is_in(buyers)))
        on_progress(stage, customers.len(), customers.len())
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        pl.DataFrame(schema=CANDIDATE_SCHEMA).write_parquet(out)
    return rows, stack(parts, CANDIDATE_SCHEMA)
