"""The project config file: the pipeline's settings and per-plugin parameter values that every command reads.

    [pipeline]
    data = "hm"
    candidates = "popular,repurchase,itemcf"
    ranker = "din"

    [plugins.itemcf]
    normalisation = "cosine"
    window_days = 21

It is `hmrec.toml` in the current folder, or the file named by `--config` / `HMREC_CONFIG`. A
`[pipeline]` value stands in for the option of the same name where the command line and the
environment give none (flag > environment variable > this file > built-in default), so `rank`,
`submit` and `evaluate` need not repeat the same flags; its paths are relative to the file's folder. A
parameter's value is `-o key=value` if given, else this file's, else the plugin's default; the
cache keys hash the resolved values, so editing the file never serves a stale entry. The whole
file is checked when read (TOML syntax, plugin names, parameter names, types and `valid` ranges):
a bad one is one line naming the file and the key, exit 2. `hmrec tune` writes it: the tuned
table is replaced, everything else in the file (other tables, comments) is kept as written, and
the new file is written beside the old one and renamed over it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from hmrec_cli.atomic import atomic_file
from hmrec_cli.errors import InputError
from hmrec_cli.params import MAX_K, MAX_WEEKS, declared, fits
from hmrec_cli.plugin_api import option_values, parse_params

DEFAULT = Path("hmrec.toml")
ENV = "HMREC_CONFIG"


@dataclass(frozen=True)
class ProjectConfig:
    """The checked contents of a config file: plugin name -> parameter name -> typed value."""

    path: Path = DEFAULT
    plugins: dict[str, dict[str, object]] = field(default_factory=dict)
    pipeline: dict[str, object] = field(default_factory=dict)

    def values(self, plugin: str) -> dict[str, object]:
        return dict(self.plugins.get(plugin, {}))

    def params(self, params_type: type, plugin: str, options: typing.Sequence[str] = ()):
        """The plugin's parameters: its defaults, overridden by this file, overridden by `-o` options."""
        return parse_params(params_type, list(options), plugin, base=self.values(plugin))

    def sources(self, params_type: type, plugin: str, options: typing.Sequence[str] = ()) -> dict[str, str]:
        """Where each parameter's value comes from: `-o`, this file's name, or `default`."""
        given = option_values(params_type, list(options), plugin)
        mine = self.values(plugin)
        return {
            f.name: "-o" if f.name in given else str(self.path) if f.name in mine else "default"
            for f in dataclasses.fields(params_type)
        }


def load(given: Path | None, must_exist: bool = True) -> ProjectConfig:
    """Read and check the config file: `given` (`--config`, or HMREC_CONFIG through the option's
    envvar) or ./hmrec.toml. An absent hmrec.toml is an empty config; a named file that does not
    exist is refused (a misspelt name must not silently mean "defaults"), unless `must_exist` is
    False (`hmrec tune` creates it)."""
    path = given if given is not None else DEFAULT
    if not path.exists():
        if given is not None and must_exist:
            raise InputError(f"--config {path}: no such file")
        return ProjectConfig(path)
    if path.is_dir():
        raise InputError(f"--config {path}: is a folder; name the config file, e.g. {path / DEFAULT.name}")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text (a TOML file is expected)") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: not valid TOML ({error})") from None
    return ProjectConfig(path, checked(path, document), checked_pipeline(path, document.get("pipeline", {})))


def checked(path: Path, document: dict) -> dict[str, dict[str, object]]:
    """The `[plugins.NAME]` tables, each value typed and inside its `valid` range; anything else
    is refused naming the file and the key."""
    from hmrec_cli.registry import discover, suggestion

    for key in document:
        if key not in ("plugins", "pipeline"):
            raise InputError(
                f"{path}: {key}: unknown key; the file holds a [pipeline] table and [plugins.NAME] tables of plugin parameters"
            )
    tables = document.get("plugins", {})
    if not isinstance(tables, dict):
        raise InputError(f"{path}: plugins: expected [plugins.NAME] tables")
    installed = {p.name: p for p in discover()}
    restricted = bool(os.environ.get("HMREC_LOAD_PLUGINS"))
    out = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise InputError(f"{path}: plugins.{name}: expected a table [plugins.{name}] of parameters")
        if name not in installed:
            if restricted:  # HMREC_LOAD_PLUGINS left it out on purpose
                continue
            raise InputError(f"{path}: [plugins.{name}]: no plugin named {name!r}{suggestion(name)}")
        out[name] = typed_table(path, name, installed[name].load().Params, table)
    return out


DROP_BOUGHT = ("auto", "yes", "no")
PIPELINE = {  # key -> what it must be, as the error says it
    "data": "a folder name in quotes (the store)",
    "cache": "a folder name in quotes",
    "candidates": 'comma-separated retriever names in quotes, or "auto"',
    "ranker": "a ranker's name in quotes",
    "train_weeks": f'a whole number of weeks, 1 to {MAX_WEEKS}, or "auto"',
    "drop_bought": '"auto", "yes" or "no"',
    "k": f"a whole number, 1 to {MAX_K}",
}


