"""Where `hmrec tune` searches: the `"range"` each plugin declares on its Params fields, and a
seeded sampler over them.

A range is `(low, high)` (uniform), `(low, high, "log")` (log-uniform: rates, regularisation,
windows in days) or a tuple of choices. It is narrower than `valid` (what a user may set): a
search range says where good values are worth looking for, `valid` what is accepted at all.

The sampler draws the first half of the trials uniformly over the ranges (exploring), and each
later one either uniformly (half the time) or as a small step from the best point so far in the
ranges' unit coordinates (refining). Everything is drawn from one `numpy` generator seeded by
`--seed`, and the scores that steer it are deterministic too, so a seed fixes every trial.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

import numpy as np

from hmrec_cli.errors import InputError
from hmrec_cli.plugin_api import LOG, allowed, describe_valid

STEP = 0.15  # standard deviation of a refining step, as a share of each range's (log) width
REDRAWS = 20  # tries to propose a point not proposed before (small integer and choice ranges repeat)


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its name and type, and either bounds or choices."""

    name: str
    kind: type  # int, float, str or bool
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple = ()

    def value(self, u: float):
        """The value at unit coordinate u in [0, 1] (choices: the u-th share of them)."""
        if self.choices:
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        x = (
            math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
            if self.log
            else self.low + u * (self.high - self.low)
        )
        if self.kind is int:
            return int(round(x))
        return min(max(float(f"{x:.3g}"), self.low), self.high)  # 3 significant digits: a config a person can read

    def unit(self, value) -> float:
        """The unit coordinate of a value (clipped to the range: a start outside it maps to its edge)."""
        if self.choices:
            return (self.choices.index(value) + 0.5) / len(self.choices) if value in self.choices else 0.5
        if self.log:
            u = (math.log(max(value, self.low)) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (value - self.low) / (self.high - self.low) if self.high > self.low else 0.0
        return min(max(u, 0.0), 1.0)


def dimensions(params_type: type, only: tuple[str, ...] = (), pinned: tuple[str, ...] = ()) -> list[Dimension]:
    """The searched parameters of a Params dataclass: those with a `"range"`, restricted to `only`
    when given, less the `pinned` ones (set with -o on the command line)."""
    hints = typing.get_type_hints(params_type)
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    for name in only:
        if name not in fields:
            raise InputError(f"--params {name}: no such parameter (parameters: {', '.join(fields)})")
        if "range" not in fields[name].metadata:
            searchable = ", ".join(n for n, f in fields.items() if "range" in f.metadata) or "none"
            raise InputError(f"--params {name}: declares no search range (searchable: {searchable})")
    out = []
    for name, f in fields.items():
        if "range" not in f.metadata or (only and name not in only) or name in pinned:
            continue
        out.append(dimension(name, hints[name], f.metadata["range"]))
    return out


def dimension(name: str, kind: type, search) -> Dimension:
    if all(isinstance(v, (str, bool)) for v in search):
        return Dimension(name, kind, choices=tuple(search))
    low, high, *scale = search
    return Dimension(name, kind, float(low), float(high), log=scale == [LOG])


def range_problems(params_type: type) -> list[str]:
    """What is wrong with a Params' declared search ranges: malformed, empty, or reaching outside
    the field's `valid` values (a tuner must never propose a value the plugin refuses)."""
    hints = typing.get_type_hints(params_type)
    problems = []
    for f in dataclasses.fields(params_type):
        if "range" not in f.metadata:
            continue
        search, kind = f.metadata["range"], hints[f.name]
        choices = all(isinstance(v, (str, bool)) for v in search)
        if choices:
            ends = list(search)
            if not ends or any(type(v) is not kind for v in ends):
                problems.append(f"{f.name}: choices {search} are not all of type {kind.__name__}")
                continue
        else:
            if len(search) not in (2, 3) or (len(search) == 3 and search[2] != LOG) or kind not in (int, float):
                problems.append(f"{f.name}: range {search} is not (low, high) or (low, high, 'log') of a number")
                continue
            low, high = search[:2]
            if not low < high or (len(search) == 3 and low <= 0):
                problems.append(f"{f.name}: range {search} is empty (or log-scaled from 0 or below)")
                continue
            ends = [low, high]
        if "valid" in f.metadata and not all(allowed(v, f.metadata["valid"]) for v in ends):
            problems.append(
                f"{f.name}: search range {search} reaches outside valid ({describe_valid(f.metadata['valid'])})"
            )
    return problems


def propose(
    dims: list[Dimension], tried: list[tuple[dict, float | None]], trials: int, rng: np.random.Generator
) -> dict:
    """The next point to try, given the points tried so far and their scores (None: failed)."""
    scored = [(point, score) for point, score in tried if score is not None]
    seen = [point for point, _ in tried]
    point = {}
    for _ in range(REDRAWS):
        if not scored or len(tried) < trials // 2 or rng.random() < 0.5:
            point = {d.name: d.value(rng.random()) for d in dims}
        else:
            best = max(scored, key=lambda pair: pair[1])[0]  # the first of equals: never a later tie
            point = step(dims, best, rng)
        if point not in seen:
            return point
    return point


def step(dims: list[Dimension], start: dict, rng: np.random.Generator) -> dict:
    """A small random move from `start`: each parameter moves with probability 1/2 (at least one does);
    a number by a Gaussian step in unit coordinates, a choice to another choice."""
    moving = rng.random(len(dims)) < 0.5
    moving[rng.integers(len(dims))] = True
    out = dict(start)
    for d, move in zip(dims, moving, strict=True):
        if not move:
            continue
        if d.choices:
            others = [c for c in d.choices if c != start[d.name]] or list(d.choices)
            out[d.name] = others[rng.integers(len(others))]
        else:
            out[d.name] = d.value(min(max(d.unit(start[d.name]) + rng.normal(0.0, STEP), 0.0), 1.0))
    return out
