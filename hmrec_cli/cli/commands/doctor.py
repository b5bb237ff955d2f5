"""`hmrec doctor`: versions, devices, threads, memory, disk, the store and the plugins, in one report."""

from __future__ import annotations

from pathlib import Path

import typer

from hmrec_cli.cli.commands.options import CacheDir, DataDir, Json, reports_input_errors


@reports_input_errors
def doctor(data: DataDir = Path("hm"), cache: CacheDir = Path("cache"), json: Json = False) -> None:
    """Report versions, devices, threads, memory, disk, the store and the plugins; exit 1 when something is broken.

    Broken: a required library does not import, a plugin does not load, the store is damaged, or the
    cache folder is read-only or has under 1 GiB free."""
    from hmrec_cli import console
    from hmrec_cli.cli.doctor import as_json, examine

    findings = examine(data, cache)
    broken = [f for f in findings if f.state == "broken"]
    if json:
        console.emit_json(as_json(findings))
    else:
        mark = {"ok": "[green]ok[/]", "note": "[yellow]note[/]", "broken": "[red]broken[/]"}
        console.show(
            "hmrec doctor",
            ["section", "check", "found", ""],
            [[f.section, f.name, f.value, mark[f.state]] for f in findings],
        )
        console.out.print(f"{len(broken)} broken" if broken else "nothing broken", highlight=False)
    if broken:
        raise typer.Exit(1)
