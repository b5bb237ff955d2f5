"""Cache keys are derived, never listed by hand: every constant of a pipeline stage's POLICY and
every line of code the stage runs (its module and the core modules it reaches) enter the key of
what the stage makes, so changed code or a changed constant is never served an old result; a
docstring or comment does not (a fixed typo keeps the user's cache); the same inputs give the
same key in any process."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hmrec_cli.cache import Cache, request_fields
from hmrec_cli.data.splits import resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline import code_digest
from hmrec_cli.pipeline.ranking import RankRequest, rank
from hmrec_cli.pipeline.recall import Request, run


class _Key(Exception):
    """Raised with the key a stage asks its cache for: the key, without building anything."""


class _KeyCache(Cache):
    def get(self, kind: str, method: str, week: str, key: str):
        raise _Key(key)


def recall_key(store_dir: Path, tmp: Path, drop_bought: str = "yes") -> str:
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    with pytest.raises(_Key) as asked:
        run(store, _KeyCache(tmp), Request("popular", week, 20, drop_bought=drop_bought))
    return str(asked.value)


def ranking_key(store_dir: Path, tmp: Path, sources: tuple[str, ...] = ("auto",)) -> str:
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    with pytest.raises(_Key) as asked:
        rank(store, _KeyCache(tmp), RankRequest("merge", sources, week, train_weeks=2, k=20))
    return str(asked.value)


def _other(value: object) -> object:
    """A value of the same kind, different from `value`."""
    return value[:-1] if isinstance(value, tuple) else value * 2 + 1


def _policy_fields(stage: str) -> list[tuple[str, str]]:
    """(module, field) of every POLICY the stage's code reaches."""
    state = code_digest.pipeline_state(stage)
    return [(module, name) for module, policy in state["policies"].items() for name in policy]


@pytest.fixture
def fresh_digests():
    """The per-process digests worked out anew for the test, and again after it."""
    code_digest._module.cache_clear()
    code_digest._stage.cache_clear()
    yield
    code_digest._module.cache_clear()
    code_digest._stage.cache_clear()


@pytest.mark.parametrize(
    ("stage", "key_of", "expected"),
    [
        ("hmrec_cli.pipeline.recall", recall_key, {"pipeline/bought"}),
        ("hmrec_cli.pipeline.ranking", ranking_key, {"pipeline/bought", "pipeline/ranking", "pipeline/source_choice"}),
    ],
)
def test_every_policy_constant_changes_the_key(
    stage, key_of, expected, store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    fields = _policy_fields(stage)
    assert expected <= {module for module, _ in fields}  # the policies this stage's results depend on are found
    base = key_of(store_dir, tmp_path)
    assert key_of(store_dir, tmp_path) == base
    for module_name, field in fields:
        module = importlib.import_module(f"hmrec_cli.{module_name.replace('/', '.')}")
        with monkeypatch.context() as patch:
            patch.setattr(
                module, "POLICY", dataclasses.replace(module.POLICY, **{field: _other(getattr(module.POLICY, field))})
            )
            assert key_of(store_dir, tmp_path) != base, f"{module_name}.POLICY.{field} does not change the {stage} key"
    assert key_of(store_dir, tmp_path) == base


def test_every_result_changing_constant_of_the_ranking_is_in_its_policy() -> None:
    """The constants the issue named: the newest week's customers, the tuning sample's rule, the
    drop rule and source choice's constants, each a field (a module constant would bypass the key)."""
    fields = set(_policy_fields("hmrec_cli.pipeline.ranking"))
    ranking, bought, choice = "pipeline/ranking", "pipeline/bought", "pipeline/source_choice"
    assert {
        (ranking, "newest_week_customers"),
        (ranking, "tune_customers"),
        (ranking, "tuning_oversample"),
        (bought, "refill"),
        (bought, "drop_below"),
        (bought, "window_days"),
        (choice, "start"),
        (choice, "min_gain_se"),
        (choice, "c"),
        (choice, "customers"),
    } <= fields


def _copy_core(tmp_path: Path, monkeypatch, module: str, edit) -> None:
    """hmrec_cli's sources copied, `module`'s passed through `edit`, and the digests read from the copy."""
    copy = Path(shutil.copytree(code_digest.CORE, tmp_path / "core", ignore=shutil.ignore_patterns("__pycache__")))
    path = copy / f"{module}.py"
    edited = edit(path.read_text())
    assert edited != path.read_text()
    path.write_text(edited)
    monkeypatch.setattr(code_digest, "CORE", copy)
    code_digest._module.cache_clear()
    code_digest._stage.cache_clear()


@pytest.mark.parametrize(
    ("module", "edit", "recall_changes", "ranking_changes"),
    [
        (
            "pipeline/bought",
            lambda s: s.replace("return share < POLICY.drop_below", "return share <= POLICY.drop_below"),
            True,
            True,
        ),
        (
            "data/splits",
            lambda s: s.replace(
                'return float((recent["t_dat"] > recent["first"]).mean())',
                'return float((recent["t_dat"] >= recent["first"]).mean())',
            ),
            True,
            True,
        ),
        (
            "pipeline/source_choice",
            lambda s: s.replace(
                "best = max(trials, key=lambda s: (trials[s].mean(), -sources.index(s)))",
                "best = max(trials, key=lambda s: (trials[s].mean(), sources.index(s)))",
            ),
            False,
            True,
        ),
        (
            "pipeline/row_samples",
            lambda s: s.replace("x ^= x >> np.uint64(31)", "x ^= x >> np.uint64(29)"),
            False,
            True,
        ),
        (
            "pipeline/bought",
            lambda s: s.replace('"""Which earlier purchases', '"""Which of the earlier purchases').replace(
                "# auto drops when", "# --drop-bought auto drops when"
            ),
            False,
            False,
        ),
    ],
    ids=[
        "bought-code",
        "splits-code-reached-through-bought",
        "source_choice-code",
        "row_samples-code-reached-through-ranking",
        "bought-docstring-and-comment",
    ],
)
def test_changed_pipeline_code_changes_the_keys_it_reaches(
    module,
    edit,
    recall_changes,
    ranking_changes,
    store_dir: Path,
    tmp_path: Path,
    monkeypatch,
    fresh_digests,
) -> None:
    before = recall_key(store_dir, tmp_path), ranking_key(store_dir, tmp_path)
    _copy_core(tmp_path, monkeypatch, module, edit)
    after = recall_key(store_dir, tmp_path), ranking_key(store_dir, tmp_path)
    assert (before[0] != after[0], before[1] != after[1]) == (recall_changes, ranking_changes)


_KEYS = """
import json, sys
from pathlib import Path
import pytest
sys.path.insert(0, {tests!r})
from test_cache_keys import ranking_key, recall_key
print(json.dumps([recall_key(Path({store!r}), Path({tmp!r})), ranking_key(Path({store!r}), Path({tmp!r}))]))
"""


def test_the_same_inputs_give_the_same_keys_in_every_process(store_dir: Path, tmp_path: Path) -> None:
    script = _KEYS.format(tests=str(Path(__file__).parent), store=str(store_dir), tmp=str(tmp_path))
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONHASHSEED": seed},
            ).stdout
        )
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1] == [recall_key(store_dir, tmp_path), ranking_key(store_dir, tmp_path)]


