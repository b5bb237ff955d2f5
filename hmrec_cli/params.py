"""What a value a user sets may be: the upper bounds that options, `-o` values and the `[pipeline]`
table all obey, and how a plugin declares a parameter: a field of its frozen `Params` dataclass
made by `param`, with the values a user may set and where `hmrec tune` searches, as objects:

    epochs: int = param(8, "passes over the training weeks", valid=Between(1, 1000), search=LogUniform(2, 32))

`valid` is what `-o` and hmrec.toml may set (a value outside is refused with `describe()`'s words
before any work); `search` is where tune looks for good values, narrower and inside `valid`. The
registry refuses a plugin whose declarations contradict themselves (`problems`), so a default or a
search range outside `valid` never reaches a user. No dependencies: the CLI declares its options
with these bounds without loading polars at start-up, and `hmrec plugins` reads Params without torch.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from abc import ABC, abstractmethod

if typing.TYPE_CHECKING:
    import numpy as np

MAX_WEEKS = 520  # the most weeks a count of weeks may name: ten years, more than a store holds, still a valid date
MAX_K = 65_535  # the most candidates per customer a --k takes
MAX_SEED = 2**32 - 1  # what every generator hmrec seeds accepts
MAX_WIDTH = 4096  # the widest layer Widths allows by default: bounds a model's memory
MAX_DAYS = 3660  # the longest window or half life a parameter takes: ten years, more than a store holds
TYPES = (int, float, str, bool)  # what `-o key=value` and hmrec.toml can give


class Validator(ABC):
    """The values a parameter accepts."""

    @abstractmethod
    def allows(self, value) -> bool: ...

    @abstractmethod
    def describe(self) -> str:
        """The allowed values in words, as an error message ends: "must be <describe()>"."""


@dataclasses.dataclass(frozen=True)
class AtLeast(Validator):
    low: float

    def allows(self, value) -> bool:
        return value >= self.low

    def describe(self) -> str:
        return f"{self.low} or more"


@dataclasses.dataclass(frozen=True)
class Above(Validator):
    low: float

    def allows(self, value) -> bool:
        return value > self.low

    def describe(self) -> str:
        return f"more than {self.low}"


@dataclasses.dataclass(frozen=True)
class AtMost(Validator):
    high: float

    def allows(self, value) -> bool:
        return value <= self.high

    def describe(self) -> str:
        return f"{self.high} or less"


@dataclasses.dataclass(frozen=True)
class Between(Validator):
    """From `low` to `high`, each end included unless declared open."""

    low: float
    high: float
    open_low: bool = False
    open_high: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"{self!r}: low must be below high")

    def allows(self, value) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def describe(self) -> str:
        if not (self.open_low or self.open_high):
            return f"from {self.low} to {self.high}"
        low = f"more than {self.low}" if self.open_low else f"at least {self.low}"
        high = f"less than {self.high}" if self.open_high else f"at most {self.high}"
        return f"{low} and {high}"


class OneOf(Validator):
    """One of the listed choices (texts)."""

    def __init__(self, *choices: str):
        if len(set(choices)) < 2:
            raise ValueError(f"OneOf{choices!r}: needs two or more distinct choices")
        self.choices = choices

    def __repr__(self) -> str:
        return f"OneOf{self.choices!r}"

    def allows(self, value) -> bool:
        return value in self.choices

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


@dataclasses.dataclass(frozen=True)
class Widths(Validator):
    """Layer widths of an MLP as text, comma-separated ("256,128"), each from 1 to `max_width`."""

    max_width: int = MAX_WIDTH

    def allows(self, value) -> bool:
        return isinstance(value, str) and all(
            w.strip().isdigit() and 0 < int(w) <= self.max_width for w in value.split(",")
        )

    def describe(self) -> str:
        return f"layer widths from 1 to {self.max_width} separated by commas, like 256,128"


class Search(ABC):
    """Where tune draws a parameter's values from: a value per unit coordinate u in [0, 1], so one
    uniform draw per parameter from the seeded generator fixes a trial."""

    @abstractmethod
    def value(self, u: float, kind: type = float): ...

    @abstractmethod
    def ends(self) -> tuple:
        """The values that must be valid for every draw to be: the bounds, or every choice."""

    @abstractmethod
    def describe(self) -> str: ...

    def sample(self, rng: np.random.Generator, kind: type = float):
        """One draw, as tune makes it: a number is rounded for an int parameter, else kept to 3
        significant digits (a config a person can read)."""
        return self.value(rng.random(), kind)


@dataclasses.dataclass(frozen=True)
class Interval(Search):
    """Numbers from `low` to `high`, spread by `scale` (the subclasses)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"{self!r}: low must be below high")

    @abstractmethod
    def scale(self, u: float) -> float: ...

    @abstractmethod
    def unscale(self, x: float) -> float: ...

    def value(self, u: float, kind: type = float):
        x = self.scale(u)
        if kind is int:
            return int(round(x))
        return min(max(float(f"{x:.3g}"), float(self.low)), float(self.high))

    def unit(self, value) -> float:
        """The unit coordinate of `value`, clipped to [0, 1] (a start outside maps to its edge)."""
        return min(max(self.unscale(value), 0.0), 1.0)

    def ends(self) -> tuple:
        return (self.low, self.high)


