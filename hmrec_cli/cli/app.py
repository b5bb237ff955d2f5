"""The `hmrec` command line. Heavy libraries (polars, torch, ...) are imported inside commands, so
`hmrec --help` starts fast and never loads a model framework."""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager

import typer
from typer.core import TyperGroup

from hmrec_cli import __version__
from hmrec_cli.cli.commands.cache import cache_app
from hmrec_cli.cli.commands.config import config_app
from hmrec_cli.cli.commands.data import data_app
from hmrec_cli.cli.commands.doctor import doctor
from hmrec_cli.cli.commands.evaluate import evaluate
from hmrec_cli.cli.commands.export import export
from hmrec_cli.cli.commands.options import reports_input_errors
from hmrec_cli.cli.commands.plugins import plugins_app
from hmrec_cli.cli.commands.rank import rank
from hmrec_cli.cli.commands.recall import recall
from hmrec_cli.cli.commands.recommend import recommend
from hmrec_cli.cli.commands.report import report
from hmrec_cli.cli.commands.submit import submit
from hmrec_cli.cli.commands.tune import tune


class _OneLineUsage(TyperGroup):
    """The root group: a usage error anywhere below it (a bad option value, an unknown option, a
    missing one) ends as the same one line `hmrec: error: ...` and exit 2 as bad input, not
    Typer's boxed usage text. On the group rather than in `main()`, so in-process runners get it too.
    It also prepares every help below it once, where the click commands are built (`_plain_help`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _plain_help(self, self.context_settings.get("help_option_names", ["--help"]))

    def get_params(self, ctx):
        """The root's options, with the ones Typer adds after building it (--install-completion)."""
        params = super().get_params(ctx)
        _flags_take_no_value(params)
        return params

    def make_context(self, *args, **kwargs):
        with _usage_in_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _usage_in_one_line():
            return super().invoke(ctx)


def _plain_help(command, help_names: list[str]) -> None:
    """Help as written, for this command, its options and every subcommand: texts escaped (Typer
    reads them as rich markup, which swallowed `[plugins.NAME]`), and flags (`--json`, `--help`)
    shown without the `<bool>` value they do not take."""
    from rich.markup import escape

    options = [*command.params, command.get_help_option(typer.Context(command, help_option_names=help_names))]
    for holder in (command, *options):
        for field in ("help", "short_help", "epilog"):
            if getattr(holder, field, None):
                setattr(holder, field, escape(getattr(holder, field)))
    _flags_take_no_value(options)
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub, help_names)


def _flags_take_no_value(options) -> None:
    for option in options:
        if getattr(option, "is_flag", False) and option.metavar is None:
            option.metavar = ""


@contextmanager
def _usage_in_one_line():
    """Click's usage errors below this point as `hmrec: error: ...` and exit 2."""
    try:  # typer ships its own copy of click since 0.2x; older ones ran on click
        from typer._click.exceptions import UsageError
    except ImportError:
        from click.exceptions import UsageError

    try:
        yield
    except UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `hmrec` or `hmrec data` alone: the help, as Typer prints it
            raise
        print(f"hmrec: error: {usage_message(error)}", file=sys.stderr)
        raise typer.Exit(2) from None


def usage_message(error) -> str:
    """One line for a usage error: the option and value the user typed and the rule it broke, then
    the help that lists what the command takes."""
    from pydantic import ValidationError

    message = error.format_message()
    cause, param = error.__cause__, getattr(error, "param", None)
    if isinstance(cause, ValidationError) and param is not None and cause.errors():
        first = cause.errors()[0]
        name = max(param.opts, key=len) if getattr(param, "opts", None) else param.name
        typed, limits = str(first.get("input")), first.get("ctx") or {}
        if _is_nan(typed):
            message = f"{name} {typed}: not a number"
        elif first["type"] in ("greater_than_equal", "less_than_equal"):
            bound = limits.get("ge", limits.get("le"))
            message = f"{name} {typed}: must be {bound:g} or {'more' if 'ge' in limits else 'less'}"
        else:
            reason = first["msg"].removeprefix("Value error, ")
            message = f"{name}: {reason}" if typed in reason else f"{name} {typed}: {reason[0].lower()}{reason[1:]}"
    message = message[:1].lower() + message[1:].rstrip(".")
    ctx = getattr(error, "ctx", None)
    return message + (f" (see `{ctx.command_path} --help`)" if ctx is not None else "")


def _is_nan(text: str) -> bool:
    try:
        return math.isnan(float(text))
    except ValueError:
        return False


app = typer.Typer(
    name="hmrec",
    cls=_OneLineUsage,
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
app.command()(reports_input_errors(recommend))
app.command()(reports_input_errors(export))
app.command()(reports_input_errors(tune))
app.add_typer(plugins_app, name="plugins")
app.add_typer(cache_app, name="cache")
app.add_typer(config_app, name="config")
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
    try:
        app(prog_name="hmrec")
    except SystemExit as done:
        from hmrec_cli.toolkit.data_parallel import leave

        leave(done.code)  # a rank of --workers or torchrun ends here, without the teardown that aborted
        raise


if __name__ == "__main__":
    main()
