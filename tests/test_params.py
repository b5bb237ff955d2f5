"""Parameter declarations (`hmrec_cli.params`): each validator's boundaries and words, searches that
stay in range and repeat per seed, declarations that contradict themselves refused when the plugin
loads, and the old `field(metadata={...})` form gone from the repository."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hmrec_cli.params import (
    Above,
    AtLeast,
    AtMost,
    Between,
    Choice,
    LogUniform,
    OneOf,
    Uniform,
    Widths,
    param,
    problems,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("valid", "allowed", "refused", "words"),
    [
        (Between(0, 3660), [0, 1.5, 3660], [-1, -1e-9, 3660.001], "from 0 to 3660"),
        (Between(0, 1, open_low=True), [1e-9, 1], [0, -1, 1.000001], "more than 0 and at most 1"),
        (Between(0, 1, open_high=True), [0, 0.999], [1, -0.1], "at least 0 and less than 1"),
        (Between(0, 1, open_low=True, open_high=True), [0.5], [0, 1], "more than 0 and less than 1"),
        (AtLeast(1), [1, 10**9], [0, 0.999], "1 or more"),
        (Above(0), [1e-12, 5], [0, -3], "more than 0"),
        (AtMost(10), [10, -5], [10.5], "10 or less"),
        (OneOf("exact", "annoy"), ["exact", "annoy"], ["Exact", "", "ann"], "one of exact, annoy"),
        (
            Widths(),
            ["256", "256,128", "1", "4096", " 8, 4"],
            ["0", "4097", "256,", "a", "", "256;128", "-1"],
            "layer widths from 1 to 4096 separated by commas, like 256,128",
        ),
        (Widths(8), ["8,1"], ["9"], "layer widths from 1 to 8 separated by commas, like 256,128"),
    ],
)
def test_each_validator_allows_its_bounds_and_says_them(valid, allowed, refused, words: str) -> None:
    assert [v for v in allowed if not valid.allows(v)] == []
    assert [v for v in refused if valid.allows(v)] == []
    assert valid.describe() == words


@pytest.mark.parametrize(
    "make",
    [
        lambda: Between(1, 1),
        lambda: Between(5, 1),
        lambda: OneOf("only"),
        lambda: Uniform(3, 3),
        lambda: LogUniform(0, 30),
        lambda: LogUniform(-1, 30),
        lambda: Choice("a", "a"),
    ],
)
def test_an_empty_or_malformed_declaration_is_refused_when_written(make) -> None:
    with pytest.raises(ValueError):
        make()


def test_searches_describe_themselves_as_plugins_show_prints_them() -> None:
    assert Uniform(0.0, 14.0).describe() == "0.0 to 14.0"
    assert LogUniform(7, 182).describe() == "7 to 182 (log)"
    assert Choice("auto", "on", "off").describe() == "auto, on, off"
    assert Choice(False, True).describe() == "false, true"


@pytest.mark.parametrize("search", [Uniform(0.0, 14.0), LogUniform(2.0, 120.0), LogUniform(7, 182), Uniform(1, 4)])
@pytest.mark.parametrize("kind", [int, float])
def test_a_search_stays_in_its_range_and_repeats_per_seed(search, kind: type) -> None:
    draws = [search.sample(np.random.default_rng(seed), kind) for seed in range(300)]
    assert all(type(v) is kind for v in draws)
    assert min(draws) >= search.low and max(draws) <= search.high
    assert draws == [search.sample(np.random.default_rng(seed), kind) for seed in range(300)]
    assert len(set(draws)) > 3  # it does move with the seed


def test_a_log_search_spreads_evenly_in_the_logarithm_and_a_uniform_one_evenly() -> None:
    rng = np.random.default_rng(0)
    logged = [LogUniform(1.0, 10_000.0).sample(rng) for _ in range(4000)]
    plain = [Uniform(1.0, 10_000.0).sample(rng) for _ in range(4000)]
    assert 70 < np.median(logged) < 140  # the geometric middle, 100
    assert 4500 < np.median(plain) < 5500
    assert LogUniform(1.0, 10_000.0).unit(100.0) == pytest.approx(0.5)
    assert Uniform(0.0, 14.0).unit(20.0) == 1.0 and Uniform(0.0, 14.0).unit(-3.0) == 0.0  # clipped to its edge


def test_a_choice_draws_every_option_and_repeats_per_seed() -> None:
    choice = Choice("cosine", "conditional", "bm25", "count")
    draws = [choice.sample(np.random.default_rng(seed)) for seed in range(100)]
    assert set(draws) == set(choice.options)
    assert draws == [choice.sample(np.random.default_rng(seed)) for seed in range(100)]


def test_declarations_that_contradict_themselves_are_found() -> None:
    @dataclass(frozen=True)
    class Wrong:
        epochs: int = param(0, "passes", valid=Between(1, 100))  # default outside valid
        rate: float = param(0.1, "step", valid=Between(0, 1, open_low=True), search=LogUniform(0.01, 2.0))
        kind: str = param("a", "which", valid=OneOf("a", "b"), search=Uniform(0, 1))  # numbers for a text
        size: int = param(8.5, "units", valid=Between(1, 64))  # a float default for an int
        flag: bool = param(1, "on or off")  # an int is not a bool
        plain: int = 3  # no doc, no bounds
        mute: int = param(3, " ", valid=Between(1, 9))
        old: int = field(default=3, metadata={"doc": "the old form", "valid": (1, 9)})
        fine: float = param(2, "days", valid=Between(0, 10), search=LogUniform(1, 10))  # an int default for a float

    found = problems(Wrong)
    assert [p.split(":")[0] for p in found] == ["epochs", "rate", "kind", "size", "flag", "plain", "mute", "old"]
    assert "epochs: default 0 is not from 1 to 100" in found
    assert "rate: search 0.01 to 2.0 (log) reaches outside valid (more than 0 and at most 1)" in found
    assert found[-1] == "old: declare it with param(default, doc, valid=..., search=...)"


BAD_PLUGIN = """
from dataclasses import dataclass
from hmrec_cli.plugin import Between, Retriever, param

