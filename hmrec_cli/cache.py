"""Content-addressed cache of candidate sets and rankings, and the rankers' model checkpoints.

Layout: `CACHE/<kind>/<method>/<week start>/<key>.parquet` with `<key>.json` beside it (kinds:
`candidates`, `rankings`); a model's training checkpoint is `CACHE/models/<plugin>/<week>/<model key>.pt` (the manifest's
`model_key`, the entry's key without its customers). The key
hashes everything that decides the content: the request's fields (`request_fields`), plugin
version, code (`code_digest.plugin_digest`: an edited plugin never serves its old sets),
parameters, the store's fingerprint, and the pipeline's code and policy constants
(`code_digest.pipeline_state`). A new ingest changes the fingerprint, so stale sets
are never served. Parquet and its manifest (with the file's size and sha256) are both written to temp
files, then the Parquet is renamed into place and the manifest after it; an entry counts only when
its manifest exists, so an interrupted run leaves nothing that looks finished.

The cache deletes only what it provably wrote (the `--cache` folder may hold a user's data): entries
whose manifest names them, temp names of hmrec's shape whose writer is dead, and a Parquet file
whose manifest was killed between the two renames (its temp manifest, left beside it, records the
file's sha256). Anything else is left where it is and reported as not hmrec's (`Cache.foreign`).

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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from hmrec_cli.atomic import atomic_file, write_failure
from hmrec_cli.errors import InputError
from hmrec_cli.integrity import DAY, TEMP_NAME, damage, digest, is_orphan, remove_orphans

KINDS = ("candidates", "rankings")
MODELS = "models"
KEY_LENGTH = 16
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
KEY = re.compile(rf"[0-9a-f]{{{KEY_LENGTH}}}")
WEEK = re.compile(r"\d{4}-\d{2}-\d{2}")


def cache_key(**parts: object) -> str:
    """Stable hash of the parts (dataclasses, at any depth, become dicts)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=_plain).encode()).hexdigest()[:KEY_LENGTH]


def _plain(value: object) -> object:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else str(value)


def request_fields(request: object, **resolved: object) -> dict:
    """A request dataclass's fields as a cache key takes them: every field, so a field added to the
    request enters every key, with `resolved` replacing those whose raw value is not what decides
    the result (a customers file by its ids' digest, `-o` options by the parameters they give)."""
    names = [f.name for f in dataclasses.fields(request)]
    if unknown := set(resolved) - set(names):
        raise ValueError(f"{type(request).__name__} has no fields {sorted(unknown)}")
    return {name: resolved[name] if name in resolved else getattr(request, name) for name in names}


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

    @property
    def owned(self) -> bool:
        """hmrec wrote this entry: its manifest is a JSON object that names its key. Only then may the
        cache delete the entry's files; anything else is someone else's and is left alone."""
        return self.manifest.get("key") == self.key

    def damage(self) -> str | None:
        """Why the entry cannot be trusted, or None."""
        if not self.manifest:
            return "manifest unreadable"
        if (problem := _manifest_problem(self.manifest)) is not None:
            return problem
        if _real_dir(self.path):
            return "a folder in place of its file"
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


def _manifest_problem(manifest: dict) -> str | None:
    """Why a manifest's fields cannot be used (a hand-edited `"created": 12345`), or None."""
    created = manifest.get("created")
    try:
        datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return f"manifest field created is {created!r}, not a time"
    recorded = manifest.get("file")
    if recorded is not None and not (
        isinstance(recorded, dict) and type(recorded.get("bytes")) is int and isinstance(recorded.get("sha256"), str)
    ):
        return f"manifest field file is {recorded!r}, not a size and sha256"
    return None


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _refuse_folder(path: Path, label: str) -> None:
    """A folder where an entry's file belongs is someone else's: exit 2 naming it, never removed."""
    if _real_dir(path):
        raise InputError(
            f"{path}: a folder where the cache entry {label} should be; hmrec did not write it and leaves it: move it away"
        )


def _hold(tmp: Path) -> None:
    """Create the temp file now, making its folder again when a concurrent `hmrec cache clear` has
    just removed the empty folder: `clear` removes only empty folders, so once the file is there the
    writer's folder stays."""
    for _ in range(3):
        try:
            tmp.touch()
            return
        except FileNotFoundError:
            tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.touch()


