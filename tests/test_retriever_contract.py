"""One contract for every registered retriever: schema, determinism, no leakage, cold customers.

Runs over whatever `hmrec.retrievers` holds, so a new plugin is checked without a new test.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.cache import Cache
from hmrec_cli.data.splits import history, resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline.plugin_params import resolve
from hmrec_cli.pipeline.recall import Request, run
from hmrec_cli.plugin_api import CANDIDATE_SCHEMA, Context, RunSettings, parse_params
from hmrec_cli.project_config import ProjectConfig
from hmrec_cli.registry import discover

RETRIEVERS = [p.name for p in discover("retriever")]
K = 20
# trained retrievers run the same contract with small sizes and one epoch, so the suite stays fast;
# on the CPU, where equal seeds give equal weights (CUDA atomics may differ in the last bits)
QUICK_TOWER = (
    "epochs=1",
    "weeks=3",
    "min_purchases=0",
    "embedding_size=16",
    "side_embedding_size=4",
    "hidden=32",
    "history_length=8",
)
QUICK_TDM = (
    "epochs=1",
    "tree_rounds=1",
    "weeks=2",
    "embedding_size=8",
    "attention_hidden=4",
    "hidden=16",
    "history_length=8",
    "negatives_per_level=2",
    "valid_customers=100",
)  # one tree rebuild, so leakage is checked through tree learning
QUICK = {
    "youtube-dnn": QUICK_TOWER,
    "sampled-softmax": (*QUICK_TOWER, "negatives=64"),
    "hsoftmax": (*QUICK_TOWER, "beam=20"),
    "tdm": QUICK_TDM,
}


def _request(method: str, week, customers: str = "auto") -> Request:
    return Request(method, week, K, resolve(QUICK.get(method, ()), ProjectConfig(), (method,)), customers)


@pytest.mark.parametrize("method", RETRIEVERS)
def test_output_schema_and_limits(method: str, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    entry = run(store, Cache(tmp_path), _request(method, week, "all"), device="cpu")
    cands = entry.read()
    assert cands.schema == CANDIDATE_SCHEMA
    assert cands.group_by("customer").len()["len"].max() <= K
    assert not cands.select("customer", "article").is_duplicated().any()
    assert cands["article"].is_in(store.articles["article"].implode()).all()
    assert set(cands["customer"].unique()) == set(store.submission_customers)  # everyone, cold ones included


@pytest.mark.parametrize("method", RETRIEVERS)
def test_deterministic_per_seed(method: str, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    week = resolve_week("2", store.first_date, store.last_date)
    first = run(store, Cache(tmp_path / "a"), _request(method, week), seed=5, device="cpu").read()
    second = run(store, Cache(tmp_path / "b"), _request(method, week), seed=5, device="cpu").read()
    assert first.equals(second)


@pytest.mark.parametrize("method", RETRIEVERS)
def test_no_leakage_from_the_target_week_or_later(
    method: str, store_dir: Path, altered_store: Path, tmp_path: Path
) -> None:
    original, altered = Store.open(altered_store.parent / "original"), Store.open(altered_store)
    assert original.fingerprint != altered.fingerprint
    week = resolve_week("1", original.first_date, original.last_date)
    a = run(original, Cache(tmp_path), _request(method, week, "all"), device="cpu").read()
    b = run(altered, Cache(tmp_path), _request(method, week, "all"), device="cpu").read()
    assert a.equals(b)


@pytest.mark.parametrize("method", RETRIEVERS)
def test_customers_without_history_get_candidates(method: str, store_dir: Path) -> None:
    store = Store.open(store_dir)
    week = resolve_week("3", store.first_date, store.last_date)
    past = history(store.transactions, week)
    cold = store.customers.filter(~pl.col("customer").is_in(past["customer"].implode()))["customer"]
    assert cold.len() > 0
    plugin = next(p for p in discover("retriever") if p.name == method).load()
    model = plugin(parse_params(plugin.Params, list(QUICK.get(method, ())), method))
    model.fit(
        Context(history=past, articles=store.articles, customers=store.customers, week=week), RunSettings(device="cpu")
    )
    got = model.retrieve(cold, K)
    assert got["customer"].n_unique() == cold.len()
