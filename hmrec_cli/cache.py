"""Content-addressed cache of candidate sets and rankings, and the rankers' model checkpoints.

Layout: `CACHE/<kind>/<method>/<week start>/<key>.parquet` with `<key>.json` beside it (kinds:
`candidates`, `rankings`); a ranking's training checkpoint is `CACHE/models/<ranker>/<week>/<key>.pt`. The key
hashes everything that decides the content: plugin, plugin version, parameters, the store's
fingerprint, the week, k and the customer set. A new ingest changes the fingerprint, so stale sets
are never served. Parquet is written to a temp file and renamed, then the manifest is written the
same way; an entry counts only when its manifest exists, so an interrupted run leaves nothing that
looks finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from hmrec_cli.atomic import atomic_file
from hmrec_cli.errors import InputError


def cache_key(**parts: object) -> str:
    """Stable hash of the parts (dataclasses become dicts)."""
    plain = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in parts.items()}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:16]


def customers_digest(customers: pl.Series) -> str:
    return hashlib.sha256(customers.sort().cast(pl.UInt32).to_numpy().tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """One cached result: its Parquet file and its manifest."""

    path: Path
    manifest: dict

    @property
    def label(self) -> str:
        return f"{self.manifest['method']}@{self.manifest['key']}"

    def read(self) -> pl.DataFrame:
        return pl.read_parquet(self.path)


class Cache:
    def __init__(self, root: Path):
        self.root = root

    def _folder(self, kind: str, method: str, week: str) -> Path:
        return self.root / kind / method / week

    def get(self, kind: str, method: str, week: str, key: str) -> Entry | None:
        folder = self._folder(kind, method, week)
        manifest, data = folder / f"{key}.json", folder / f"{key}.parquet"
        if manifest.is_file() and data.is_file():
            return Entry(data, json.loads(manifest.read_text()))
        return None

    @contextmanager
    def put(self, kind: str, method: str, week: str, key: str, manifest: dict) -> Iterator[Path]:
        """Yield a temp path to write the Parquet to; on success it and its manifest are committed.
        The caller may add figures to `manifest` inside the block."""
        folder = self._folder(kind, method, week)
        with atomic_file(folder / f"{key}.parquet") as tmp:
            yield tmp
        manifest.update(key=key, method=method, week=week, kind=kind, created=datetime.now(timezone.utc).isoformat(timespec="microseconds"))
        with atomic_file(folder / f"{key}.json") as tmp_manifest:
            tmp_manifest.write_text(json.dumps(manifest, indent=2, default=str) + "\n")

    def entries(self, kind: str | None = None, method: str | None = None, week: str | None = None) -> list[Entry]:
        """Committed entries, newest first."""
        pattern = f"{kind or '*'}/{method or '*'}/{week or '*'}/*.json"
        found = []
        for manifest in self.root.glob(pattern):
            data = manifest.with_suffix(".parquet")
            if data.is_file():
                found.append(Entry(data, json.loads(manifest.read_text())))
        return sorted(found, key=lambda e: e.manifest.get("created", ""), reverse=True)

    def resolve(self, kind: str, name: str, week: str, fingerprint: str) -> Entry | None:
        """`method@key` names one entry; `method` the newest for this week and data, or None."""
        method, _, key = name.partition("@")
        if key:
            entry = self.get(kind, method, week, key)
            if entry is None:
                raise InputError(f"{name}: no cached {kind} with that key for week {week} (see `hmrec cache ls`)")
            return entry
        for entry in self.entries(kind, method, week):
            if entry.manifest.get("fingerprint") == fingerprint:
                return entry
        return None

    def clear(self, method: str | None = None) -> int:
        """Delete entries (of one method); returns how many were removed."""
        entries = self.entries(method=method)
        for entry in entries:
            entry.path.unlink(missing_ok=True)
            entry.path.with_suffix(".json").unlink(missing_ok=True)
            (self.root / "models" / entry.manifest["method"] / entry.manifest["week"] / f"{entry.manifest['key']}.pt").unlink(missing_ok=True)
        for folder in sorted(self.root.glob("*/*/*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                shutil.rmtree(folder)
        return len(entries)
