"""`hmrec cache ls|clear`: see and remove cached candidate sets and rankings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.commands.options import CacheDir, DataDir, Json, reports_input_errors

cache_app = typer.Typer(help="List or clear cached candidate sets and rankings.", no_args_is_help=True)


@cache_app.command("ls")
@reports_input_errors
def cache_ls(cache: CacheDir = Path("cache"), json: Json = False) -> None:
    """Every cached entry, newest first: kind, method@key, week, k, customers, rows, size on disk, and
    whether it is damaged (file missing, or its size or sha256 not as written); then the total size
    (entries, and the whole folder with model checkpoints). --json adds seconds."""
    from hmrec_cli import console
    from hmrec_cli.cache import Cache

    entries = Cache(cache).entries()
    listed = [(e, e.path.stat().st_size if e.path.is_file() else 0, e.damage()) for e in entries]
    entry_bytes = sum(size for _, size, _ in listed)
    folder_bytes = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file() and not p.is_symlink()) if cache.is_dir() else 0
    if json:
        console.emit_json({
            "entries": [{"name": e.label, "path": str(e.path), "bytes": size, "damaged": problem, **e.manifest} for e, size, problem in listed],
            "entries_bytes": entry_bytes, "total_bytes": folder_bytes,
        })
        return
    rows = [
        [e.kind, e.label, e.week, e.manifest.get("k", ""), e.manifest.get("customers", ""), e.manifest.get("rows", 0),
         _size(size), "[red]damaged[/]" if problem else "ok"]
        for e, size, problem in listed
    ]
    console.show(f"Cache {cache}", ["kind", "name", "week", "k", "customers", "rows", "size", "state"], rows)
    console.out.print(f"{len(listed)} entries, {_size(entry_bytes)}; {_size(folder_bytes)} on disk in all (with model checkpoints and manifests)", highlight=False)
    for e, _, problem in listed:
        if problem:
            console.warn(f"{e.label} ({e.kind}, week {e.week}) is damaged: {problem}; it will be rebuilt when next asked for ({e.path})")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


@cache_app.command("clear")
@reports_input_errors
def cache_clear(
    cache: CacheDir = Path("cache"),
    method: Annotated[Optional[str], typer.Option(help="Only this method's entries.", show_default=False)] = None,
    orphans: Annotated[bool, typer.Option("--orphans", help="Only remove temp files that killed runs left (in the cache and beside the --data store); keep every entry.")] = False,
    data: DataDir = Path("hm"),
    json: Json = False,
) -> None:
    """Delete cached entries (all, or one method's), with the model checkpoints of cleared rankings,
    and the temp files that killed runs left (in the cache and beside the store)."""
    from hmrec_cli import console
    from hmrec_cli.cache import Cache, check_name
    from hmrec_cli.integrity import remove_orphans

    store = Cache(cache)
    if method is not None:
        check_name(method)
    removed = 0 if orphans else store.clear(method)
    temps = store.sweep()
    if data.parent.is_dir():
        temps += len(remove_orphans(p for pattern in (f".{data.name}.*-*", ".hmrec-ingest-*") for p in data.parent.glob(pattern)))
    if json:
        console.emit_json({"removed_entries": removed, "removed_temp_files": temps})
        return
    console.out.print(f"removed {removed} cached entries and {temps} files that interrupted runs left")
