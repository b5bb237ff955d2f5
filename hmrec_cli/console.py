"""Terminal output shared by the commands: result tables on stdout, progress and warnings on stderr,
and `--json` as exactly one JSON object on stdout."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)


_warning_sinks: list = []  # where `warn` sends its messages instead of stderr, innermost last (`warnings_to`)


def warn(message: str) -> None:
    if _warning_sinks:
        _warning_sinks[-1](message)
        return
    err.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


@contextmanager
def warnings_to(sink) -> Iterator[None]:
    """Send every `warn` inside the block to `sink(message)` instead of stderr: the Python API
    (`hmrec_cli.api`) turns them into Python warnings, which a notebook shows and filters."""
    _warning_sinks.append(sink)
    try:
        yield
    finally:
        _warning_sinks.pop()


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


def reproduce(*words: str, data: Path | None = None, cache: Path | None = None) -> str:
    """`hmrec WORDS` with the --data and --cache this command used (from its command line or from
    HMREC_DATA / HMREC_CACHE) where they are not the defaults, shell-quoted: a hint that can be
    pasted as it is, in this shell or another."""
    import shlex

    parts = ["hmrec", *words]
    for flag, value, default in (("--data", data, "hm"), ("--cache", cache, "cache")):
        if value is not None and Path(value) != Path(default):
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


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
        t.add_row(*(fmt(v, seconds=name == "seconds") for v, name in zip(row, columns, strict=True)))
    return t


def fmt(value: object, seconds: bool = False) -> str:
    """The one rule for numbers shown: seconds with one decimal (a "seconds" column), figures (MAP,
    recall, shares, losses) with four below 10 and one from 10 up, counts with thousands separators."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:,.1f}" if seconds or abs(value) >= 10 else f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 customer`, `2 customers` (`words` for an irregular plural), with thousands separators."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"


@contextmanager
def stages(quiet: bool) -> Iterator:
    """A spinner naming the current stage (in a log file: a plain line every PLAIN_EVERY seconds),
    with each finished stage's seconds printed on stderr."""
    if quiet:
        yield lambda stage: None
        return
    current: list = [None, 0.0]
    with (
        err.status("starting")
        if err.is_terminal
        else PlainProgress(lambda line: print(line, file=err.file, flush=True), PLAIN_EVERY) as status
    ):

        def advance(stage: str) -> None:
            now = time.perf_counter()
            if current[0]:
                err.print(f"  {current[0]:<14} {now - current[1]:6.1f} s", highlight=False)
            current[:] = [stage, now]
            if isinstance(status, PlainProgress):  # in a log: a line every PLAIN_EVERY seconds of a long stage
                status.report(f"{stage} ...", 0, 0)
            else:
                status.update(f"{stage} ...")

        yield advance
        advance("")


PLAIN_EVERY = 10.0  # seconds between plain progress lines when stderr is not a terminal


@contextmanager
def progress_bar(quiet: bool, every: float | None = None) -> Iterator:
    """Progress on stderr driven by callbacks (stage, done, total): a bar on a terminal; in a log
    file (stderr not a terminal) one plain line every `every` seconds, so a long step is never
    silent and a log gets no redraw noise."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet:
        yield lambda stage, done, total: None
        return
    if not err.is_terminal:
        with PlainProgress(
            lambda line: print(line, file=err.file, flush=True), PLAIN_EVERY if every is None else every
        ) as plain:
            yield plain.report
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        yield report


class PlainProgress:
    """Plain progress lines for a log: `[elapsed] stage  done/total (share)  rate/s  ETA`, written by
    a timer thread every `every` seconds, so a step that reports rarely still shows it is alive,
    and a step shorter than that (or one that fails at once) writes nothing. Rate and ETA count from when the current count began
    (a new total, or a count that went back, starts a new one)."""

    def __init__(self, write, every: float):
        import threading

        self._write, self._every = write, every
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True, name="hmrec-progress")
        self._began = time.perf_counter()
        self._state: tuple[str, int, int] | None = None
        self._count_began = (self._began, 0)
        self._last_report = self._began

    def __enter__(self) -> PlainProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            if self._state is None or total != self._state[2] or done < self._state[1]:
                self._count_began = (time.perf_counter(), done)
            self._state = (stage, done, total)
            self._last_report = time.perf_counter()

    def _tick(self) -> None:
        while not self._stop.wait(self._every):
            if self._state is not None:
                self._write(self.line())

    def line(self) -> str:
        with self._lock:
            stage, done, total = self._state
            started, at_start = self._count_began
        now = time.perf_counter()
        parts = [f"[{_clock(now - self._began)}] {stage}"]
        if total:
            parts.append(f"{done:,}/{total:,} ({100 * done / total:.0f}%)")
            rate = (done - at_start) / max(now - started, 1e-9)
            if done >= total:
                parts.append(f"done; {_clock(now - self._last_report)} in what follows")
            elif rate > 0:
                parts.append(f"{rate:,.0f}/s")
                parts.append(f"ETA {_clock((total - done) / rate)}")
        return "  ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )
