"""Write-then-rename helpers: a reader never sees a half-written file or folder, and a crash leaves
only hidden temp names behind (never something that looks finished)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hmrec_cli.errors import InputError


def _hidden_sibling(path: Path, tag: str) -> Path:
    return path.parent / f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is renamed onto `path`, on failure removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _hidden_sibling(path, "tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield an empty temp folder beside `path`; on success it replaces `path` whole.

    An existing `path` is moved aside first and deleted after the swap, so the window in which
    `path` is absent is two renames long and an old store is never mixed with a new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _hidden_sibling(path, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            old = _hidden_sibling(path, "old")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_failure(error: BaseException) -> str | None:
    """The operating system's words when `error` is a failed write (read-only folder, full disk,
    file too large), also when a Parquet writer wraps it in its own error; None for anything else."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    found = re.search(r"([A-Za-z][^:]*\(os error \d+\))", str(error))
    return found.group(1) if found else None


@contextmanager
def scratch_dir(path: Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside `path` for intermediate files (spills), removed when
    the block ends; a killed process leaves a temp name that `hmrec cache clear` sweeps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _hidden_sibling(path, "tmp")
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def refuse_inside(out: Path, folders: dict[str, Path], option: str = "--out") -> None:
    """Refuse an output path inside one of hmrec's folders (by name: the store, the cache), links
    resolved: writing there would overwrite files hmrec keeps. Called before any work."""
    target = out.resolve()
    for name, folder in folders.items():
        root = folder.resolve()
        if target == root or root in target.parents:
            where = "is" if target == root else "is inside"
            raise InputError(
                f"{option} {out}: {where} the {name} ({folder}), whose files it could overwrite; write it elsewhere"
            )
