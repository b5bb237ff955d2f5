"""`--engine ray` on a local Ray of 2 CPUs: the same submission as the plain run, a dead worker's
shard run again once, a shard that dies twice named in one line and nothing half-written kept."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from hmrec_cli.cache import Cache
from hmrec_cli.cli.commands.export import _write
from hmrec_cli.data.splits import resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.pipeline import shared_fits
from hmrec_cli.pipeline.ray_engine import run_shards
from hmrec_cli.pipeline.ray_export import export_on_ray
from hmrec_cli.pipeline.recommend import export_rows

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (starting one takes seconds); the tasks below travel by value."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def _dies_on_its_first_try(marker_dir: str, shard) -> int:
    """Shard 1's worker exits hard on the first try (a killed process); its marker file tells the retry."""
    marker = Path(marker_dir) / f"tried-{shard.index}"
    if shard.index == 1 and not marker.exists():
        marker.touch()
        os._exit(1)
    return 10 * shard.index


def _always_dies(marker_dir: str, shard) -> int:
    if shard.index == 1:
        (Path(marker_dir) / f"try-{os.getpid()}").touch()
        os._exit(1)
    return shard.index


def test_submit_on_ray_writes_the_plain_submission(cli, store_dir, tmp_path) -> None:
    common = ("--data", store_dir, "--cache", tmp_path / "cache", "--candidates", "popular,repurchase")
    common += ("--ranker", "merge", "--train-weeks", "2")
    plain, on_ray = tmp_path / "plain.csv", tmp_path / "ray.csv"
    assert cli("submit", *common, "--out", plain)[0] == 0
    code, _, err = cli("submit", *common, "--engine", "ray", "--shards", "2", "--out", on_ray)
    assert code == 0, err
    assert on_ray.read_bytes() == plain.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no parts left beside it
    shared_fits.forget()  # a new driver: every shard's ranking is cached, so it fits nothing
    again = tmp_path / "again.csv"
    assert cli("submit", *common, "--engine", "ray", "--shards", "2", "--out", again)[0] == 0
    assert shared_fits.snapshot() == {}
    assert again.read_bytes() == plain.read_bytes()


def test_a_dead_worker_is_retried_once(tmp_path) -> None:
    assert run_shards(_dies_on_its_first_try, 2, str(tmp_path), None) == [0, 10]
    assert (tmp_path / "tried-1").exists()


def test_a_shard_that_dies_twice_is_named(tmp_path) -> None:
    with pytest.raises(InputError, match=r"shard 1/2 failed after 2 tries"):
        run_shards(_always_dies, 2, str(tmp_path), None)
    assert len(list(tmp_path.glob("try-*"))) == 2  # the first try and its one retry


def test_rank_on_ray_caches_the_plain_ranking(cli, store_dir, tmp_path, monkeypatch) -> None:
    """The shards' rankings assembled under the plain run's key: the same rows, the week's figures,
    and the command the user typed (not a Ray worker's)."""
    args = ("rank", "--data", store_dir, "--candidates", "popular,repurchase", "--ranker", "merge", "--week", "1")
    args += ("--train-weeks", "2", "--k", "30")
    plain = cli.json(*args, "--cache", tmp_path / "plain")
    typed = [*map(str, args), "--cache", str(tmp_path / "ray"), "--engine", "ray", "--shards", "2", "--json"]
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "bin" / "hmrec"), *typed])  # as the hmrec script runs it
    on_ray = cli.json(*args, "--cache", tmp_path / "ray", "--engine", "ray", "--shards", "2")
    assert on_ray["key"] == plain["key"] and len(on_ray["shards"]) == 2
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "ray" / "rankings" / "merge").glob("*/*.json")]
    assert len(manifests) == 3  # the two shards' and the assembled one
    assert {m["command"] for m in manifests} == {shlex.join(["hmrec", *typed])}

    assert pl.read_parquet(on_ray["path"]).equals(pl.read_parquet(plain["path"]))
    for name in ("buyers", "map@12", "recall@12", "union_recall@all"):
        assert on_ray["figures"][name] == pytest.approx(plain["figures"][name], rel=1e-9)
    again = cli.json(*args, "--cache", tmp_path / "ray", "--engine", "ray", "--shards", "2")
    assert again["cached"]


def test_export_on_ray_writes_the_plain_file(cli, store_dir, tmp_path) -> None:
    """The shards' rows joined into the plain export's bytes, as CSV and as Parquet (its row groups
    too: chunks of 7 customers make several), with no parts left beside it."""
    common = ("--data", store_dir, "--cache", tmp_path / "cache")
    ranked = ("rank", *common, "--ranker", "merge", "--candidates", "popular,repurchase", "--week", "next")
    assert cli(*ranked, "--train-weeks", "2", "-q")[0] == 0
    plain, on_ray = tmp_path / "out" / "plain.csv", tmp_path / "out" / "ray.csv"
    assert cli("export", *common, "--ranking", "merge", "--out", plain)[0] == 0
    code, _, err = cli("export", *common, "--ranking", "merge", "--engine", "ray", "--shards", "3", "--out", on_ray)
    assert code == 0, err
    assert on_ray.read_bytes() == plain.read_bytes()
    store, cache = Store.open(store_dir), Cache(tmp_path / "cache")
    entry = cache.resolve(
        "rankings",
        "merge",
        resolve_week("next", store.first_date, store.last_date).start.isoformat(),
        store.fingerprint,
    )
    customers = pl.read_parquet(entry.path)["customer"].unique().sort()
    _write(export_rows(store, cache, entry, customers, chunk=7), plain.with_suffix(".parquet"), ".parquet")
    write = lambda chunks: _write(chunks, on_ray.with_suffix(".parquet"), ".parquet")  # noqa: E731
    rows = export_on_ray(store, cache, entry, customers, write, on_ray, 3, None, lambda shard, state: None, chunk=7)
    assert rows == entry.manifest["rows"]
    assert on_ray.with_suffix(".parquet").read_bytes() == plain.with_suffix(".parquet").read_bytes()
    assert pq.ParquetFile(plain.with_suffix(".parquet")).num_row_groups > 1
    assert sorted(p.name for p in on_ray.parent.iterdir()) == ["plain.csv", "plain.parquet", "ray.csv", "ray.parquet"]


def test_evaluate_candidates_on_ray_prints_the_plain_figures(cli, store_dir, tmp_path) -> None:
    """The sets made by shard on Ray and assembled under the plain keys: the same --json, the same rows."""
    args = ("evaluate", "--data", store_dir, "--candidates", "popular,repurchase", "--week", "1", "--weeks", "2")
    plain = cli.json(*args, "--cache", tmp_path / "plain")
    on_ray = cli.json(*args, "--cache", tmp_path / "ray", "--engine", "ray", "--shards", "2")
    assert on_ray == plain
    made = Cache(tmp_path / "ray").entries("candidates")
    assert len([e for e in made if e.manifest.get("shards")]) == 4  # two sets, two weeks, each of two shards
    for entry in made:
        if entry.manifest.get("shards"):
            twin = Cache(tmp_path / "plain").committed("candidates", entry.method, entry.week, entry.key)
            assert entry.read().equals(twin.read())
            assert entry.manifest["figures"] == twin.manifest["figures"]
