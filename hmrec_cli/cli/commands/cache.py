"""`hmrec cache ls|clear`: see and remove cached candidate sets and rankings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.cli.commands.options import CacheDir, DataDir, Json, reports_input_errors

cache_app = typer.Typer(help="List or clear cached candidate sets and rankings.", no_args_is_help=True)


@cache_app.command("ls")
@reports_input_errors
def cache_ls(cache: CacheDir = Path("cache"), json: Json = False) -> None:
    """Every cached entry, newest first: kind, method@key, week, k, customers, rows, size on disk, and
    whether it is damaged (file missing, or its size or sha256 not as written); then the total size
    (entries, and the whole folder with model checkpoints). --json adds seconds.

    A manifest whose fields cannot be used also makes its entry damaged. Files and folders in the
    cache folder that hmrec did not write follow, a line each as "not hmrec's: PATH" (`hmrec cache
    clear` leaves them). In a pipe the rows are plain tab-separated lines, so no method@key is ever cut."""
    from hmrec_cli import console
    from hmrec_cli.cache import Cache

    store = Cache(cache)
    entries = [e for e in store.entries() if e.owned]
    foreign = store.foreign()
    listed = [(e, e.path.stat().st_size if e.path.is_file() else 0, e.damage()) for e in entries]
    entry_bytes = sum(size for _, size, _ in listed)
    folder_bytes = (
        sum(p.stat().st_size for p in cache.rglob("*") if p.is_file() and not p.is_symlink()) if cache.is_dir() else 0
    )
    if json:
        console.emit_json(
            {
                "entries": [
                    {"name": e.label, "path": str(e.path), "bytes": size, "damaged": problem, **e.manifest}
                    for e, size, problem in listed
                ],
                "foreign": [str(p) for p in foreign],
                "entries_bytes": entry_bytes,
                "total_bytes": folder_bytes,
            }
        )
        return
    from hmrec_cli.pipeline.manifests import readable

    rows = [
        [
            e.kind,
            e.label,
            e.week,
            *((m.k, m.customers, m.rows) if (m := readable(e)) is not None else ("", "", 0)),
            _size(size),
            "damaged" if problem else "ok",
        ]
        for e, size, problem in listed
    ]
    _table(console, f"Cache {cache}", ["kind", "name", "week", "k", "customers", "rows", "size", "state"], rows)
    console.out.print(
        f"{console.plural(len(listed), 'entry', 'entries')}, {_size(entry_bytes)}; {_size(folder_bytes)} on disk in all (with model checkpoints and manifests)",
        highlight=False,
    )
    for p in foreign:  # one whole path a line, as a table column would cut it
        console.out.print(
            f"not hmrec's: {p}{'/' if p.is_dir() and not p.is_symlink() else ''}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if foreign:
        console.out.print(
            f"{len(foreign)} files or folders in {cache} that hmrec did not write: `hmrec cache clear` leaves them",
            highlight=False,
            soft_wrap=True,
        )
    for e, _, problem in listed:
        if problem:
            console.warn(
                f"{e.label} ({e.kind}, week {e.week}) is damaged: {problem}; it will be rebuilt when next asked for ({e.path})"
            )


def _table(console, title: str, columns: list[str], rows: list[list[object]]) -> None:
    """A table on a terminal, with the name column folded rather than cut; elsewhere (a pipe, a file)
    plain tab-separated lines, so a method@KEY is always whole and `cut -f2` finds it."""
    if console.out.is_terminal:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(header_style="bold", box=box.SIMPLE_HEAD)
        for name in columns:  # the other columns give way before the name does, and it is never cut
            table.add_column(name, **({"overflow": "fold", "no_wrap": True} if name == "name" else {}))
        for row in rows:  # Text, not markup: a user's file name may hold brackets
            table.add_row(*(Text(console.fmt(v), style="red" if v == "damaged" else "") for v in row))
        console.out.print(f"[bold]{title}[/]", highlight=False)
        console.out.print(table)
        return
    lines = [title, *("\t".join(console.fmt(v) for v in row) for row in [columns, *rows])]
    console.out.file.write("\n".join(lines) + "\n")  # past rich, which would turn tabs into spaces


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


def _interactive() -> bool:
    """Someone at a terminal who can answer a question (a script or a test is not asked)."""
    return sys.stdin.isatty()


@cache_app.command("clear")
@reports_input_errors
def cache_clear(
    cache: CacheDir = Path("cache"),
    method: Annotated[Optional[str], typer.Option(help="Only this method's entries.", show_default=False)] = None,
    orphans: Annotated[
        bool,
        typer.Option(
            "--orphans",
            help="Only remove temp files that killed runs left (in the cache and beside the --data store); keep every entry.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Do not ask before clearing every entry (asked only when stdin is a terminal)."
        ),
    ] = False,
    data: DataDir = Path("hm"),
    json: Json = False,
) -> None:
    """Delete cached entries (all, or one method's), with the model checkpoints of cleared rankings,
    and the temp files that killed runs left (in the cache and beside the store).

    Only what hmrec wrote is deleted: other files in the cache folder are left and counted (see
    `hmrec cache ls`). Clearing every entry asks first when stdin is a terminal (--yes skips the
    question); in a script or a pipe it does not ask."""
    from hmrec_cli import console
    from hmrec_cli.cache import Cache, check_name
    from hmrec_cli.integrity import remove_orphans, store_temps

    store = Cache(cache)
    if method is not None:
        check_name(method)
    if method is None and not orphans and not yes and _interactive() and cache.is_dir():
        if not typer.confirm(f"Delete every cached entry in {cache}?", default=False):
            console.out.print("nothing removed", highlight=False)
            return
    removed = 0 if orphans else store.clear(method)
    temps = store.sweep() + len(remove_orphans(store_temps(data)))
    foreign = len(store.foreign())
    if json:
        console.emit_json({"removed_entries": removed, "removed_temp_files": temps, "kept_foreign": foreign})
        return
    plural = "s" if foreign != 1 else ""
    kept = (
        f"; left {foreign} file{plural} or folder{plural} hmrec did not write (see `hmrec cache ls`)" if foreign else ""
    )
    console.out.print(
        f"removed {console.plural(removed, 'cached entry', 'cached entries')} and {console.plural(temps, 'file')} that interrupted runs left{kept}",
        highlight=False,
        soft_wrap=True,
    )
