"""`evaluate --candidates --engine ray`: the candidate sets a comparison builds, made by customer
shard as Ray tasks and assembled into the sets the plain run caches.

The driver fits each set's retriever once (`recall.prefit`, into `shared_fits`); every task makes
its shard of every set with those fits (`recall.run` with the shard, each shard's set cached); the
driver joins each set's shards under the plain run's key with the whole week's figures, so the
comparison that follows reads them from the cache and prints what the plain run prints.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from hmrec_cli.cache import Cache, Entry
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline import recall
from hmrec_cli.pipeline.manifests import CandidateManifest
from hmrec_cli.pipeline.ray_engine import adopted, fanned_out, sets_cached, silent
from hmrec_cli.pipeline.shards import Shard


def sets_shard(shared: dict, shard: Shard) -> list[str]:
    """One Ray task: this shard's part of every requested set (cached); their keys, in request order."""
    shared = adopted(shared)
    store, cache = Store.open(Path(shared["data"])), Cache(Path(shared["cache"]))
    return [
        recall.run(store, cache, dataclasses.replace(r, shard=shard), **shared["run"], on_progress=silent).key
        for r in shared["requests"]
    ]


def sets_on_ray(
    store: Store,
    cache: Cache,
    requests: list[recall.Request],
    count: int,
    address: str | None,
    run: dict,
    on_progress: Callable[[str, int, int], None],
    on_shard: Callable[[Shard, str], None],
) -> None:
    """Cache every set of `requests` that is not cached yet, as `count` Ray tasks after one fit of
    each retriever here. `run`: `recall.run`'s seed, device and resume."""
    plans = [recall.plan(store, r, run["seed"], run["device"]) for r in requests]
    missing = [p for p in plans if cache.get("candidates", p.request.method, _week(p), p.key) is None]
    if not missing:
        return
    began = time.perf_counter()

    def prefit() -> None:  # not what every shard already has in the cache
        for p in missing:
            if not sets_cached(store, cache, p.request, count, run["seed"], run["device"]):
                recall.prefit(store, cache, p.request, **run, on_progress=on_progress)

    shared = {"data": str(store.path), "cache": str(cache.root), "requests": [p.request for p in missing], "run": run}
    keys = fanned_out(sets_shard, count, address, prefit, shared, on_shard)
    for i, planned in enumerate(missing):
        parts = [cache.committed("candidates", planned.request.method, _week(planned), k[i]) for k in keys]
        assembled_set(store, cache, planned, parts, time.perf_counter() - began)


def assembled_set(store: Store, cache: Cache, planned: recall.RecallPlan, parts: list[Entry], seconds: float) -> Entry:
    """The shards' sets as the one the plain run caches under `planned.key`: their rows in customer
    order (within a customer, as its shard wrote them), the shared fit's manifest, the week's figures."""
    shares = [CandidateManifest.of(p) for p in parts]
    rows = pl.concat([pl.read_parquet(p.path) for p in parts]).sort("customer", maintain_order=True)
    of_buyers = (
        rows if planned.target is None else rows.filter(pl.col("customer").is_in(planned.target["customer"].implode()))
    )
    manifest = dataclasses.replace(
        shares[0],
        shard=None,
        customer_count=sum(m.customer_count for m in shares),
        rows=sum(m.rows for m in shares),
        seconds=round(seconds, 3),
        shards=[p.label for p in parts],
        stamp={},
        **recall.set_figures(store, planned.request.week, of_buyers, planned.target),
    )
    method, week = planned.request.method, _week(planned)
    with cache.put("candidates", method, week, planned.key, manifest.as_dict()) as tmp:
        rows.write_parquet(tmp)
    return cache.committed("candidates", method, week, planned.key)


def _week(planned: recall.RecallPlan) -> str:
    return planned.request.week.start.isoformat()
