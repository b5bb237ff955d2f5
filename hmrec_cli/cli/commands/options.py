"""Options every command spells the same way."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar

import typer

from hmrec_cli.atomic import refuse_inside as refuse_inside  # where it lives: the Python API refuses the same paths
from hmrec_cli.params import MAX_K as MAX_K  # the bounds commands declare
from hmrec_cli.params import MAX_SEED as MAX_SEED
from hmrec_cli.params import MAX_WEEKS as MAX_WEEKS
from hmrec_cli.pipeline import settings as pipeline_settings
from hmrec_cli.pipeline.settings import Auto, Sources

if TYPE_CHECKING:  # numpy and pyarrow load only when a command takes --shard
    from hmrec_cli.pipeline.shards import Shard

DataDir = Annotated[
    Path,
    typer.Option(
        "--data", envvar="HMREC_DATA", help="The store folder written by `hmrec data ingest`.", show_default=True
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
CacheDir = Annotated[
    Path,
    typer.Option(
        "--cache", envvar="HMREC_CACHE", help="Folder for cached candidate sets and models.", show_default=True
    ),
]


def checked_customers_file(path: Path | None) -> Path | None:
    """A `--customers FILE` that exists, checked before any work (its contents are read later)."""
    if path is not None and not path.is_file():
        from hmrec_cli.errors import InputError

        raise InputError(f"--customers {path}: no such file (expected one customer id per line)")
    return path


def checked_seed(seed: int) -> int:
    """Refuse a seed no generator takes (a callback, so the help's option column stays narrow)."""
    if not 0 <= seed <= MAX_SEED:
        raise typer.BadParameter(f"{seed}: expected 0 to {MAX_SEED}")
    return seed


Seed = Annotated[
    int, typer.Option(help=f"Random seed, 0 to {MAX_SEED}; equal seeds give equal results.", callback=checked_seed)
]
Week = Annotated[
    str, typer.Option(help="Target week: last (= 0), a number of weeks back, its first day YYYY-MM-DD, or next.")
]
PluginOptions = Annotated[
    list[str],
    typer.Option("--option", "-o", help="A plugin parameter as key=value (repeatable); see `hmrec plugins show NAME`."),
]
Device = Annotated[str, typer.Option(help="Where trained models run: auto (CUDA when present), cpu or cuda.")]
Resume = Annotated[
    bool, typer.Option("--resume", help="Continue an interrupted training run from its last finished epoch.")
]
Customers = Annotated[
    str,
    typer.Option(
        help="buyers (the week's buyers; default when the week has purchases), all (default for next), or a file of customer ids."
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Recompute even when cached.")]
ConfigFile = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        envvar="HMREC_CONFIG",
        show_default=False,
        help="Project config file of plugin parameters ([plugins.NAME] tables; default ./hmrec.toml when it exists); -o overrides it.",
    ),
]
DropBought = Annotated[
    str,
    typer.Option(
        help="Leave out candidates the customer bought before: auto (when under 1% of the last 28 days' purchases repeat an earlier one, "
        "a log where nobody buys the same item twice), yes or no. Each source's set is refilled from its retriever's next candidates.",
    ),
]
Candidates = Annotated[
    Optional[str],
    typer.Option(
        show_default=False,
        help="Comma-separated retrievers whose candidates are ranked (their scores and ranks become features), or auto: fit the built-in pool "
        "for the training weeks and keep the sources that clearly add to their fusion there. Default: [pipeline] candidates in the config, "
        "else the four sources auto starts from (see `hmrec config show`).",
    ),
]
TrainWeeks = Annotated[
    str,
    typer.Option(
        help="Earlier weeks a ranker learns from (din and lgbm train on all but the newest, which picks their epoch or trees; merge tunes on all), "
        "or auto: back until the weeks hold -o min_positives purchases (default 900,000, about 4 weeks of H&M's full log; at most 26 weeks).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
ShardText = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        show_default=False,
        help="I/N: only the customers of shard I of N (0 <= I < N), by a stable hash of their original id; "
        "what is fitted for the week is the same for every shard, so the N outputs together are the unsharded one.",
    ),
]


Engine = Annotated[
    str,
    typer.Option(
        help="local (this process) or ray: the customers in --shards shards as Ray tasks (docs/scale-out.md)."
    ),
]
Address = Annotated[
    Optional[str],
    typer.Option(
        help="With --engine ray: the cluster, auto or ray://HOST:PORT; default a local Ray on this machine.",
        show_default=False,
    ),
]
ShardCount = Annotated[int, typer.Option(help="With --engine ray: how many shards (Ray tasks).", min=1, max=100_000)]


def checked_engine(engine: str, shard: str | None) -> bool:
    """True for `--engine ray`; an unknown engine, or `--shard` beside ray (which runs every shard), exits 2."""
    from hmrec_cli.errors import InputError

    if engine not in ("local", "ray"):
        raise InputError(f"--engine {engine}: expected local or ray")
    if engine == "ray" and shard is not None:
        raise InputError("--shard goes with --engine local (one shard here); --engine ray runs all --shards itself")
    return engine == "ray"


def parsed_shard(text: str | None) -> Shard | None:
    """`--shard I/N` as the typed `Shard` every stage takes (None: all customers); bad text exits 2."""
    if text is None:
        return None
    from hmrec_cli.pipeline.shards import Shard

    return Shard.parse(text)


Workers = Annotated[
    int,
    typer.Option(
        help="Train the neural models data-parallel in this many local processes (torch DDP: gloo on the CPU, NCCL on CUDA); "
        "under torchrun leave it out (docs/scale-out.md).",
        min=1,
        max=1024,
    ),
]

Command = TypeVar("Command", bound=Callable)
GIVEN = {"COMMANDLINE": "flag", "ENVIRONMENT": "env"}  # click's parameter sources, as `config show` names them


def setting(ctx: typer.Context, settings, name: str, value: object) -> tuple[object, str]:
    """An option's value and where it comes from: the flag or its environment variable as given,
    else the config's `[pipeline]` value, else `value`, the built-in default (the same order as plugin
    parameters: what the user typed beats the file, the file beats the default)."""
    source = ctx.get_parameter_source(name)
    if source is not None and source.name in GIVEN:
        return value, GIVEN[source.name]
    if name in settings.pipeline:
        return settings.pipeline[name], "config"
    return value, "default"


@dataclass(frozen=True)
class InForce:
    """The shared pipeline options a command runs with, typed: each the flag (or its environment
    variable) as given, else hmrec.toml's `[pipeline]` value, else the built-in default."""

    data: Path = Path("hm")
    cache: Path = Path("cache")
    candidates: Sources | None = None  # None: the default sources (`sources`)
    ranker: str | None = None
    train_weeks: int | Auto = 4
    k: int = 100
    drop_bought: pipeline_settings.DropBought = pipeline_settings.DropBought.AUTO
    shard: Shard | None = None  # --shard I/N: only that shard's customers

    def sources(self) -> Sources:
        """`--candidates` as given, else the sources `auto` starts from that the store at `data` can feed."""
        if self.candidates is not None:
            return self.candidates
        from hmrec_cli.data.store import Store
        from hmrec_cli.pipeline.source_choice import default_sources

        return tuple(default_sources(Store.open(self.data)))


PARSERS = {  # what the shared options become; the others stay as typer parsed them
    "candidates": lambda value: None if value is None else pipeline_settings.sources(value),
    "train_weeks": pipeline_settings.train_weeks,
    "drop_bought": pipeline_settings.drop_bought,
    "shard": parsed_shard,
}


def in_force(ctx: typer.Context, settings, **values: object) -> InForce:
    """The options named in `values` (as typer parsed them) resolved by `setting` and typed by
    `PARSERS`: the one preamble of rank, submit, tune, evaluate and recommend. A bad value is an
    InputError naming the option."""
    resolved = {name: setting(ctx, settings, name, value)[0] for name, value in values.items()}
    return InForce(**{name: PARSERS.get(name, lambda v: v)(value) for name, value in resolved.items()})


def as_words(sources: Sources) -> str:
    """Sources as `--candidates` takes them."""
    return sources if isinstance(sources, Auto) else ",".join(sources)


def reports_input_errors(command: Command) -> Command:
    """Wrap a command so an InputError becomes one line on stderr and exit code 2 (not a traceback)."""
    from hmrec_cli.errors import InputError

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as error:
            print(f"hmrec: error: {error}", file=sys.stderr)
            raise typer.Exit(2) from None

    return run  # type: ignore[return-value]
