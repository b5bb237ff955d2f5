"""`hmrec submit`: a Kaggle submission for the week after the data, from candidate sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.cli.commands.options import (
    Address,
    CacheDir,
    ConfigFile,
    DataDir,
    Device,
    DropBought,
    Engine,
    Json,
    PluginOptions,
    Quiet,
    Resume,
    Seed,
    ShardCount,
    ShardText,
    TrainWeeks,
    Workers,
    as_words,
    checked_customers_file,
    checked_engine,
    in_force,
)
from hmrec_cli.cli.commands.workers import fan_out
from hmrec_cli.toolkit.data_parallel import leads


def submit(
    ctx: typer.Context,
    candidates: Annotated[
        Optional[str],
        typer.Option(
            help="Comma-separated methods. Without --ranker, in order of trust: each customer gets the first's best, then the next's, ... "
            "Default: [pipeline] candidates in the config, else the four sources --candidates auto starts from.",
            show_default=False,
        ),
    ] = None,
    ranker: Annotated[
        Optional[str],
        typer.Option(
            help="Rank the union of the candidates with this ranker (e.g. din, merge), trained on the weeks before; default: [pipeline] ranker in the config, else none.",
            show_default=False,
        ),
    ] = None,
    train_weeks: TrainWeeks = "4",
    drop_bought: DropBought = "auto",
    device: Device = "auto",
    resume: Resume = False,
    workers: Workers = 1,
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    out: Annotated[Path, typer.Option(help="Submission file to write.")] = Path("submission.csv"),
    customers: Annotated[
        Optional[Path],
        typer.Option(
            "--customers",
            help="Only the customers of this file (one id per line, a customer_id header allowed); default: every customer.",
            show_default=False,
        ),
    ] = None,
    shard: ShardText = None,
    merge: Annotated[
        list[Path],
        typer.Option(
            "--merge",
            help="Join these shard parts (written with --shard I/N) into one validated submission instead of fitting (repeatable).",
            show_default=False,
        ),
    ] = [],
    shards_dir: Annotated[
        Optional[Path],
        typer.Option(help="Join every .csv part in this folder, as --merge does.", show_default=False),
    ] = None,
    engine: Engine = "local",
    address: Address = None,
    shards: ShardCount = 4,
    option: PluginOptions = [],
    config: ConfigFile = None,
    seed: Seed = 0,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Fit on all data, predict 12 articles for every customer for week next, validate, write the CSV.
    Options not given come from the config's [pipeline] table (see `hmrec config show`)."""
    fan_out(ctx, workers, device)
    from hmrec_cli import console, project_config
    from hmrec_cli.cli.commands.rank import kept_merge
    from hmrec_cli.data.store import Store
    from hmrec_cli.pipeline.manifests import RankingManifest
    from hmrec_cli.pipeline.plugin_params import named, resolve
    from hmrec_cli.pipeline.submission import RankWith, build_submission

    if merge or shards_dir is not None:
        _merge(data, merge, shards_dir, out, json, quiet)
        return
    on_ray = checked_engine(engine, shard)
    settings = project_config.load(config)
    forced = in_force(
        ctx,
        settings,
        data=data,
        cache=cache,
        candidates=candidates,
        ranker=ranker,
        train_weeks=train_weeks,
        drop_bought=drop_bought,
        shard=shard,
    )
    sources = forced.sources()
    plugins = resolve(option, settings, named(Store.open(forced.data), sources), forced.ranker, forced.train_weeks)
    checked_customers_file(customers)
    command = {
        "name": "hmrec submit",
        "candidates": as_words(sources),
        "ranker": forced.ranker,
        "train_weeks": forced.train_weeks,
        "drop_bought": forced.drop_bought,
        "data": str(forced.data),
        "option": option,
        "seed": seed,
    }
    k = settings.pipeline.get("k", RankWith.k)
    rank_with = RankWith(forced.ranker, forced.train_weeks, k) if forced.ranker else None
    kwargs = dict(
        data=forced.data,
        cache_dir=forced.cache,
        methods=sources,
        plugins=plugins,
        seed=seed,
        rank_with=rank_with,
        command=command,
        device=device,
        resume=resume,
        drop_bought=forced.drop_bought,
        customers=customers,
    )
    if on_ray:
        _on_ray(kwargs, out, shards, address, json, quiet)
        return
    with console.progress_bar(quiet or json) as report:
        written = build_submission(**kwargs, out=out, on_progress=report, shard=forced.shard)
    if not leads():  # rank 0 wrote the submission and reports it
        return
    if json:
        console.emit_json(
            {
                "path": str(out),
                "customers": written.rows,
                "articles_per_customer": written.per_customer,
                "validated": True,
                "command": command,
            }
        )
        return
    console.out.print(
        f"wrote {out}: {console.plural(written.rows, 'customer')} x {written.per_customer} articles (validated)"
    )
    if written.ranking is not None and (kept := kept_merge(forced.ranker, RankingManifest.of(written.ranking))):
        console.out.print(kept, highlight=False, markup=False, soft_wrap=True)


def _merge(data: Path, merge: list[Path], shards_dir: Path | None, out: Path, json: bool, quiet: bool) -> None:
    """`--merge PART... | --shards-dir DIR`: the shards' parts as one validated submission."""
    from hmrec_cli import console
    from hmrec_cli.pipeline.shard_merge import shard_files, write_merged

    parts = list(merge) + (shard_files(shards_dir) if shards_dir is not None else [])
    command = {"name": "hmrec submit --merge", "parts": [str(p) for p in parts], "data": str(data)}
    rows = write_merged(data, parts, out, command)
    if json:
        console.emit_json({"path": str(out), "customers": rows, "parts": len(parts), "validated": True})
    elif not quiet:
        console.out.print(f"wrote {out}: {console.plural(rows, 'customer')} from {len(parts)} parts (validated)")


def _on_ray(kwargs: dict, out: Path, shards: int, address: str | None, json: bool, quiet: bool) -> None:
    """`--engine ray`: the shared fits here, the shards as Ray tasks, one progress line per shard."""
    from hmrec_cli import console
    from hmrec_cli.cli.commands.shard_lines import shard_lines
    from hmrec_cli.pipeline.ray_engine import submit_on_ray

    with console.progress_bar(quiet or json) as report, shard_lines(quiet or json) as on_shard:
        rows = submit_on_ray(kwargs, out, shards, address, report, on_shard)
    if json:
        console.emit_json({"path": str(out), "customers": rows, "shards": shards, "engine": "ray", "validated": True})
    elif not quiet:
        console.out.print(f"wrote {out}: {console.plural(rows, 'customer')} from {shards} Ray shards (validated)")