class Cache:
    def __init__(self, root: Path):
        self.root = root
        self._swept = False

    def _path(self, kind: str, method: str, week: str, name: str) -> Path:
        """The one place a cache path is built from outside words: each checked, the result inside the root."""
        if kind not in (*KINDS, MODELS):
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

    def checkpoint(self, method: str, week: str, key: str) -> Path:
        """Where a ranker or a trained retriever keeps its checkpoint, checked like every cache path."""
        return self._path(MODELS, method, week, f"{key}.pt")

    def checkpoint_of(self, entry: Entry) -> Path:
        """The checkpoint of the model that made `entry`: filed under its `model_key` (shared by every
        shard of the same fit), or under the entry's own key for an entry written before model keys."""
        return self.checkpoint(entry.method, entry.week, entry.manifest.get("model_key", entry.key))

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
        entry = self._load(manifest)
        if not entry.owned:
            raise InputError(
                f"{manifest}: not a manifest hmrec wrote for {method}@{key}; hmrec leaves it alone: move it away"
            )
        _refuse_folder(entry.path, entry.label)
        return entry

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
        for path in (data, data.with_suffix(".json")):
            _refuse_folder(path, f"{method}@{key}")
        self.sweep(min_age=DAY)
        try:  # the manifest's temp is complete before the data is renamed, and renamed after it (see `sweep`)
            with atomic_file(data.with_suffix(".json")) as tmp_manifest, atomic_file(data) as tmp:
                _hold(tmp)
                yield tmp
                manifest.update(
                    key=key,
                    method=method,
                    week=week,
                    kind=kind,
                    file=digest(tmp),
                    created=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                )
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
        return sorted(found, key=lambda e: str(e.manifest.get("created", "")), reverse=True)

    def resolve(
        self, kind: str, name: str, week: str, fingerprint: str, option: str = "--candidates", shard: str | None = None
    ) -> Entry | None:
        """`method@key` names one entry (exit 2 naming its file when it is damaged); `method` the
        newest intact one for this week and data (with a warning when there are several), or None;
        `shard` (`I/N`): only among the entries made for that shard."""
        method, key = split_name(name, option)
        if key:
            entry = self.committed(kind, method, week, key)
            if entry is None:
                raise InputError(f"{name}: no cached {kind} with that key for week {week} (see `{self.listing()}`)")
            problem = entry.damage()
            if problem is not None:
                raise InputError(
                    f"cache entry {name} is damaged ({problem}): {entry.path}; clear it and build it again"
                )
            return entry
        intact = []
        for entry in self.entries(kind, method, week):
            if not entry.owned or entry.manifest.get("fingerprint") != fingerprint:
                continue
            if shard is not None and entry.manifest.get("shard") != shard:
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
                + (f" (sources {sources})" if sources else "")
                + f"; name another as {method}@KEY (keys: `{self.listing()}`)"
            )
        return intact[0] if intact else None

    def listing(self) -> str:
        """The `hmrec cache ls` that lists this cache (with its --cache unless the default)."""
        from hmrec_cli.console import reproduce

        return reproduce("cache", "ls", cache=self.root)

    def _remove(self, entry: Entry) -> None:
        """Delete an entry hmrec wrote (with the checkpoint of the ranker or retriever that made it,
        unless another entry still names it: `_shares_model`); what is not a plain file (a folder or
        link put in a file's place) stays, and `foreign` reports it."""
        if not entry.owned:
            return
        files = [entry.path, entry.path.with_suffix(".json")]
        checkpoint = self.checkpoint_of(entry)
        saved = [checkpoint, checkpoint.with_suffix(".pt.json")]
        if any(p.is_file() for p in saved) and not self._shares_model(entry):  # most sets train nothing: no scan
            files += saved
        for path in files:
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)

    def _shares_model(self, entry: Entry) -> bool:
        """Whether another entry of the same plugin and week names `entry`'s model (the shards of one
        fit, and a ranking assembled from them, share its `model_key`, so its checkpoint)."""
        model = entry.manifest.get("model_key", entry.key)
        return any(
            other.path != entry.path and other.owned and other.manifest.get("model_key", other.key) == model
            for other in self.entries(entry.kind, entry.method, entry.week)
        )

    def _folders(self, kinds: tuple[str, ...] = (*KINDS, MODELS)) -> list[Path]:
        """The `KIND/METHOD/WEEK` folders hmrec writes into (real folders with hmrec's names, inside the root)."""
        root = self.root.resolve()
        return [
            week
            for kind in kinds
            for week in self.root.glob(f"{kind}/*/*")
            if NAME.fullmatch(week.parent.name)
            and WEEK.fullmatch(week.name)
            and _real_dir(week)
            and not week.parent.is_symlink()
            and week.resolve().is_relative_to(root)
        ]

    def sweep(self, min_age: float = 0.0) -> int:
        """Remove what interrupted hmrec runs left (all at least `min_age` seconds old): temp names
        of hmrec's whose writer is dead, and data files renamed into place by a run killed before its
        manifest was (the dead run's temp manifest records their sha256). Run now and then by writers,
        and by `hmrec cache clear`. Returns how many were removed."""
        if self._swept and min_age > 0:
            return 0
        self._swept = True
        removed, now = 0, time.time()
        for folder in self._folders():
            temps = [p for p in folder.iterdir() if TEMP_NAME.fullmatch(p.name)]
            if folder.parents[1].name in KINDS:
                removed += sum(self._unfinished(t) for t in temps if is_orphan(t, min_age, now))
            removed += len(remove_orphans(temps, min_age))
        return removed

    @staticmethod
    def _unfinished(temp: Path) -> bool:
        """Remove the data file a dead run renamed into place when `temp` is that run's manifest (not
        yet renamed) and records exactly this file; True when it was removed."""
        name = TEMP_NAME.fullmatch(temp.name).group("name") or ""
        stem, _, suffix = name.partition(".")
        data = temp.parent / f"{stem}.parquet"
        if (
            suffix != "json"
            or not KEY.fullmatch(stem)
            or data.with_suffix(".json").exists()
            or data.is_symlink()
            or not data.is_file()
        ):
            return False
        try:
            recorded = json.loads(temp.read_text()).get("file")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return False
        if recorded != digest(data):
            return False
        data.unlink(missing_ok=True)
        return True

    def clear(self, method: str | None = None) -> int:
        """Delete the entries hmrec wrote (of one method); returns how many were removed. Week folders
        left empty go too (removed only while empty, so a writer that has just made one keeps it);
        `foreign` tells what was left."""
        entries = [e for e in self.entries(method=method) if e.owned]
        for entry in entries:
            self._remove(entry)
        for folder in self._folders():
            try:
                folder.rmdir()
            except OSError:  # not empty: an entry, a writer's temp file, or someone else's files
                continue
        return len(entries)

    def foreign(self) -> list[Path]:
        """What lies in the cache folder that hmrec did not write (a user's files or folders, links,
        a folder in an entry's place, a Parquet file without hmrec's manifest), outermost only: `hmrec
        cache ls` lists it as not hmrec's and `hmrec cache clear` leaves it."""
        if not self.root.is_dir():
            return []
        found = []
        for kind in sorted(self.root.iterdir()):
            if kind.name not in (*KINDS, MODELS) or not _real_dir(kind):
                found.append(kind)
                continue
            for method in sorted(kind.iterdir()):
                if not NAME.fullmatch(method.name) or not _real_dir(method):
                    found.append(method)
                    continue
                for week in sorted(method.iterdir()):
                    if not WEEK.fullmatch(week.name) or not _real_dir(week):
                        found.append(week)
                        continue
                    found += [p for p in sorted(week.iterdir()) if not self._written(kind.name, p)]
        return found

    def _written(self, kind: str, path: Path) -> bool:
        """`path`, inside a week folder of `kind`, is one of hmrec's: a temp name, a checkpoint file,
        or a plain file of an entry whose manifest hmrec wrote or is writing (its temp is beside it)."""
        if TEMP_NAME.fullmatch(path.name):
            return True
        stem = path.name.partition(".")[0]
        if path.is_symlink() or not path.is_file() or not KEY.fullmatch(stem):
            return False
        if kind == MODELS:
            return True
        if path.name not in (f"{stem}.json", f"{stem}.parquet"):
            return False
        pending = any(TEMP_NAME.fullmatch(t.name) for t in path.parent.glob(f".{stem}.json.tmp-*"))
        return self._load(path.with_suffix(".json")).owned or (path.suffix == ".parquet" and pending)