def checked_pipeline(path: Path, table: object) -> dict[str, object]:
    """The `[pipeline]` table, each value checked as its flag would be (data and cache made relative
    to the file's folder); a bad or unknown key is one line `FILE: pipeline.KEY = VALUE: why`."""
    from hmrec_cli.registry import discover, suggestion

    if not isinstance(table, dict):
        raise InputError(f"{path}: pipeline: expected a [pipeline] table of settings")
    restricted = bool(os.environ.get("HMREC_LOAD_PLUGINS"))
    installed = {kind: {p.name for p in discover(kind)} for kind in ("retriever", "ranker")}
    out: dict[str, object] = {}
    for key, value in table.items():
        shown = toml_value(value) if isinstance(value, (str, bool, int, float)) else repr(value)

        def refuse(why: str) -> typing.NoReturn:
            raise InputError(f"{path}: pipeline.{key} = {shown}: {why}")  # noqa: B023  (raised at once, inside the loop)

        if key not in PIPELINE:
            refuse(f"unknown key; [pipeline] takes {', '.join(PIPELINE)}")
        whole = isinstance(value, int) and not isinstance(value, bool)
        if key in ("data", "cache"):
            if not isinstance(value, str) or not value.strip():
                refuse(f"expected {PIPELINE[key]}")
            out[key] = path.parent / value
        elif key in ("candidates", "ranker"):
            names = [n.strip() for n in value.split(",")] if isinstance(value, str) else []
            kind = "retriever" if key == "candidates" else "ranker"
            if not names or not all(names) or (key == "ranker" and len(names) > 1):
                refuse(f"expected {PIPELINE[key]}")
            if names != ["auto"] or key == "ranker":
                unknown = [n for n in names if n not in installed[kind]]
                if unknown and not restricted:
                    refuse(f"no {kind} named {unknown[0]!r}{suggestion(unknown[0], kind)}")
            out[key] = ",".join(names)
        elif key == "train_weeks":
            if not (value == "auto" or (whole and 1 <= value <= MAX_WEEKS)):
                refuse(f"expected {PIPELINE[key]}")
            out[key] = value
        elif key == "drop_bought":
            if value not in DROP_BOUGHT:
                refuse(f"expected {PIPELINE[key]}")
            out[key] = value
        else:  # k
            if not (whole and 1 <= value <= MAX_K):
                refuse(f"expected {PIPELINE[key]}")
            out[key] = value
    return out


def typed_table(path: Path, plugin: str, params_type: type, table: dict) -> dict[str, object]:
    import difflib

    hints = typing.get_type_hints(params_type)
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    out = {}
    for key, value in table.items():
        where = f"{path}: plugins.{plugin}.{key}"
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise InputError(f"{where}: {plugin} has no such parameter{hint} (parameters: {', '.join(sorted(fields))})")
        kind = hints[key]
        if not fits(value, kind):
            shown = toml_value(value) if isinstance(value, (str, bool, int, float)) else repr(value)
            raise InputError(f"{where} = {shown}: expected {KINDS.get(kind, kind.__name__)}")
        if kind is float:
            value = float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{where} = {value}: {plugin} needs a finite number")
        valid = declared(fields[key]).valid
        if valid is not None and not valid.allows(value):
            raise InputError(f"{where} = {toml_value(value)}: {plugin}'s {key} must be {valid.describe()}")
        out[key] = value
    return out


def toml_value(value: object) -> str:
    """A str, bool, int or finite float as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are TOML basic-string escapes
    return repr(value)


KINDS = {int: "a whole number", float: "a number", str: "a string in quotes", bool: "true or false"}
HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")


def write_table(path: Path, plugin: str, values: dict[str, object], comment: str = "") -> None:
    """Set `[plugins.PLUGIN]` of the file at `path` to `values` (creating the file when missing),
    keeping every other table and comment as written; atomically (temp file, then rename)."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    expected = tomllib.loads(old) if old else {}
    expected.setdefault("plugins", {})[plugin] = values
    block = (
        ([f"# {comment}"] if comment else [])
        + [f"[plugins.{plugin}]"]
        + [f"{k} = {toml_value(v)}" for k, v in values.items()]
    )
    text = replaced_block(old, f"plugins.{plugin}", block)
    if tomllib.loads(text) != expected:  # the table was spelt in a way the line edit cannot follow
        text = (
            "\n\n".join(
                "\n".join([f"[plugins.{name}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()])
                for name, table in expected["plugins"].items()
            )
            + "\n"
        )
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def replaced_block(text: str, table: str, block: list[str]) -> str:
    """`text` with the table `[table]` (its header, its lines, and the comments just above it)
    replaced by `block`, or with `block` appended when the table is not there."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if HEADER.match(line)]
    mine = [i for i in starts if HEADER.match(lines[i]).group(1).replace(" ", "") == table]
    if not mine:
        kept = "\n".join(lines).rstrip()
        return (kept + "\n\n" if kept else "") + "\n".join(block) + "\n"
    begin = mine[0]
    end = next((i for i in starts if i > begin), len(lines))
    while end > begin + 1 and (lines[end - 1].lstrip().startswith("#") or not lines[end - 1].strip()):
        end -= 1  # comments just above the next table belong to it
    while begin > 0 and lines[begin - 1].lstrip().startswith("#"):
        begin -= 1
    rest = lines[end:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    after = ["", *rest] if rest else []
    return "\n".join([*lines[:begin], *block, *after]).rstrip() + "\n"
