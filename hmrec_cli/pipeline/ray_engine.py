"""`--engine ray`: the customer shards of one job as Ray tasks, on a local Ray or a cluster.

The driver fits what every shard shares once (`prefit`: the retrievers and the ranker, into
`shared_fits`) and puts it in Ray's object store; each task takes it (`shared_fits.adopt`), so no
worker fits again, and runs the plain pipeline on its shard. The store and the cache folder must be
the same path on every node (a shared file system): tasks read the store and write their cache
entries there. A task whose worker dies is run again once (`max_retries=1`); a shard whose worker
dies twice, or whose task raises (the same input fails the same way again, so it is not retried), is
one line naming it (exit 2), and the other shards are cancelled and their parts removed. Ray is imported only here,
only when asked (`pip install 'hmrec[distributed]'`). Every job has one shape (`fanned_out`):
`submit` and `rank` here, `export` in `ray_export`, the sets of `evaluate --candidates` in `ray_candidates`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from hmrec_cli.errors import InputError
from hmrec_cli.pipeline.shards import Shard

RETRIES = 1  # a worker that dies (killed, out of memory, lost node) runs its shard once more


def ray_module():
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray: Ray is not installed; pip install 'hmrec[distributed]'") from None
    return ray


def started(address: str | None):
    """Ray, connected: to `address` (`auto`, `ray://HOST:PORT`) or a local Ray of this machine's
    cores; a Ray this process already started is used as it is."""
    ray = ray_module()
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False, include_dashboard=False)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise InputError(f"--address {address}: cannot reach a Ray cluster: {str(error).splitlines()[0]}") from None
    return ray


def run_shards(
    task: Callable[..., object],
    count: int,
    shared: object,
    address: str | None,
    on_shard: Callable[[Shard, str], None] = lambda shard, state: None,
) -> list[object]:
    """`task(shared, shard)` for shards 0..count-1 as Ray tasks, each retried once when its worker
    dies; their results in shard order. `on_shard(shard, state)` hears `running`, `done in S s`.
    A shard that fails twice cancels the others and is one line naming it (InputError)."""
    ray = started(address)
    remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(task)
    shared_ref = ray.put(shared)
    began = time.perf_counter()
    pending = {remote.remote(shared_ref, Shard(i, count)): Shard(i, count) for i in range(count)}
    for shard in pending.values():
        on_shard(shard, "running")
    results: dict[int, object] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        shard = pending.pop(ready[0])
        try:
            results[shard.index] = ray.get(ready[0])
        except ray.exceptions.RayError as error:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise InputError(f"--engine ray: shard {shard} {_failure(ray, error)}") from None
        on_shard(shard, f"done in {time.perf_counter() - began:.1f} s")
    return [results[i] for i in range(count)]


def _failure(ray, error) -> str:
    """What went wrong with a shard, in a few words: its error (not retried), or a worker that died twice."""
    if isinstance(error, ray.exceptions.RayTaskError):  # the task raised: the same input fails the same way again
        cause = error.cause if isinstance(error.cause, BaseException) else error
        return f"failed: {str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__}"
    return f"failed after {RETRIES + 1} tries (its worker died: {type(error).__name__})"


def fanned_out(
    task: Callable[[dict, Shard], object],
    count: int,
    address: str | None,
    prefit: Callable[[], None],
    shared: dict,
    on_shard: Callable[[Shard, str], None],
) -> list[object]:
    """`run_shards` of `task` with `shared`, the fits `prefit()` made here (`shared["fits"]`) and the
    command the user typed here (`shared["command"]`), which each task adopts first: the one shape of
    every `--engine ray` job. Ray is reached before the fits, so a cluster that cannot be reached is
    refused before any work."""
    from hmrec_cli.pipeline import shared_fits
    from hmrec_cli.toolkit.data_parallel import manifest_fields

    started(address)
    prefit()
    fits, command = shared_fits.snapshot(), manifest_fields()["command"]
    return run_shards(task, count, {**shared, "fits": fits, "command": command}, address, on_shard)


def adopted(shared: dict) -> dict:
    """`shared` once this worker has taken the driver's fits as its own and the driver's command as
    the one its cache entries record (a Ray worker's own command line is Ray's): a task's first step."""
    from hmrec_cli.pipeline import shared_fits
    from hmrec_cli.toolkit.data_parallel import recorded_command

    shared_fits.adopt(shared["fits"])
    recorded_command(shared["command"])
    return shared


