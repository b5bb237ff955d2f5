"""Content-addressed cache of candidate sets and rankings, and the rankers' model checkpoints.

Layout: `CACHE/<kind>/<method>/<week start>/<key>.parquet` with `<key>.json` beside it (kinds:
`candidates`, `rankings`); a ranking's training checkpoint is `CACHE/models/<ranker>/<week>/<key>.pt`. The key
hashes everything that decides the content: plugin, plugin version, parameters, the store's
fingerprint, the week, k and the customer set. A new ingest changes the fingerprint, so stale sets
are never served. Parquet is written to a temp file and renamed, then the manifest (with the file's
size and sha256) is written the same way; an entry counts only when its manifest exists, so an
interrupted run leaves nothing that looks finished.

Names and keys come from the command line, so every path is built in one place (`_path`): the
method must look like a plugin name, the key like a key and the week like a date, and the resolved
path (links followed) must lie under the cache root. A damaged entry (file missing, size or hash
not as written) is never served: it is reported and rebuilt, or refused where it was named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from hmrec_cli.atomic import atomic_file, write_failure
from hmrec_cli.errors import InputError
from hmrec_cli.integrity import DAY, damage, digest, remove_orphans

KINDS = ("candidates", "rankings")
KEY_LENGTH = 16
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
KEY = re.compile(rf"[0-9a-f]{{{KEY_LENGTH}}}")
WEEK = re.compile(r"\d{4}-\d{2}-\d{2}")


def cache_key(**parts: object) -> str:
    """Stable hash of the parts (dataclasses become dicts)."""
    plain = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in parts.items()}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:KEY_LENGTH]


def customers_digest(customers: pl.Series) -> str:
    return hashlib.sha256(customers.sort().cast(pl.UInt32).to_numpy().tobytes()).hexdigest()[:16]


def check_name(name: str, option: str = "--method") -> str:
    """A method or ranker name as the cache will use it in a path: a plugin-like name, nothing else."""
    if not NAME.fullmatch(name):
        raise InputError(f"{option} {name}: not a plugin name (letters, digits, '-' and '_')")
    return name


def split_name(name: str, option: str = "--candidates") -> tuple[str, str]:
    """`method` or `method@key`, both checked; the key is '' when not given."""
    method, at, key = name.partition("@")
    check_name(method, option)
    if at and not KEY.fullmatch(key):
        raise InputError(f"{option} {name}: {key!r} is not a cache key ({KEY_LENGTH} hex digits, see `hmrec cache ls`)")
    return method, key


def _warn(message: str) -> None:
    from hmrec_cli import console

    console.warn(message)


@dataclass(frozen=True)
class Entry:
    """One cached result: its Parquet file and its manifest ({} when the manifest is unreadable)."""

    path: Path
    manifest: dict
    cached: bool = False  # True when `Cache.get` answered it (computed earlier, not just now)

    @property
    def kind(self) -> str:
        return self.path.parents[2].name

    @property
    def method(self) -> str:
        return self.path.parents[1].name

    @property
    def week(self) -> str:
        return self.path.parent.name

    @property
    def key(self) -> str:
        return self.path.stem

    @property
    def label(self) -> str:
        return f"{self.method}@{self.key}"

    def damage(self) -> str | None:
        """Why the entry cannot be trusted, or None."""
        if not self.manifest:
            return "manifest unreadable"
        return damage(self.path, self.manifest.get("file"))

    def read(self) -> pl.DataFrame:
        return pl.read_parquet(self.path)

    def provenance(self) -> str:
        """How this answer came about, for the line a command prints: "from cache (computed DATE in N s)"
        for an earlier result, "computed in N s" for one just made."""
        seconds = self.manifest.get("seconds")
        took = f" in {seconds:,.1f} s" if isinstance(seconds, (int, float)) else ""
        if not self.cached:
            return f"computed{took}"
        created = str(self.manifest.get("created", ""))[:16].replace("T", " ")
        return f"from cache (computed {created + ' UTC' if created else 'earlier'}{took})"


class Cache:
    def __init__(self, root: Path):
        self.root = root
        self._swept = False

    def _path(self, kind: str, method: str, week: str, name: str) -> Path:
        """The one place a cache path is built from outside words: each checked, the result inside the root."""
        if kind not in (*KINDS, "models"):
            raise ValueError(f"no cache kind {kind!r}")
        check_name(method)
        if not WEEK.fullmatch(week):
            raise InputError(f"week {week!r}: expected YYYY-MM-DD")
        stem = name.partition(".")[0]
        if not KEY.fullmatch(stem):
            raise InputError(f"{method}@{stem}: not a cache key ({KEY_LENGTH} hex digits)")
        return self.inside(self.root / kind / method / week / name)

    def inside(self, path: Path) -> Path:
        """`path` itself, once its real location (links followed) is known to lie under the root."""
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise InputError(f"{path}: leads outside the cache {self.root} (a link?); refusing to use it")
        return path

    def checkpoint(self, ranker: str, week: str, key: str) -> Path:
        return self._path("models", ranker, week, f"{key}.pt")

    def _load(self, manifest: Path) -> Entry:
        try:
            content = json.loads(manifest.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            content = {}
        return Entry(manifest.with_suffix(".parquet"), content if isinstance(content, dict) else {})

    def committed(self, kind: str, method: str, week: str, key: str) -> Entry | None:
        """The entry whose manifest is in place, unverified (None when there is none)."""
        manifest = self._path(kind, method, week, f"{key}.json")
        if not manifest.is_file():
            return None
        self.inside(manifest.with_suffix(".parquet"))
        return self._load(manifest)

    def get(self, kind: str, method: str, week: str, key: str) -> Entry | None:
        """An intact entry, or None: a damaged one is reported and removed, so the caller rebuilds it."""
        entry = self.committed(kind, method, week, key)
        if entry is None:
            return None
        problem = entry.damage()
        if problem is None:
            return dataclasses.replace(entry, cached=True)
        _warn(f"cache entry {entry.label} is damaged ({problem}); rebuilding")
        self._remove(entry)
        return None

    @contextmanager
    def put(self, kind: str, method: str, week: str, key: str, manifest: dict) -> Iterator[Path]:
        """Yield a temp path to write the Parquet to; on success it and its manifest (with the file's
        size and sha256) are committed. The caller may add figures to `manifest` inside the block.
        A folder that cannot be written (read-only, full disk) is one line naming it."""
        data = self._path(kind, method, week, f"{key}.parquet")
        self.sweep(min_age=DAY)
        try:
            with atomic_file(data) as tmp:
                yield tmp
                recorded = digest(tmp)
            manifest.update(
                key=key, method=method, week=week, kind=kind, file=recorded,
                created=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            )
            with atomic_file(data.with_suffix(".json")) as tmp_manifest:
                tmp_manifest.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        except Exception as error:
            if (why := write_failure(error)) is None:
                raise
            raise InputError(f"cannot write the cache entry {data}: {why}") from None

    def entries(self, kind: str | None = None, method: str | None = None, week: str | None = None) -> list[Entry]:
        """Entries whose manifest is in place (damaged ones included: see `Entry.damage`), newest
        first. Anything whose real location is outside the root is skipped with a warning."""
        if method is not None:
            check_name(method)
        found = []
        for manifest in self.root.glob(f"{kind or '*'}/{method or '*'}/{week or '*'}/*.json"):
            names_ok = NAME.fullmatch(manifest.parents[1].name) and WEEK.fullmatch(manifest.parent.name)
            if manifest.parents[2].name not in KINDS or not names_ok or not KEY.fullmatch(manifest.stem):
                continue
            try:
                self.inside(manifest)
                self.inside(manifest.with_suffix(".parquet"))
            except InputError as outside:
                _warn(f"skipped {outside}")
                continue
            found.append(self._load(manifest))
        return sorted(found, key=lambda e: e.manifest.get("created", ""), reverse=True)

    def resolve(self, kind: str, name: str, week: str, fingerprint: str, option: str = "--candidates") -> Entry | None:
        """`method@key` names one entry (exit 2 naming its file when it is damaged); `method` the
        newest intact one for this week and data (with a warning when there are several), or None."""
        method, key = split_name(name, option)
        if key:
            entry = self.committed(kind, method, week, key)
            if entry is None:
                raise InputError(f"{name}: no cached {kind} with that key for week {week} (see `{self.listing()}`)")
            problem = entry.damage()
            if problem is not None:
                raise InputError(f"cache entry {name} is damaged ({problem}): {entry.path}; clear it and build it again")
            return entry
        intact = []
        for entry in self.entries(kind, method, week):
            if entry.manifest.get("fingerprint") != fingerprint:
                continue
            problem = entry.damage()
            if problem is None:
                intact.append(entry)
                continue
            _warn(f"cache entry {entry.label} is damaged ({problem}); skipped")
            self._remove(entry)
        if len(intact) > 1:  # e.g. rankings of other sources or options: say which one is taken
            sources = ",".join(intact[0].manifest.get("sources", []))
            _warn(
                f"{len(intact)} cached {method} {kind} for the week {week} on this data; using the newest, {intact[0].label}"
                + (f" (sources {sources})" if sources else "") + f"; name another as {method}@KEY (keys: `{self.listing()}`)"
            )
        return intact[0] if intact else None

    def listing(self) -> str:
        """The `hmrec cache ls` that lists this cache (with its --cache unless the default)."""
        from hmrec_cli.console import reproduce

        return reproduce("cache", "ls", cache=self.root)

    def _remove(self, entry: Entry) -> None:
        entry.path.unlink(missing_ok=True)
        entry.path.with_suffix(".json").unlink(missing_ok=True)
        if entry.kind == "rankings":
            checkpoint = self.checkpoint(entry.method, entry.week, entry.key)
            checkpoint.unlink(missing_ok=True)
            checkpoint.with_suffix(".pt.json").unlink(missing_ok=True)

    def sweep(self, min_age: float = 0.0) -> int:
        """Remove what interrupted processes left: temp files no live process owns, and data files
        whose manifest was never written (both at least `min_age` seconds old); run now and then by
        writers, and by `hmrec cache clear`. Returns how many were removed."""
        if self._swept and min_age > 0:
            return 0
        self._swept = True
        if not self.root.is_dir():
            return 0
        root, now = self.root.resolve(), time.time()
        temps = [p for p in self.root.glob("*/*/*/.*") if p.parent.resolve().is_relative_to(root)]
        uncommitted = [
            p for p in self.root.glob("*/*/*/*.parquet")
            if p.parent.resolve().is_relative_to(root) and not p.with_suffix(".json").exists() and now - p.lstat().st_mtime >= min_age
        ]
        for data in uncommitted:
            data.unlink(missing_ok=True)
        return len(remove_orphans(temps, min_age)) + len(uncommitted)

    def clear(self, method: str | None = None) -> int:
        """Delete entries (of one method); returns how many were removed."""
        entries = self.entries(method=method)
        for entry in entries:
            self._remove(entry)
        root = self.root.resolve()
        for folder in sorted(self.root.glob("*/*/*"), reverse=True):
            if folder.resolve().is_relative_to(root) and folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                shutil.rmtree(folder)
        return len(entries)
