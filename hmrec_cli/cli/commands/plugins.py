"""`hmrec plugins`: what is installed, and each plugin's parameters."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from hmrec_cli.cli.commands.options import ConfigFile, Json, PluginOptions, reports_input_errors

plugins_app = typer.Typer(
    help="List installed retrievers and rankers, or show one's parameters.", invoke_without_command=True
)


@plugins_app.callback()
@reports_input_errors
def plugins_list(ctx: typer.Context, json: Json = False) -> None:
    """Every plugin: kind, name, version, distribution, summary ("broken: ..." when it fails to import)."""
    if ctx.invoked_subcommand is not None:
        return
    from hmrec_cli import console
    from hmrec_cli.registry import PluginBroken, discover

    rows = []
    for info in discover():
        try:
            cls = info.load()
            version, summary = cls.version, cls.summary
        except PluginBroken as broken:
            version, summary = "?", f"broken: {broken.reason}"
        rows.append(
            {
                "kind": info.kind,
                "name": info.name,
                "version": version,
                "distribution": f"{info.distribution} {info.version}",
                "summary": summary,
            }
        )
    if json:
        console.emit_json({"plugins": rows})
        return
    console.show(
        "Installed plugins", ["kind", "name", "version", "distribution", "summary"], [list(r.values()) for r in rows]
    )


@plugins_app.command("show")
@reports_input_errors
def plugins_show(
    name: Annotated[str, typer.Argument(help="Plugin name, e.g. popular.")],
    option: PluginOptions = [],
    config: ConfigFile = None,
    json: Json = False,
) -> None:
    """A plugin's parameters: name, type, value in force and where it comes from (-o, the config
    file or the default), allowed values, search range of `hmrec tune`, and what it does."""
    from hmrec_cli import console, project_config
    from hmrec_cli.plugin_api import param_docs
    from hmrec_cli.registry import discover

    settings = project_config.load(config)
    matches = [p for p in discover() if p.name == name]
    if not matches:
        from hmrec_cli.errors import InputError
        from hmrec_cli.registry import suggestion

        raise InputError(f"no plugin named {name!r}{suggestion(name)}")
    info = matches[0]
    cls = info.load()
    values = dataclasses.asdict(settings.params(cls.Params, name, option))
    sources = settings.sources(cls.Params, name, option)
    params = [{**p, "value": values[p["name"]], "source": sources[p["name"]]} for p in param_docs(cls.Params)]
    if json:
        console.emit_json(
            {
                "kind": info.kind,
                "name": name,
                "version": cls.version,
                "distribution": f"{info.distribution} {info.version}",
                "summary": cls.summary,
                "config": str(settings.path),
                "parameters": params,
            }
        )
        return
    console.out.print(
        f"[bold]{name}[/] {cls.version} ({info.kind}, from {info.distribution} {info.version}): {cls.summary}",
        highlight=False,
    )
    console.show(
        "Parameters (-o key=value; `hmrec tune` searches the ranges)",
        ["name", "type", "value", "from", "allowed", "search range", "doc"],
        [[p["name"], p["type"], str(p["value"]), _origin(p), p["valid"], p["range"], p["doc"]] for p in params],
    )


def _origin(parameter: dict) -> str:
    """`default`, or where the value came from with the default it replaced: `-o (default 50)`."""
    if parameter["source"] == "default":
        return "default"
    return f"{parameter['source']} (default {parameter['default']})"
