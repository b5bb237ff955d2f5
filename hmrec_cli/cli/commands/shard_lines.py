"""One progress line per shard while `--engine ray` runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def shard_lines(quiet: bool) -> Iterator[Callable]:
    """Yield `on_shard(shard, state)`, which keeps one rich line per shard (`shard 2/8: done in 41.3 s`) on stderr."""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from hmrec_cli import console

    with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=console.err, disable=quiet) as lines:
        shown: dict[int, object] = {}

        def on_shard(shard, state: str) -> None:
            if shard.index not in shown:
                shown[shard.index] = lines.add_task(f"shard {shard}: {state}", total=None)
            else:
                lines.update(shown[shard.index], description=f"shard {shard}: {state}")

        yield on_shard
