"""`hmrec report`: a self-contained HTML page about a week, from what the cache holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmrec_cli.cli.commands.options import CacheDir, DataDir, Json, Seed, Week, refuse_inside, reports_input_errors


@reports_input_errors
def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    week: Week = "last",
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    seed: Seed = 0,
    json: Json = False,
) -> None:
    """Write one HTML page (tables, inline SVG figures) of the week's cached candidate sets and their
    recall@K curves, its rankings and training curves, a few sample customers (chosen with --seed) with
    their recent purchases, their 12 and the sources behind each, and the back-test MAP@12 per week."""
    from hmrec_cli import console
    from hmrec_cli.atomic import atomic_file
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.splits import resolve_week
    from hmrec_cli.data.store import Store
    from hmrec_cli.errors import InputError
    from hmrec_cli.reports import plots
    from hmrec_cli.reports.html_report import build

    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out {out}: expected an .html file name")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the HTML file to write")
    refuse_inside(out, {"store": data, "cache": cache})
    plots.require_matplotlib("hmrec report")  # before any work
    store = Store.open(data)
    target = resolve_week(week, store.first_date, store.last_date)
    page = build(store, Cache(cache), target, seed)
    with atomic_file(out) as tmp:
        tmp.write_text(page)
    if json:
        console.emit_json({"report": str(out), "week": target.start.isoformat(), "bytes": len(page.encode())})
        return
    console.out.print(f"wrote {out} ({len(page.encode()) / 1024:,.0f} KiB): week {target}", highlight=False)
