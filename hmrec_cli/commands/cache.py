"""`hmrec cache ls|clear`: see and remove cached candidate sets and rankings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.commands.options import CacheDir, Json, reports_input_errors

cache_app = typer.Typer(help="List or clear cached candidate sets and rankings.", no_args_is_help=True)


@cache_app.command("ls")
@reports_input_errors
def cache_ls(cache: CacheDir = Path("cache"), json: Json = False) -> None:
    """Every cached entry, newest first: kind, method@key, week, k, customers, rows, seconds."""
    from hmrec_cli import console
    from hmrec_cli.cache import Cache

    entries = Cache(cache).entries()
    if json:
        console.emit_json({"entries": [{"name": e.label, "path": str(e.path), **e.manifest} for e in entries]})
        return
    rows = [[e.manifest["kind"], e.label, e.manifest["week"], e.manifest.get("k", ""), e.manifest.get("customers", ""), e.manifest.get("rows", 0), e.manifest.get("seconds", 0.0)] for e in entries]
    console.show(f"Cache {cache}", ["kind", "name", "week", "k", "customers", "rows", "seconds"], rows)


@cache_app.command("clear")
@reports_input_errors
def cache_clear(
    cache: CacheDir = Path("cache"),
    method: Annotated[Optional[str], typer.Option(help="Only this method's entries.", show_default=False)] = None,
) -> None:
    """Delete cached entries (all, or one method's), with the model checkpoints of cleared rankings."""
    from hmrec_cli import console
    from hmrec_cli.cache import Cache

    removed = Cache(cache).clear(method)
    console.out.print(f"removed {removed} cached entries")
