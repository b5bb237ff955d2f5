"""`-o` options and hmrec.toml's `[plugins.NAME]` tables resolved once, at the edge, into each
plugin's typed Params: the commands and the Python API build a `PluginParams` before calling the
core (a `settings.PluginParams`), so rank, submit, recall, tune and the API refuse a bad option in the same words (exit 2),
and the core (recall, ranking, submission, tuning) never reads option text.
"""

from __future__ import annotations

from collections.abc import Sequence

from hmrec_cli.errors import InputError
from hmrec_cli.pipeline import source_choice
from hmrec_cli.pipeline.settings import AUTO, Auto, PluginParams, Sources, TrainWeeks
from hmrec_cli.plugin_api import option_values
from hmrec_cli.project_config import ProjectConfig
from hmrec_cli.registry import find


def named(store, sources: Sources) -> tuple[str, ...]:
    """The sources a request's options go to: those named, or the pool `--candidates auto` fits."""
    return source_choice.offered(store, source_choice.POLICY.pool) if isinstance(sources, Auto) else tuple(sources)


def resolve(
    options: Sequence[str],
    config: ProjectConfig,
    sources: tuple[str, ...],
    ranker: str | None = None,
    train_weeks: TrainWeeks | None = None,
) -> PluginParams:
    """Route `-o` (`route_options`), take out `--train-weeks auto`'s min_positives, and parse each
    plugin's over hmrec.toml's values; an unknown plugin, parameter or bad value is refused here."""
    options = tuple(options)
    min_positives = None
    if ranker is not None:
        min_positives, options = _min_positives(options, ranker, train_weeks)
    kinds = {**({ranker: "ranker"} if ranker is not None else {}), **dict.fromkeys(sources, "retriever")}
    types = {name: find(kind, name).load().Params for name, kind in kinds.items()}  # unknown names fail first
    mine, theirs = route_options(options, sources, ranker)
    routed = {**({ranker: mine} if ranker is not None else {}), **theirs}
    params, given = {}, {}
    for name, texts in routed.items():
        given[name] = option_values(types[name], list(texts), name)
        params[name] = config.params(types[name], name, texts)
    return PluginParams(params, given, min_positives)


def _min_positives(options: tuple[str, ...], ranker: str, train_weeks: TrainWeeks | None):
    """`-o min_positives=N` (the last one wins) and the options without it; it goes with auto only."""
    names = ("min_positives", f"{ranker}:min_positives")
    given = [o for o in options if o.partition("=")[0].strip().replace("-", "_") in names]
    if not given:
        return None, options
    if train_weeks is not AUTO:
        raise InputError(f"-o {given[0]}: min_positives goes with --train-weeks auto")
    text = given[-1].partition("=")[2].strip()
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"-o {given[-1]}: min_positives must be a whole number of purchases, 1 or more")
    return int(text), tuple(o for o in options if o not in given)


def route_options(options, sources, ranker: str | None = None) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Split `-o` values between a ranker and its sources, the same way for every command:
    `name:key=value` goes to that plugin and a name that is neither the ranker nor a source is
    refused; a plain `key=value` goes to the ranker, or, without one, to every source."""
    mine: list[str] = []
    theirs: dict[str, list[str]] = {s: [] for s in sources}
    for option in options:
        prefix, sep, rest = option.partition(":")
        if sep and "=" not in prefix:
            if ranker is not None and prefix == ranker:
                mine.append(rest)
            elif prefix in theirs:
                theirs[prefix].append(rest)
            elif ranker is not None:
                raise InputError(
                    f"-o {option}: {prefix} is neither the ranker nor one of the sources (ranker: {ranker}; sources: {', '.join(sources)})"
                )
            else:
                raise InputError(f"-o {option}: {prefix} is not one of the methods ({', '.join(sources)})")
        elif ranker is not None:
            mine.append(option)
        else:
            for plugin_options in theirs.values():
                plugin_options.append(option)
    return tuple(mine), {s: tuple(v) for s, v in theirs.items()}
