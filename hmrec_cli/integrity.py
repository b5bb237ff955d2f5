"""Is a file on disk still the one we wrote? Size and sha256 are recorded when a file is written and
compared before it is trusted; files written before digests were recorded are checked by opening
their Parquet footer (a truncated file has none). sha256 reads about 1 GB/s here, a fraction of
what the same file costs to compute, so every read verifies.

Also: leftover temp files. Every temp name hmrec makes carries the pid of the process that made it
(`.NAME.tmp-PID-xxxxxxxx`, `.NAME.old-PID-xxxxxxxx`, `.hmrec-ingest-PID-...`), so a sweep can tell a
kill -9's leftovers from a running process's work in progress. Only names of exactly that shape are
hmrec's: anything else (a user's `.hm.old-backup`) is never touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from pathlib import Path

DAY = 24 * 3600.0
TEMP_NAME = re.compile(
    r"\.(?:(?P<name>.+)\.(?:tmp|old)-(?P<pid>[1-9]\d{0,6})-[0-9a-f]{8}|hmrec-ingest-(?P<ingest_pid>[1-9]\d{0,6})-[a-z0-9_]+)"
)


def digest(path: Path) -> dict:
    """Size in bytes and sha256 of a file, for its manifest."""
    with open(path, "rb") as fh:
        sha = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"bytes": path.stat().st_size, "sha256": sha}


def damage(path: Path, recorded: dict | None) -> str | None:
    """Why `path` cannot be trusted, in a few words, or None when it is intact. `recorded`: the
    digest written with it (None for files from before digests: the Parquet footer is checked)."""
    if not path.is_file():
        return "file missing"
    size = path.stat().st_size
    if recorded and "bytes" in recorded:
        if size != recorded["bytes"]:
            return f"{size:,} bytes, expected {recorded['bytes']:,}"
        if digest(path)["sha256"] != recorded.get("sha256"):
            return "content differs from what was written"
        return None
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            pq.read_metadata(path)
        except Exception as error:  # any failure to read the footer means the file is unusable
            return f"not a readable Parquet file ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    return None


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def is_orphan(path: Path, min_age: float = 0.0, now: float | None = None) -> bool:
    """A temp name of hmrec's whose process is gone and that is at least `min_age` seconds old."""
    match = TEMP_NAME.fullmatch(path.name)
    if match is None:
        return False
    pid = int(match.group("pid") or match.group("ingest_pid"))
    if pid == os.getpid() or _owner_alive(pid):
        return False
    age = (now or time.time()) - path.lstat().st_mtime
    return age >= min_age


def store_temps(store: Path) -> list[Path]:
    """hmrec's temp names beside a store folder (a store or ingest scratch being written), for the
    sweeps of `data ingest` and `hmrec cache clear`; `is_orphan` decides which are left over."""
    if not store.parent.is_dir():
        return []
    return [p for pattern in (f".{store.name}.*-*", ".hmrec-ingest-*") for p in store.parent.glob(pattern)]


def remove_orphans(paths, min_age: float = 0.0) -> list[Path]:
    """Delete the orphaned temp files and folders among `paths` (links are removed, never followed)."""
    removed, now = [], time.time()
    for path in paths:
        try:
            if not is_orphan(path, min_age, now):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:  # another sweep got there first
            continue
        removed.append(path)
    return removed
