"""`export --engine ray`: a cached ranking's rows exported by customer shard as Ray tasks, joined
into the file the plain `hmrec export` writes, byte for byte.

Export fits nothing (it reads a ranking), so what the driver does once is resolve: the ranking, the
candidate sets its manifest names (each verified once here, not in every task) and the customers,
split into the plain export's chunks (`RANK_CHUNK` customers in the store's order). Each task writes,
for every chunk, its shard's customers' rows to a part file of its own; the driver then writes the
chunks in order, each its parts' rows in the store's customer order: the rows, and the Parquet row
groups, of the plain export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from hmrec_cli.cache import Cache, Entry
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline.ranking import RANK_CHUNK
from hmrec_cli.pipeline.ray_engine import adopted, fanned_out
from hmrec_cli.pipeline.recommend import export_chunks, source_sets
from hmrec_cli.pipeline.shards import Shard, only
from hmrec_cli.toolkit.candidate_features import customer_chunks


def export_shard(shared: dict, shard: Shard) -> int:
    """One Ray task of `export --engine ray`: for every chunk of the plain export, the rows of this
    shard's customers in a part file named by the chunk and the shard; the rows written."""
    shared = adopted(shared)
    store, customers = Store.open(Path(shared["data"])), shared["customers"]
    mine = only(customers, shard, store.customers).implode()
    chunks = [chunk.filter(chunk.is_in(mine)) for chunk in customer_chunks(customers, shared["chunk"])]
    rows = 0
    for i, part in enumerate(export_chunks(store, shared["entry"], shared["sets"], chunks)):
        part.write_parquet(Path(shared["parts"]) / f"chunk-{i:06d}-shard-{shard.index:05d}.parquet")
        rows += part.height
    return rows


def joined_chunks(parts: Path, count: int) -> Iterator[pl.DataFrame]:
    """The `count` chunks of the plain export, each from its shards' part files, in its order."""
    for i in range(count):
        files = sorted(parts.glob(f"chunk-{i:06d}-shard-*.parquet"))
        yield pl.concat([pl.read_parquet(f) for f in files]).sort("customer", "rank").drop("customer").rechunk()


def export_on_ray(
    store: Store,
    cache: Cache,
    entry: Entry,
    customers: pl.Series,
    write: Callable[[Iterator[pl.DataFrame]], int],
    out: Path,
    count: int,
    address: str | None,
    on_shard: Callable[[Shard, str], None],
    chunk: int = RANK_CHUNK,
) -> int:
    """`customers`' rows of the ranking `entry` exported as `count` Ray tasks and handed, `chunk`
    customers at a time in the plain export's order (`export_rows`), to `write` (which writes
    `out`); its answer (the rows). The parts live in a hidden folder beside `out`, removed whether
    or not the job succeeds."""
    from hmrec_cli.atomic import scratch_dir

    sets = source_sets(store, cache, entry)
    shared = {"data": str(store.path), "entry": entry, "sets": sets, "customers": customers, "chunk": chunk}
    with scratch_dir(out) as parts:
        fanned_out(export_shard, count, address, lambda: None, {**shared, "parts": str(parts)}, on_shard)
        return write(joined_chunks(parts, len(customer_chunks(customers, chunk))))
