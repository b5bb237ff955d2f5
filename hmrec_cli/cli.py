"""The `hmrec` command line. Heavy libraries (polars, torch, ...) are imported inside commands, so
`hmrec --help` starts fast and never loads a model framework."""

from __future__ import annotations

import typer

from hmrec_cli import __version__
from hmrec_cli.commands.data import data_app
from hmrec_cli.commands.doctor import doctor
from hmrec_cli.commands.cache import cache_app
from hmrec_cli.commands.evaluate import evaluate
from hmrec_cli.commands.options import reports_input_errors
from hmrec_cli.commands.plugins import plugins_app
from hmrec_cli.commands.rank import rank
from hmrec_cli.commands.recall import recall
from hmrec_cli.commands.report import report
from hmrec_cli.commands.submit import submit
from hmrec_cli.commands.tune import tune

app = typer.Typer(
    name="hmrec",
    help="Predict what each customer buys next week from H&M-shaped purchase data, and measure it (MAP@12).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")
app.command()(reports_input_errors(recall))
app.command()(reports_input_errors(rank))
app.command()(reports_input_errors(evaluate))
app.command()(reports_input_errors(submit))
app.command()(reports_input_errors(tune))
app.add_typer(plugins_app, name="plugins")
app.add_typer(cache_app, name="cache")
app.command()(doctor)
app.command()(report)


def _version(value: bool) -> None:
    if value:
        print(f"hmrec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Two-stage recommender: retrieval plugins propose candidates, a ranker orders them."""


def main() -> None:
    """Console-script entry point: exit 0 ok, 2 bad input or usage, 1 unexpected failure."""
    app(prog_name="hmrec")


if __name__ == "__main__":
    main()
