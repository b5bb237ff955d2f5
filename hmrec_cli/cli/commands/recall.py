"""`hmrec recall`: run one retriever for a week and cache its candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmrec_cli.cli.commands.options import (
    MAX_K,
    CacheDir,
    ConfigFile,
    Customers,
    DataDir,
    Device,
    DropBought,
    Force,
    Json,
    PluginOptions,
    Quiet,
    Resume,
    Seed,
    ShardText,
    Week,
    Workers,
    in_force,
)
from hmrec_cli.cli.commands.workers import fan_out


def recall(
    ctx: typer.Context,
    method: Annotated[str, typer.Option(help="Retriever name (see `hmrec plugins`).")],
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    week: Week = "last",
    k: Annotated[int, typer.Option(help="Candidates per customer.", min=1, max=MAX_K)] = 100,
    option: PluginOptions = [],
    config: ConfigFile = None,
    customers: Customers = "auto",
    shard: ShardText = None,
    drop_bought: DropBought = "auto",
    device: Device = "auto",
    resume: Resume = False,
    workers: Workers = 1,
    force: Force = False,
    seed: Seed = 0,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Fit a retriever on the history before the week and write its top-k candidates to the cache.
    --data, --cache, --k and --drop-bought not given come from the config's [pipeline] table."""
    fan_out(ctx, workers, device)
    from hmrec_cli import console, project_config
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.splits import resolve_week
    from hmrec_cli.data.store import Store
    from hmrec_cli.pipeline.manifests import CandidateManifest
    from hmrec_cli.pipeline.plugin_params import resolve
    from hmrec_cli.pipeline.recall import Request, run

    settings = project_config.load(config)
    forced = in_force(ctx, settings, data=data, cache=cache, k=k, drop_bought=drop_bought, shard=shard)
    store = Store.open(forced.data)
    target = resolve_week(week, store.first_date, store.last_date)
    plugins = resolve(option, settings, (method,))
    request = Request(method, target, forced.k, plugins, customers, forced.drop_bought, forced.shard)
    with console.progress_bar(quiet or json) as report:
        entry = run(
            store,
            Cache(forced.cache),
            request,
            seed=seed,
            force=force,
            on_progress=report,
            device=device,
            resume=resume,
        )
    m = CandidateManifest.of(entry)
    if json:
        console.emit_json({"name": entry.label, "path": str(entry.path), "cached": entry.cached, **m.as_dict()})
        return
    console.out.print(
        f"{entry.label}: {console.plural(m.rows, 'row')} for {console.plural(m.customer_count, 'customer')} ({m.customers}{', shard ' + m.shard if m.shard else ''}), "
        f"week {target}, {entry.provenance()}",
        highlight=False,
    )
    if m.figures is not None and m.figures["buyers"] == 0:
        console.out.print(
            f"0 buyers: nobody bought anything in the week {target}, so the set has no score", highlight=False
        )
    elif m.figures is not None:
        f, best = m.figures, m.oracle_figures
        names = {
            **{f"recall@{n}": f"recall@{n}" for n in (12, 50, 100, "all")},
            "map@12": "MAP@12",
            "candidates_per_customer": "candidates per customer",
        }
        rows = [[label, f[n], *([best[n]] if best else [])] for n, label in names.items()]
        columns = ["figure", "this set", *(["oracle (ceiling)"] if best else [])]
        console.show("On the week's buyers (MAP@12: of the set's own order)", columns, rows)
