"""`hmrec submit`: a Kaggle submission for the week after the data, from candidate sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmrec_cli.commands.options import CacheDir, DataDir, PluginOptions, Quiet, Seed


def submit(
    candidates: Annotated[str, typer.Option(help="Comma-separated methods, in order of trust: each customer gets the first's best, then the next's, ...")],
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    out: Annotated[Path, typer.Option(help="Submission file to write.")] = Path("submission.csv"),
    option: PluginOptions = [],
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Fit on all data, predict 12 articles for every customer for week next, validate, write the CSV."""
    from hmrec_cli import console
    from hmrec_cli.submission import build_submission

    with console.progress_bar(quiet) as report:
        rows = build_submission(data, cache, [n.strip() for n in candidates.split(",") if n.strip()], option, seed, out, report)
    console.out.print(f"wrote {out}: {rows:,} customers x 12 articles (validated)")
