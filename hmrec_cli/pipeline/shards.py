"""Customer shards: which customers shard I of N scores, and joining the shards' submissions.

A customer's shard is a stable hash of its *original* id (the shop's string, UTF-8), so every machine,
Python version and ingest of the same log puts a customer in the same shard: FNV-1a over the id's
bytes, finished with splitmix64 (the low bits of plain FNV-1a are poorly mixed), modulo N. Never
Python's `hash` (salted per process) nor polars' (may change between releases). The hash runs over
byte positions, each step on every id at once, so it costs the longest id's length in numpy passes.

What is fitted for a week does not depend on the shard (`shared_fits`); only the scored customers
do, so the N shards' rows concatenate to exactly the unsharded rows; `shard_merge` joins the shards' submission files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from hmrec_cli.errors import InputError

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
MAX_SHARDS = 100_000


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0 <= index < count): the customers whose `shard_of` is `index`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (1 <= self.count <= MAX_SHARDS and 0 <= self.index < self.count):
            raise InputError(f"--shard {self}: expected I/N with 0 <= I < N <= {MAX_SHARDS}, e.g. 0/4")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N` as typed on the command line (0-based I, so a job array's task index is I)."""
        index, slash, count = text.strip().partition("/")
        if not (slash and index.isascii() and index.isdigit() and count.isascii() and count.isdigit()):
            raise InputError(f"--shard {text}: expected I/N with 0 <= I < N, e.g. 0/4")
        return cls(int(index), int(count))


def id_hash(ids: pl.Series) -> np.ndarray:
    """A stable 64-bit hash per id of its UTF-8 text (FNV-1a, splitmix64-finished), vectorised."""
    text = ids.cast(pl.String).to_arrow()
    text = pa.concat_arrays(text.chunks) if isinstance(text, pa.ChunkedArray) else text
    text = text.cast(pa.large_string())
    _, offsets_buffer, data_buffer = text.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    h = np.full(len(text), FNV_OFFSET, dtype=np.uint64)
    longest = int(lengths.max(initial=0))
    same = len(text) > 0 and int(lengths.min()) == longest  # H&M's 64-hex ids: one row of bytes per id
    rows = data[offsets[0] : offsets[-1]].reshape(len(text), longest) if same else None
    with np.errstate(over="ignore"):
        for position in range(longest):
            if rows is not None:
                h = (h ^ rows[:, position]) * FNV_PRIME
                continue
            live = np.flatnonzero(lengths > position)
            h[live] = (h[live] ^ data[starts[live] + position].astype(np.uint64)) * FNV_PRIME
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


def shard_of(ids: pl.Series, count: int) -> np.ndarray:
    """The shard (0 .. count-1) of each original id."""
    return (id_hash(ids) % np.uint64(count)).astype(np.int64)


def only(customers: pl.Series, shard: Shard | None, store_customers: pl.DataFrame) -> pl.Series:
    """The customers (dense indexes, order kept) that fall in `shard`; all of them without one.
    `store_customers`: the store's customer table (dense `customer`, original `customer_id`)."""
    if shard is None or shard.count == 1:
        return customers
    mine = store_customers["customer"].filter(pl.Series(_assigned(store_customers, shard.count) == shard.index))
    return customers.filter(customers.is_in(mine.implode()))


_recent: list[tuple[pl.DataFrame, int, np.ndarray]] = []  # a run asks for the same store's shards at every stage


def _assigned(store_customers: pl.DataFrame, count: int) -> np.ndarray:
    """`shard_of` every customer of the store's table, remembered for the last few tables (each
    held, so an identity compared here is never a new table's)."""
    for table, n, shards in _recent:
        if table is store_customers and n == count:
            return shards
    shards = shard_of(store_customers["customer_id"], count)
    _recent[:] = [(store_customers, count, shards), *_recent[:1]]
    return shards
