"""`hmrec config show`: the pipeline settings and plugin parameters in force, and where each comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmrec_cli.cli.commands.options import (
    MAX_K,
    CacheDir,
    Candidates,
    ConfigFile,
    DataDir,
    DropBought,
    Json,
    reports_input_errors,
    setting,
)

config_app = typer.Typer(help="Show the project config (hmrec.toml) in force.", no_args_is_help=True)


@config_app.command("show")
@reports_input_errors
def config_show(
    ctx: typer.Context,
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    candidates: Candidates = None,
    ranker: Annotated[
        str, typer.Option(help="Ranker name (rank's default; submit ranks only with a ranker given or configured).")
    ] = "din",
    train_weeks: Annotated[str, typer.Option(help="Earlier weeks a ranker learns from, or auto.")] = "4",
    k: Annotated[int, typer.Option(help="Candidates per customer from each source.", min=1, max=MAX_K)] = 100,
    drop_bought: DropBought = "auto",
    config: ConfigFile = None,
    json: Json = False,
) -> None:
    """Each [pipeline] setting as rank, submit, evaluate and recall resolve it (flag > environment variable >
    config > built-in default), given the same flags, and each plugin parameter the config sets.
    -o on a command overrides a config parameter."""
    from hmrec_cli import console, project_config
    from hmrec_cli.pipeline.source_choice import default_sources

    settings = project_config.load(config)
    given = {
        "data": data,
        "cache": cache,
        "candidates": candidates,
        "ranker": ranker,
        "train_weeks": train_weeks,
        "drop_bought": drop_bought,
        "k": k,
    }
    pipeline = []
    for name, value in given.items():
        value, source = setting(ctx, settings, name, value)
        if value is None:  # candidates: the built-in default is computed, not a literal
            value = ",".join(default_sources())
        pipeline.append({"name": name, "value": str(value) if isinstance(value, Path) else value, "source": source})
    parameters = [
        {"plugin": plugin, "name": key, "value": value, "source": "config"}
        for plugin, table in settings.plugins.items()
        for key, value in table.items()
    ]
    if json:
        console.emit_json({"config": str(settings.path), "pipeline": pipeline, "parameters": parameters})
        return
    state = (
        ""
        if settings.path.exists()
        else " (no such file: every value is a flag's, an environment variable's or the default)"
    )
    console.show(
        f"Pipeline, from {settings.path}{state}",
        ["setting", "value", "from"],
        [[p["name"], p["value"], p["source"]] for p in pipeline],
    )
    if parameters:
        console.show(
            "Plugin parameters set in the config",
            ["plugin", "parameter", "value", "from"],
            [list(p.values()) for p in parameters],
        )
    else:
        console.out.print(
            "no plugin parameters set in the config: every plugin runs with its defaults (`hmrec plugins show NAME`)",
            highlight=False,
            soft_wrap=True,
        )