def rankings_cached(store, cache, request, count: int, seed: int, device: str) -> bool:
    """Whether every shard's ranking of `request` is in the cache, intact (a rerun, or a job array
    that ranked them): the tasks then read them, so the driver fits nothing."""
    from hmrec_cli.pipeline.ranking import ranking_key

    key_of = lambda shard: ranking_key(store, dataclasses.replace(request, shard=shard), seed, device)  # noqa: E731
    return _every_shard_cached(cache, "rankings", request.ranker, count, key_of)


def sets_cached(store, cache, request, count: int, seed: int, device: str) -> bool:
    """Whether every shard's candidate set of `request` is in the cache, intact (as `rankings_cached`)."""
    from hmrec_cli.pipeline.recall import plan

    week = request.week.start.isoformat()
    key_of = lambda shard: (week, plan(store, dataclasses.replace(request, shard=shard), seed, device).key)  # noqa: E731
    return _every_shard_cached(cache, "candidates", request.method, count, key_of)


def _every_shard_cached(cache, kind: str, method: str, count: int, key_of: Callable[[Shard], tuple[str, str]]) -> bool:
    """Whether the entry of each of `count` shards (`key_of(shard)`: its week and key) is cached, intact."""
    return all(cache.get(kind, method, *key_of(Shard(i, count))) is not None for i in range(count))


def submission_shard(shared: dict, shard: Shard) -> int:
    """One Ray task of `submit --engine ray`: the shard's part of the submission, with the driver's fits."""
    from hmrec_cli.pipeline.submission import build_submission

    kwargs = adopted(shared)["kwargs"]
    written = build_submission(
        **kwargs, out=Path(shared["parts"]) / f"part-{shard.index:05d}.csv", shard=shard, on_progress=silent
    )
    return written.rows


def silent(stage: str, done: int, total: int) -> None:
    """A task's `on_progress`: workers report per shard through `run_shards`, not per step."""


def prefit_submission(kwargs: dict, count: int, on_progress) -> None:
    """Fit, in this process, what the `count` shards of `build_submission(**kwargs)` share: the
    ranker and its sources (`ranking.prefit`), or each method's retriever (`recall.prefit`); not
    what every shard already has in the cache (`rankings_cached`, `sets_cached`)."""
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.splits import resolve_week
    from hmrec_cli.data.store import Store
    from hmrec_cli.metrics import K
    from hmrec_cli.pipeline import ranking, recall
    from hmrec_cli.pipeline.submission import checked_methods

    store, cache = Store.open(kwargs["data"]), Cache(kwargs["cache_dir"])
    week = resolve_week("next", store.first_date, store.last_date)
    plugins, drop, rank_with = kwargs["plugins"], kwargs["drop_bought"], kwargs["rank_with"]
    seed, device = kwargs["seed"], kwargs["device"]
    run = dict(seed=seed, device=device, resume=kwargs["resume"], on_progress=on_progress)
    methods = checked_methods(kwargs["methods"], rank_with)
    if rank_with is not None:
        request = ranking.RankRequest(
            rank_with.ranker, methods, week, rank_with.train_weeks, rank_with.k, plugins, "all", drop
        )
        if not rankings_cached(store, cache, request, count, seed, device):
            ranking.prefit(store, cache, request, **run)
        return
    for method in methods:
        request = recall.Request(method, week, K, plugins, "all", drop)
        if not sets_cached(store, cache, request, count, seed, device):
            recall.prefit(store, cache, request, **run)


def submit_on_ray(kwargs: dict, out: Path, count: int, address: str | None, on_progress, on_shard) -> int:
    """`build_submission(**kwargs)` as `count` Ray tasks after one shared fit here; the parts are
    joined into `out` (`shard_merge.write_merged`), the same file the plain run writes. The
    parts live in a hidden folder beside `out`, removed whether or not the job succeeds."""
    from hmrec_cli.atomic import refuse_inside, scratch_dir
    from hmrec_cli.pipeline.shard_merge import write_merged

    refuse_inside(out, {"store": kwargs["data"], "cache": kwargs["cache_dir"]})
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the submission file's name, e.g. {out / 'submission.csv'}")
    with scratch_dir(out) as parts:
        prefit = lambda: prefit_submission(kwargs, count, on_progress)  # noqa: E731
        fanned_out(submission_shard, count, address, prefit, {"kwargs": kwargs, "parts": str(parts)}, on_shard)
        return write_merged(
            kwargs["data"], sorted(parts.glob("part-*.csv")), out, {**(kwargs["command"] or {}), "shards": count}
        )