@dataclass(frozen=True)
class BadParams:
    window_days: int = param(0, "days of sales counted", valid=Between(1, 30))

class Bad(Retriever):
    name = "bad-default"
    summary = "declares a default its own bounds refuse"
    Params = BadParams
    def fit(self, ctx, run): ...
    def retrieve(self, customers, k): ...
"""


def test_a_plugin_declaring_a_bad_default_is_refused_when_it_loads(cli, monkeypatch, tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "hmrec_test_bad-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hmrec-test-bad\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[hmrec.retrievers]\nbad-default = hmrec_test_bad_default:Bad\n")
    (site / "hmrec_test_bad_default.py").write_text(BAD_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    rows = {p["name"]: p for p in cli.json("plugins")["plugins"]}
    assert rows["bad-default"]["summary"] == "broken: BadParams.window_days: default 0 is not from 1 to 30"
    assert rows["popular"]["summary"] and not rows["popular"]["summary"].startswith("broken")
    code, _, err = cli("plugins", "show", "bad-default")
    assert code == 2 and "BadParams.window_days: default 0 is not from 1 to 30" in err


OLD_FORM = re.compile(r"""metadata\s*=\s*\{\s*["'](doc|valid|range)["']|\b(describe_valid|describe_range|WIDTHS)\b""")


def test_the_old_metadata_form_is_gone() -> None:
    """Parameters are declared with param() everywhere: code, examples and the docs that teach it."""
    paths = [
        p
        for folder in ("hmrec_cli", "plugins", "examples", "benchmarks", "tests", "docs")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".md") and p != Path(__file__).resolve()
    ]
    stale = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in paths
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if OLD_FORM.search(line)
    ]
    assert not stale, stale
