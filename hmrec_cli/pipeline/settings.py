"""The pipeline options every command shares, as typed values: what `--train-weeks`, `--candidates`
and `--drop-bought` may be and mean, parsed in one place so rank, submit, tune, evaluate and
recommend (and the Python API) take the same values and refuse the same ones in the same words;
and `PluginParams`, what `-o` and hmrec.toml's plugin tables resolve to (`plugin_params.resolve`).

Each parser takes what a user gives (the command line's text, hmrec.toml's value, a Python
argument) and returns the typed value, or raises InputError naming the option.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from hmrec_cli.errors import InputError


class Word(str, Enum):
    """An option's fixed word: compares, prints and hashes (in a cache key's JSON) as the word itself."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Auto(Word):
    """`auto`: the pipeline decides from the data (see the option that takes it)."""

    AUTO = "auto"


AUTO = Auto.AUTO


class DropBought(Word):
    """`--drop-bought`: leave out of a week's candidates what each customer bought before (`bought`)."""

    AUTO = "auto"  # when the recent purchases hardly ever repeat one
    YES = "yes"
    NO = "no"


TrainWeeks = int | Auto  # a number of earlier weeks, or back until enough purchases (`ranking.auto_train_weeks`)
Sources = tuple[str, ...] | Auto  # retrievers by name, or the pool chosen on the training weeks (`source_choice`)


def train_weeks(value: object, option: str = "--train-weeks") -> int | Auto:
    """A whole number of weeks, 1 or more, or auto (its upper bound is the data's: `ranking.plan`)."""
    if isinstance(value, Auto) or (isinstance(value, str) and value.strip().lower() == "auto"):
        return AUTO
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        raise InputError(f"{option} {value}: expected a number of weeks or auto")
    if int(text) < 1:
        raise InputError(f"{option} {value}: need at least one earlier week to learn from")
    return int(text)


def sources(value: str | Sequence[str], option: str = "--candidates") -> tuple[str, ...] | Auto:
    """Retriever names (comma-separated text or a sequence), or auto; at least one, none twice."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(n).strip() for n in names if str(n).strip())
    if names == ("auto",):
        return AUTO
    if not names:
        raise InputError(f"{option}: name at least one retriever, e.g. popular,repurchase")
    if len(set(names)) != len(names):
        raise InputError(f"{option} {','.join(names)}: a source is named twice")
    return names


def drop_bought(value: object, option: str = "--drop-bought") -> DropBought:
    """auto, yes or no."""
    try:
        return DropBought(str(value).strip().lower()) if not isinstance(value, DropBought) else value
    except ValueError:
        raise InputError(f"{option} {value}: expected one of {', '.join(d.value for d in DropBought)}") from None


@dataclass(frozen=True)
class PluginParams:
    """Each plugin's parameters in force (defaults, then hmrec.toml, then `-o`), by plugin name."""

    params: Mapping[str, object] = field(default_factory=dict)  # plugin name -> its Params
    given: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # plugin -> what -o set (name -> value)
    min_positives: int | None = None  # `-o min_positives=N`: --train-weeks auto's threshold (`ranking`)

    def of(self, plugin: str, params_type: type):
        """The plugin's parameters: as resolved, else its defaults (a plugin nobody configured)."""
        return self.params[plugin] if plugin in self.params else params_type()

    def options(self, plugin: str) -> list[str]:
        """What -o set for the plugin, as `key=value` text (a manifest records it; evaluate repeats it)."""
        return as_options(self.given.get(plugin, {}))

    def trying(self, plugin: str, params_type: type, values: dict) -> PluginParams:
        """These parameters with `values` (a tuning trial's) over the plugin's, checked as -o is."""
        from hmrec_cli.plugin_api import check_params  # polars: not at CLI start-up

        tried = check_params(dataclasses.replace(self.of(plugin, params_type), **values), plugin)
        return dataclasses.replace(self, params={**self.params, plugin: tried})


def as_options(values: Mapping[str, object]) -> list[str]:
    """Parameter values as `-o` text (numbers written as repr writes them, which parse back exactly)."""
    from hmrec_cli.project_config import toml_value  # polars: not at CLI start-up

    return [f"{k}={v if isinstance(v, str) else toml_value(v)}" for k, v in values.items()]