def test_the_key_tells_auto_from_the_pool_named_and_drop_yes_from_no(store_dir: Path, tmp_path: Path) -> None:
    from hmrec_cli.pipeline.source_choice import POLICY

    assert ranking_key(store_dir, tmp_path, ("auto",)) != ranking_key(store_dir, tmp_path, POLICY.pool)
    assert recall_key(store_dir, tmp_path, "yes") != recall_key(store_dir, tmp_path, "no")


def test_request_fields_takes_every_field_and_refuses_unknown_ones() -> None:
    @dataclasses.dataclass(frozen=True)
    class Asked:
        method: str
        customers: str = "file.txt"
        added_later: int = 3

    assert request_fields(Asked("popular"), customers="ab12") == {
        "method": "popular",
        "customers": "ab12",
        "added_later": 3,
    }
    with pytest.raises(ValueError, match="no fields"):
        request_fields(Asked("popular"), cutsomers="ab12")


@pytest.mark.parametrize(
    ("edit", "changes"),
    [
        (lambda s: s.replace('(25, "16-24"),', '(24, "16-24"),'), True),
        (lambda s: s.replace('"""`popular`: the articles', '"""`popular`: the articles sold'), False),
    ],
    ids=["code", "docstring"],
)
def test_an_edited_plugin_changes_the_keys_of_what_it_makes(
    edit, changes, store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """A plugin edited without a version bump (a third-party plugin in development, an experiment)
    must not be served the sets or rankings its old code made: its code is in the key of its
    candidate sets and of every ranking it feeds; a docstring is not."""
    popular = importlib.import_module("hmrec_plugins.popular")
    before = recall_key(store_dir, tmp_path), ranking_key(store_dir, tmp_path, ("popular", "repurchase"))
    edited = tmp_path / "popular.py"
    edited.write_text(edit(Path(popular.__file__).read_text()))
    monkeypatch.setattr(popular, "__file__", str(edited))
    code_digest.plugin_digest.cache_clear()
    try:
        after = recall_key(store_dir, tmp_path), ranking_key(store_dir, tmp_path, ("popular", "repurchase"))
    finally:
        monkeypatch.undo()
        code_digest.plugin_digest.cache_clear()
    assert (before[0] != after[0], before[1] != after[1]) == (changes, changes)
