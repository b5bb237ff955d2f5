"""`--workers N`: the command again, in N processes under torch's elastic launcher
(`hmrec_cli.toolkit.data_parallel`); inside a launched worker, joining its process group."""

from __future__ import annotations

import shlex

import typer


def fan_out(ctx: typer.Context, workers: int, device: str) -> None:
    """Return to run the command here: as the only process, or as one rank of a launched group
    (joined now). With `workers` > 1 in a plain run, run it in that many processes and exit with
    their code (rank 0 printed the output)."""
    from hmrec_cli.toolkit import data_parallel

    data_parallel.check_workers(workers)
    if data_parallel.under_launcher():
        data_parallel.join(device)
        return
    if workers > 1:
        words = typed_words(ctx)
        shown = shlex.join(["hmrec", *words, "--workers", str(workers)])
        raise typer.Exit(data_parallel.launch(words, workers, shown))


def typed_words(ctx: typer.Context) -> list[str]:
    """The command and the options the user gave on the command line (not --workers), as words
    a worker's command line takes; the rest (environment, config, defaults) the workers find as
    this process did."""
    words = ctx.command_path.split()[1:]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if param.name == "workers" or source is None or source.name != "COMMANDLINE":
            continue
        value, flag = ctx.params[param.name], max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            if value:
                words.append(flag)
            elif param.secondary_opts:
                words.append(max(param.secondary_opts, key=len))
            continue
        for one in value if isinstance(value, (list, tuple)) else [value]:
            words += [flag, str(one)]
    return words
