"""The third-party example plugin passes the same contract suite as the built-in retrievers
(docs/plugin-contract.md): it is registered as an installed package would be, then every test of
tests/test_retriever_contract.py runs on it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import test_retriever_contract as contract
from test_recall_cli import EXAMPLE, _register

CHECKS = [f for name, f in inspect.getmembers(contract, inspect.isfunction) if name.startswith("test_")]


@pytest.mark.parametrize("check", CHECKS, ids=[f.__name__ for f in CHECKS])
def test_example_plugin_passes_the_retriever_contract(check, monkeypatch, request, tmp_path: Path) -> None:
    _register(monkeypatch, tmp_path / "site", "newest", "hmrec_example_plugin:Newest", package_dir=EXAMPLE)
    fixtures = {name: request.getfixturevalue(name) for name in inspect.signature(check).parameters if name != "method"}
    check(method="newest", **fixtures)


def test_the_suite_is_not_empty() -> None:
    assert len(CHECKS) >= 4