@dataclasses.dataclass(frozen=True)
class Uniform(Interval):
    """Numbers spread evenly from `low` to `high`."""

    def scale(self, u: float) -> float:
        return self.low + u * (self.high - self.low)

    def unscale(self, x: float) -> float:
        return (x - self.low) / (self.high - self.low)

    def describe(self) -> str:
        return f"{self.low} to {self.high}"


@dataclasses.dataclass(frozen=True)
class LogUniform(Interval):
    """Numbers spread evenly in their logarithm: for what acts multiplicatively (learning rates,
    regularisation, windows and half lives in days, neighbour and factor counts)."""

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ValueError(f"{self!r}: needs 0 < low < high")

    def scale(self, u: float) -> float:
        return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))

    def unscale(self, x: float) -> float:
        return (math.log(max(x, self.low)) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))

    def describe(self) -> str:
        return f"{self.low} to {self.high} (log)"


class Choice(Search):
    """One of the listed options, each as likely (texts, or False and True)."""

    def __init__(self, *options):
        if len(set(options)) < 2:
            raise ValueError(f"Choice{options!r}: needs two or more distinct options")
        self.options = options

    def __repr__(self) -> str:
        return f"Choice{self.options!r}"

    def value(self, u: float, kind: type = float):
        return self.options[min(int(u * len(self.options)), len(self.options) - 1)]

    def ends(self) -> tuple:
        return self.options

    def describe(self) -> str:
        return ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in self.options)


@dataclasses.dataclass(frozen=True)
class Param:
    """A parameter's declaration: what it does (with its unit), its allowed values, its search."""

    doc: str
    valid: Validator | None = None
    search: Search | None = None


_KEY = "hmrec.param"  # where `param` keeps the declaration on the dataclass field
UNDECLARED = Param("")


def param(default, doc: str, *, valid: Validator | None = None, search: Search | None = None):
    """A Params field with its default, a one-line doc (what it does, in which unit), the values a
    user may set and, optionally, where `hmrec tune` searches."""
    return dataclasses.field(default=default, metadata={_KEY: Param(doc, valid, search)})


def declared(f: dataclasses.Field) -> Param:
    """The declaration `param` made for a field (an empty one for a plain field)."""
    return f.metadata.get(_KEY, UNDECLARED)


def fits(value, kind: type) -> bool:
    """Whether `value` is of the parameter type `kind` (a bool is not an int; an int is a float)."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def problems(params_type: type) -> list[str]:
    """What contradicts itself in a Params dataclass: a field not made by `param`, a type the CLI
    cannot parse, a default or a search range outside `valid`, a search of the wrong type."""
    hints = typing.get_type_hints(params_type)
    found = []
    for f in dataclasses.fields(params_type):
        spec, kind = declared(f), hints[f.name]
        if spec is UNDECLARED:
            found.append(f"{f.name}: declare it with param(default, doc, valid=..., search=...)")
        elif not spec.doc.strip():
            found.append(f"{f.name}: give it a one-line doc (what it does, in which unit)")
        elif kind not in TYPES:
            found.append(f"{f.name}: type {kind} is not one of int, float, str, bool")
        elif not fits(f.default, kind):
            found.append(f"{f.name}: default {f.default!r} is not of type {kind.__name__}")
        elif spec.valid is not None and not spec.valid.allows(f.default):
            found.append(f"{f.name}: default {f.default!r} is not {spec.valid.describe()}")
        elif spec.search is not None:
            found += search_problems(f.name, kind, spec)
    return found


def search_problems(name: str, kind: type, spec: Param) -> list[str]:
    """A search of numbers for a text, options of another type, or ends that `valid` refuses."""
    search = spec.search
    if (isinstance(search, Interval) and kind not in (int, float)) or not all(fits(v, kind) for v in search.ends()):
        return [f"{name}: search {search!r} does not fit type {kind.__name__}"]
    if spec.valid is not None and not all(spec.valid.allows(v) for v in search.ends()):
        return [f"{name}: search {search.describe()} reaches outside valid ({spec.valid.describe()})"]
    return []
