"""Every installed built-in plugin names its parameters by docs/conventions.md. The tables are read
from the page, and the plugins from the registry, so a new plugin or a new convention is checked
without editing this test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from hmrec_cli.plugin_api import param_docs
from hmrec_cli.registry import built_in

PAGE = Path(__file__).resolve().parent.parent / "docs" / "conventions.md"
PATTERNS = {r"_dim$": "ends in _dim", r"^(n|num)_": "starts with n_ or num_", r"neighbor|normaliz": "American spelling"}


def _table(heading: str) -> list[list[str]]:
    section = PAGE.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # below the header and its rule
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows if not row.startswith("|---")]


SHARED = {row[0].strip("`"): row[1] for row in _table("Shared names")}
AVOID = {name: row[1] for row in _table("Names not to use") for name in re.findall(r"`([a-z0-9_]+)`", row[0])}
BUILT_IN = built_in()


def test_the_page_parses() -> None:
    assert {"embedding_size", "epochs", "learning_rate", "reg", "half_life_days", "batch_size", "negatives"} <= set(
        SHARED
    )
    assert {"id_dim", "lr", "l2_embedding", "n_epochs"} <= set(AVOID) and not set(AVOID) & set(SHARED)


def violations(params_type: type) -> list[str]:
    problems = []
    for p in param_docs(params_type):
        name = p["name"]
        if name in SHARED and p["type"] != SHARED[name]:
            problems.append(f"{name} is {p['type']}; docs/conventions.md says {SHARED[name]}")
        if name in AVOID:
            problems.append(f"{name}: use {AVOID[name]}")
        problems += [f"{name} {why}" for pattern, why in PATTERNS.items() if re.search(pattern, name)]
    return problems


@pytest.mark.parametrize("plugin", BUILT_IN, ids=[f"{p.kind}-{p.name}" for p in BUILT_IN])
def test_plugin_parameters_follow_the_conventions(plugin) -> None:
    problems = violations(plugin.load().Params)
    assert not problems, f"{plugin.name} (see docs/conventions.md): " + "; ".join(problems)


def test_the_check_catches_bad_names() -> None:
    @dataclass(frozen=True)
    class Old:  # DIN's names before the conventions, and other slips
        id_dim: int = 32
        l2_embedding: float = 1e-5
        epochs: float = 1.0
        num_leaves: int = 31
        side_dim: int = 8
        history_length: int = 8

    assert [v.split()[0].rstrip(":") for v in violations(Old)] == [
        "id_dim",
        "id_dim",
        "l2_embedding",
        "epochs",
        "num_leaves",
        "side_dim",
    ]
