"""Customer shards: the N shards' outputs concatenate to exactly the unsharded output, for every
built-in retriever and ranker and for `hmrec submit`, and what is fitted for the week is fitted once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from test_ranker_contract import QUICK as QUICK_RANKERS
from test_ranker_contract import SOURCES
from test_retriever_contract import QUICK as QUICK_RETRIEVERS

from hmrec_cli.cache import Cache
from hmrec_cli.data.splits import resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.pipeline import shared_fits
from hmrec_cli.pipeline.plugin_params import resolve
from hmrec_cli.pipeline.ranking import RankRequest, rank
from hmrec_cli.pipeline.recall import Request, run
from hmrec_cli.pipeline.shards import Shard, id_hash, only, shard_of
from hmrec_cli.project_config import ProjectConfig
from hmrec_cli.registry import discover, find

N = 3


def _concatenated(entries) -> pl.DataFrame:
    """The shards' rows one after the other, each customer's rows in the order its shard wrote them."""
    return pl.concat([e.read() for e in entries]).sort("customer", maintain_order=True)


def _counting_fits(monkeypatch, kind: str, name: str) -> list[int]:
    """Count the calls of the plugin's `fit` (the week's model is fitted once for all shards)."""
    cls = find(kind, name).load()
    calls, original = [], cls.fit

    def fit(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "fit", fit)
    return calls


def test_hash_is_the_fnv1a_splitmix_of_the_utf8_id() -> None:
    """The hash is the documented one (so a shard never moves between machines, Python or polars releases)."""
    ids = pl.Series(["", "a", "0000423b00ade91418cceaf3b26c6af3dd342b51fd051eec9c12fb36984420fa", "Zoë 7"])
    reference = []  # the same hash, one byte at a time in plain Python
    for text in ids:
        h = 0xCBF29CE484222325
        for byte in text.encode():
            h = ((h ^ byte) * 0x100000001B3) % 2**64
        for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            h = ((h ^ (h >> shift)) * mult) % 2**64
        reference.append(h ^ (h >> 31))
    assert id_hash(ids).tolist() == reference
    assert shard_of(pl.Series([1, 2, 3]), 4).tolist() == shard_of(pl.Series(["1", "2", "3"]), 4).tolist()


def test_shards_split_the_customers_evenly_and_exactly(store_dir: Path) -> None:
    store = Store.open(store_dir)
    customers = store.submission_customers
    parts = [only(customers, Shard(i, 4), store.customers) for i in range(4)]
    assert sorted(pl.concat(parts).to_list()) == sorted(customers.to_list())
    sizes = np.array([p.len() for p in parts])
    assert sizes.min() > 0.7 * customers.len() / 4  # a hash, not a range: every shard gets its share


@pytest.mark.parametrize("text", ["1/1/2", "3/3", "-1/2", "a/2", "1", "0/0", "2/1"])
def test_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="--shard"):
        Shard.parse(text)


@pytest.mark.parametrize("method", [p.name for p in discover("retriever")])
def test_retriever_shards_concatenate_to_the_unsharded_set(method, store_dir, tmp_path, monkeypatch) -> None:
    store, cache = Store.open(store_dir), Cache(tmp_path)
    week = resolve_week("1", store.first_date, store.last_date)
    request = Request(method, week, 20, resolve(QUICK_RETRIEVERS.get(method, ()), ProjectConfig(), (method,)), "all")
    whole = run(store, cache, request, device="cpu").read()
    shared_fits.forget()
    fits = _counting_fits(monkeypatch, "retriever", method)
    entries = [run(store, cache, Request(**{**vars(request), "shard": Shard(i, N)}), device="cpu") for i in range(N)]
    assert len(fits) == 1  # fitted for the first shard, shared by the others
    assert len({e.key for e in entries}) == N and whole.height > 0
    assert _concatenated(entries).equals(whole)


@pytest.mark.parametrize("ranker", [p.name for p in discover("ranker")])
def test_ranker_shards_concatenate_to_the_unsharded_ranking(ranker, store_dir, tmp_path, monkeypatch) -> None:
    store, cache = Store.open(store_dir), Cache(tmp_path)
    week = resolve_week("next", store.first_date, store.last_date)
    plugins = resolve(QUICK_RANKERS.get(ranker, ()), ProjectConfig(), SOURCES, ranker, 2)
    request = RankRequest(ranker, SOURCES, week, train_weeks=2, k=30, plugins=plugins)
    whole = rank(store, cache, request, device="cpu").read()
    shared_fits.forget()
    fits = _counting_fits(monkeypatch, "ranker", ranker)
    entries = [
        rank(store, cache, RankRequest(**{**vars(request), "shard": Shard(i, N)}), device="cpu") for i in range(N)
    ]
    assert len(fits) == 1
    assert _concatenated(entries).equals(whole)
    assert sum(e.manifest["customer_count"] for e in entries) == store.submission_customers.len()


def test_submit_shards_merge_to_the_unsharded_submission(cli, store_dir, tmp_path) -> None:
    common = ("--data", store_dir, "--cache", tmp_path / "cache", "--candidates", "popular,repurchase")
    whole = tmp_path / "whole.csv"
    assert cli("submit", *common, "--ranker", "merge", "--train-weeks", "2", "--out", whole)[0] == 0
    parts = [tmp_path / "parts" / f"part-{i}.csv" for i in range(N)]
    for i, part in enumerate(parts):
        code, _, err = cli(
            "submit", *common, "--ranker", "merge", "--train-weeks", "2", "--shard", f"{i}/{N}", "--out", part
        )
        assert code == 0, err
    assert sum(pl.read_csv(p).height for p in parts) == pl.read_csv(whole).height
    merged = tmp_path / "merged.csv"
    code, _, err = cli("submit", "--data", store_dir, *(w for p in parts for w in ("--merge", p)), "--out", merged)
    assert code == 0, err
    assert merged.read_bytes() == whole.read_bytes()  # the same bytes, in the unsharded order
    again = tmp_path / "again.csv"
    assert cli("submit", "--data", store_dir, "--shards-dir", tmp_path / "parts", "--out", again)[0] == 0
    assert again.read_bytes() == whole.read_bytes()
    one = tmp_path / "one.csv"  # one shard of every customer is the plain job (the shard benchmark's N = 1)
    assert cli("submit", *common, "--ranker", "merge", "--train-weeks", "2", "--shard", "0/1", "--out", one)[0] == 0
    assert one.read_bytes() == whole.read_bytes()


@pytest.mark.bad_input("merge-parts")
def test_merge_refuses_overlapping_or_missing_parts(cli, store_dir, tmp_path) -> None:
    common = ("--data", store_dir, "--cache", tmp_path / "cache", "--candidates", "popular")
    parts = [tmp_path / f"part-{i}.csv" for i in range(2)]
    for i, part in enumerate(parts):
        assert cli("submit", *common, "--shard", f"{i}/2", "--out", part)[0] == 0
    out = tmp_path / "merged.csv"
    code, _, err = cli("submit", "--data", store_dir, "--merge", parts[0], "--merge", parts[0], "--out", out)
    assert code == 2 and "overlap" in err and len(err.strip().splitlines()) == 1 and not out.exists()
    code, _, err = cli("submit", "--data", store_dir, "--merge", parts[0], "--out", out)
    assert code == 2 and "a shard is missing" in err and len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.bad_input("shard-bad")
def test_bad_shard_option_exits_2(cli, store_dir, tmp_path) -> None:
    code, _, err = cli("recall", "--data", store_dir, "--cache", tmp_path, "--method", "popular", "--shard", "4/4")
    assert code == 2 and "--shard 4/4" in err and len(err.strip().splitlines()) == 1


def test_export_shards_hold_the_whole_rankings_rows(cli, store_dir, tmp_path) -> None:
    """`export --shard I/N` of one ranking: the N files hold its rows exactly once; with the shards'
    own rankings (`rank --shard I/N`) in the cache each file is its shard's ranking."""
    common = ("--data", store_dir, "--cache", tmp_path / "cache")
    ranked = ("rank", *common, "--ranker", "merge", "--candidates", "popular,repurchase", "--week", "next")
    assert cli(*ranked, "--train-weeks", "2", "-q")[0] == 0
    whole = tmp_path / "whole.csv"
    assert cli("export", *common, "--ranking", "merge", "--out", whole)[0] == 0
    key = ["customer_id", "rank"]
    parts = []
    for i in range(2):
        part = tmp_path / f"part-{i}.csv"
        assert cli("export", *common, "--ranking", "merge", "--shard", f"{i}/2", "--out", part)[0] == 0
        parts.append(pl.read_csv(part, infer_schema=False))
    assert pl.concat(parts).sort(key).equals(pl.read_csv(whole, infer_schema=False).sort(key))
    assert cli(*ranked, "--train-weeks", "2", "--shard", "1/2", "-q")[0] == 0
    own = tmp_path / "own.csv"
    assert cli("export", *common, "--ranking", "merge", "--shard", "1/2", "--out", own)[0] == 0
    assert pl.read_csv(own, infer_schema=False).sort(key).equals(parts[1].sort(key))


def test_recommend_shard_keeps_the_named_customers_of_the_shard(cli, store_dir, tmp_path) -> None:
    store = Store.open(store_dir)
    ids = store.customers["customer_id"].head(6)
    mine = ids.filter(pl.Series(shard_of(ids, 2) == 0)).to_list()
    args = ["recommend", "--data", store_dir, "--cache", tmp_path, "--ranker", "merge", "--candidates", "popular"]
    args += ["--train-weeks", "2", "--shard", "0/2", *(w for i in ids for w in ("--customer", i))]
    found = cli.json(*args)
    assert 0 < len(mine) < 6 and sorted(r["customer_id"] for r in found["recommendations"]) == sorted(mine)
