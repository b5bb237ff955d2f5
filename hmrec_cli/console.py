"""Terminal output shared by the commands: result tables on stdout, progress and warnings on stderr,
and `--json` as exactly one JSON object on stdout."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def emit_json(obj: dict) -> None:
    """Print one JSON object (NaN becomes null, so every JSON parser accepts it)."""
    out.file.write(json.dumps(_finite(obj), indent=2, default=str) + "\n")


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def show(title: str, columns: list[str], rows: list[list[object]]) -> None:
    """Print a bold heading line, then a table (the heading is not squeezed to the table's width)."""
    out.print(f"[bold]{title}[/]", highlight=False)
    out.print(_table(columns, rows))


def _table(columns: list[str], rows: list[list[object]]) -> Table:
    t = Table(header_style="bold", box=box.SIMPLE_HEAD)
    for i, name in enumerate(columns):
        numeric = bool(rows) and all(isinstance(r[i], (int, float)) for r in rows if r[i] != "")
        t.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    return t


def fmt(value: object) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@contextmanager
def stages(quiet: bool) -> Iterator:
    """A spinner naming the current stage, with each finished stage's seconds printed on stderr."""
    if quiet:
        yield lambda stage: None
        return
    current: list = [None, 0.0]
    with err.status("starting") as status:

        def advance(stage: str) -> None:
            now = time.perf_counter()
            if current[0]:
                err.print(f"  {current[0]:<14} {now - current[1]:6.1f} s", highlight=False)
            current[:] = [stage, now]
            status.update(f"{stage} ...")

        yield advance
        advance("")


@contextmanager
def progress_bar(quiet: bool) -> Iterator:
    """A progress bar on stderr driven by callbacks (stage, done, total); none when stderr is not a
    terminal (a log file gets no redraw noise, and an error stays one line)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet or not err.is_terminal:
        yield lambda stage, done, total: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        yield report