def ranking_shard(shared: dict, shard: Shard) -> str:
    """One Ray task of `rank --engine ray`: the shard's ranking, cached; its key."""
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.store import Store
    from hmrec_cli.pipeline.ranking import rank

    store, cache = Store.open(Path(shared["data"])), Cache(Path(shared["cache"]))
    request = dataclasses.replace(adopted(shared)["request"], shard=shard)
    return rank(store, cache, request, **shared["run"], on_progress=silent).key


def rank_on_ray(store, cache, request, count: int, address: str | None, run: dict, on_progress, on_shard):
    """`rank(request)` as `count` Ray tasks after one shared fit here; the shards' rankings (each
    cached, `I/N` in its manifest) are assembled into the ranking the plain run caches, under its
    key, so `export`, `evaluate --predictions` and `recommend` read it as they read any ranking."""
    from hmrec_cli.pipeline.ranking import prefit, ranking_key

    week_name, key = ranking_key(store, request, run["seed"], run["device"])
    if not run.get("force") and (hit := cache.get("rankings", request.ranker, week_name, key)) is not None:
        return hit
    began = time.perf_counter()
    shared = {"data": str(store.path), "cache": str(cache.root), "request": request, "run": run}

    def fit_once() -> None:
        if run.get("force") or not rankings_cached(store, cache, request, count, run["seed"], run["device"]):
            prefit(store, cache, request, **run, on_progress=on_progress)

    keys = fanned_out(ranking_shard, count, address, fit_once, shared, on_shard)
    parts = [cache.committed("rankings", request.ranker, week_name, k) for k in keys]
    return assembled(cache, request.ranker, week_name, key, parts, time.perf_counter() - began)


def assembled(cache, ranker: str, week_name: str, key: str, parts: list, seconds: float):
    """The shards' rankings as one cache entry: their rows in customer order, the shared training
    manifest, and the figures of all buyers (each shard's are means over its own buyers, so the
    buyer-weighted mean is the whole week's)."""
    import polars as pl

    from hmrec_cli.pipeline.manifests import RankingManifest

    shares = [RankingManifest.of(p) for p in parts]
    manifest = dataclasses.replace(
        shares[0],
        shard=None,
        customer_count=sum(m.customer_count for m in shares),
        rows=sum(m.rows for m in shares),
        score_seconds=round(sum(m.score_seconds for m in shares), 3),
        seconds=round(seconds, 3),
        source_sets=[label for m in shares for label in m.source_sets],
        figures=pooled_figures([m.figures for m in shares]) if shares[0].figures is not None else None,
        shards=[p.label for p in parts],
        stamp={},
    )
    rows = pl.concat([pl.read_parquet(p.path) for p in parts]).sort("customer", maintain_order=True)
    with cache.put("rankings", ranker, week_name, key, manifest.as_dict()) as tmp:
        rows.write_parquet(tmp)
    return cache.committed("rankings", ranker, week_name, key)


def pooled_figures(figures: list[dict]) -> dict:
    """Per-shard ranking figures (means over each shard's buyers) as the whole week's: each mean
    weighted by its shard's buyers; a shard without buyers weighs nothing."""
    import math

    buyers = [f["buyers"] for f in figures]
    total = sum(buyers)

    def pooled(values: list) -> float | None:
        kept = [(b, v) for b, v in zip(buyers, values, strict=True) if b and v is not None and not math.isnan(v)]
        return sum(b * v for b, v in kept) / sum(b for b, _ in kept) if kept else float("nan")

    out = {"buyers": total}
    for name, value in figures[0].items():
        if name == "buyers":
            continue
        if isinstance(value, dict):
            out[name] = {s: pooled([f[name].get(s) for f in figures]) for s in value}
        else:
            out[name] = pooled([f.get(name) for f in figures])
    return out
