"""Where `hmrec tune` searches: the `search` each plugin declares on its Params fields
(`hmrec_cli.params`: `Uniform`, `LogUniform`, `Choice`), and a seeded sampler over them.

A search is narrower than `valid` (what a user may set): it says where good values are worth
looking for, `valid` what is accepted at all; the registry refuses a search reaching outside.

The sampler draws the first half of the trials uniformly over the searches (exploring), and each
later one either uniformly (half the time) or as a small step from the best point so far in the
searches' unit coordinates (refining). Everything is drawn from one `numpy` generator seeded by
`--seed`, and the scores that steer it are deterministic too, so a seed fixes every trial.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import numpy as np

from hmrec_cli.errors import InputError
from hmrec_cli.params import Choice, Search, declared

STEP = 0.15  # standard deviation of a refining step, as a share of each range's (log) width
REDRAWS = 20  # tries to propose a point not proposed before (small integer and choice ranges repeat)


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its name, its type (int, float, str or bool) and its search."""

    name: str
    kind: type
    search: Search

    @property
    def choices(self) -> tuple:
        """The options of a choice search; () for numbers."""
        return self.search.options if isinstance(self.search, Choice) else ()

    def sample(self, rng: np.random.Generator):
        return self.search.sample(rng, self.kind)


def dimensions(params_type: type, only: tuple[str, ...] = (), pinned: tuple[str, ...] = ()) -> list[Dimension]:
    """The searched parameters of a Params dataclass: those that declare a `search`, restricted to
    `only` when given, less the `pinned` ones (set with -o on the command line)."""
    hints = typing.get_type_hints(params_type)
    searches = {f.name: declared(f).search for f in dataclasses.fields(params_type)}
    for name in only:
        if name not in searches:
            raise InputError(f"--params {name}: no such parameter (parameters: {', '.join(searches)})")
        if searches[name] is None:
            searchable = ", ".join(n for n, s in searches.items() if s is not None) or "none"
            raise InputError(f"--params {name}: declares no search range (searchable: {searchable})")
    return [
        Dimension(name, hints[name], search)
        for name, search in searches.items()
        if search is not None and (not only or name in only) and name not in pinned
    ]


def propose(
    dims: list[Dimension], tried: list[tuple[dict, float | None]], trials: int, rng: np.random.Generator
) -> dict:
    """The next point to try, given the points tried so far and their scores (None: failed)."""
    scored = [(point, score) for point, score in tried if score is not None]
    seen = [point for point, _ in tried]
    point = {}
    for _ in range(REDRAWS):
        if not scored or len(tried) < trials // 2 or rng.random() < 0.5:
            point = {d.name: d.sample(rng) for d in dims}
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
            out[d.name] = d.search.value(
                min(max(d.search.unit(start[d.name]) + rng.normal(0.0, STEP), 0.0), 1.0), d.kind
            )
    return out
