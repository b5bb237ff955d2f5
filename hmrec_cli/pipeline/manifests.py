"""What a cached candidate set or ranking records beside its Parquet file, as dataclasses: the one
place the manifests' fields are named, written (`as_dict`) and read back (`of`), so a command, a
report or `--json` reads a field (`manifest.train_weeks`), never a key of the JSON object.

The JSON keys are the field names (the figures keep theirs, `map@12`, inside `figures`); a field
whose value is None is left out of the JSON, as the optional ones always were. `stamp` holds what
the cache adds when it commits an entry (`key`, `created`, the file's size and sha256...). A
manifest whose fields are missing or of the wrong type is refused with one line naming its file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from hmrec_cli.cache import Entry
from hmrec_cli.errors import InputError

STAMP = ("key", "method", "week", "kind", "file", "created")  # `Cache.put` writes these


@dataclass(frozen=True)
class Manifest:
    """Fields both kinds record: the plugin, its parameters, the data, for whom and how long."""

    plugin_version: str
    distribution: str
    params: dict
    fingerprint: str
    k: int
    customers: str  # how the customers were chosen: buyers, all, file NAME (N customers)
    customer_count: int
    seed: int

    @property
    def created(self) -> str | None:
        """When the cache committed the entry (ISO time, UTC)."""
        return getattr(self, "stamp", {}).get("created")

    def as_dict(self) -> dict:
        """The JSON object the cache writes: every field but None ones, `stamp` merged in."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "stamp"}
        return {**{n: v for n, v in out.items() if v is not None}, **getattr(self, "stamp", {})}

    @classmethod
    def of(cls, entry: Entry):
        """The manifest of `entry`, checked field by field: InputError naming the file otherwise."""
        return cls.from_dict(entry.manifest, str(entry.path.with_suffix(".json")))

    @classmethod
    def readable(cls, entry: Entry):
        """The manifest of `entry`, or None when it cannot be read: a listing skips such an entry,
        as it skips a damaged one."""
        try:
            return cls.of(entry)
        except InputError:
            return None

    @classmethod
    def from_dict(cls, data: dict, where: str = "manifest"):
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name == "stamp":
                continue
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if f.name not in data:
                if required:
                    raise InputError(f"{where}: manifest field {f.name} is missing (a damaged or foreign cache entry)")
                continue
            if not _fits(data[f.name], hints[f.name]):
                raise InputError(f"{where}: manifest field {f.name} is {data[f.name]!r}, not {_named(hints[f.name])}")
            values[f.name] = data[f.name]
        return cls(**values, stamp={n: data[n] for n in STAMP if n in data})


@dataclass(frozen=True)
class CandidateManifest(Manifest):
    """A candidate set: `recall.run` writes it."""

    dropped_bought: bool  # whether the set left out what each customer bought before
    fit_seconds: float
    rows: int
    seconds: float
    device: str | None = None  # only for a retriever that uses one
    training: dict | None = None  # a trained retriever's log
    figures: dict | None = None  # recall@k, map@12... on the week's buyers (a week with purchases)
    oracle_figures: dict | None = None  # the synthetic world's true top-100 scored the same way
    shard: str | None = None  # `I/N` when only that shard's customers were scored (`--shard`)
    model_key: str | None = None  # the fitted model's key: the set's without the customers, every shard's
    shards: list[str] | None = None  # the shards' sets it was assembled from (`evaluate --engine ray`), by label
    world_size: int = 1  # processes that trained it together (`--workers`, torchrun)
    nodes: int = 1  # machines those processes ran on
    command: str | None = None  # the hmrec command that made it (None from the Python API)
    stamp: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RankingManifest(Manifest):
    """A ranking: `ranking.rank` writes it."""

    sources: list[str]  # the sources ranked (after --candidates auto chose them)
    source_options: dict  # source -> its -o options
    source_params: dict  # source -> its parameters
    source_sets: list[str]  # the target week's candidate sets, by label
    train_weeks: list[str]  # first days of the training weeks that hold purchases
    training_rows: int
    device: str
    training: dict  # the ranker's training log
    newest_training_week: dict  # its MAP@12 beside merge's and each source's there
    dropped_bought: list[str]  # first days of the weeks (training and target) whose sets left out what was bought
    rows: int
    fit_seconds: float
    score_seconds: float
    seconds: float
    source_choice: dict | None = None  # --candidates auto: the pool and the steps that chose the sources
    empty_train_weeks: list[str] | None = None  # asked-for training weeks without a purchase, left out
    figures: dict | None = None  # map@12, recall@12, the union's recall... on the week's buyers
    shard: str | None = None  # `I/N` when only that shard's customers were ranked (`--shard`)
    model_key: str | None = None  # the trained ranker's key: the ranking's without the customers, every shard's
    shards: list[str] | None = None  # the shards' rankings it was assembled from (`rank --engine ray`), by label
    world_size: int = 1  # processes that trained it together (`--workers`, torchrun)
    nodes: int = 1  # machines those processes ran on
    command: str | None = None  # the hmrec command that made it (None from the Python API)
    stamp: dict = field(default_factory=dict, compare=False)


def readable(entry: Entry) -> CandidateManifest | RankingManifest | None:
    """The manifest of a candidate set or a ranking by the entry's kind, None when it cannot be read."""
    return {"candidates": CandidateManifest, "rankings": RankingManifest}[entry.kind].readable(entry)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value is of the (simple) annotated type: int, float, str, bool, list, dict, X | None."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    base = typing.get_origin(hint) or hint
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base)


def _named(hint: Any) -> str:
    return str(hint).replace("typing.", "")
