"""The cache: no name from the command line reaches outside it, no damaged entry is trusted, and
what killed runs leave behind is swept. Each test guards a case found by trying (issue 10)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import polars as pl
import pytest

QUICK_DIN = [
    "-o",
    "epochs=1",
    "-o",
    "history_length=8",
    "-o",
    "hidden=16",
    "-o",
    "embedding_size=8",
    "-o",
    "side_embedding_size=4",
]


def recall(cli, store_dir: Path, cache: Path, *extra: str) -> tuple[int, str, str]:
    return cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", cache, "--week", "1", "--k", "20", *extra
    )


def recalled(cli, store_dir: Path, cache: Path) -> dict:
    return cli.json("recall", "--method", "popular", "--data", store_dir, "--cache", cache, "--week", "1", "--k", "20")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def victims(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    pair = [folder / "victim.json", folder / "victim.parquet"]
    pair[0].write_text("{}")
    pl.DataFrame({"a": [1]}).write_parquet(pair[1])
    return pair


@pytest.mark.bad_input("cache-name-escape")
def test_clear_refuses_a_method_that_climbs_out_of_the_cache(cli, tmp_path: Path) -> None:
    outside = victims(tmp_path / "x" / "wk")
    (tmp_path / "c").mkdir()
    code, _, err = cli("cache", "clear", "--cache", tmp_path / "c", "--method", "../../x")
    assert (
        code == 2 and err.strip() == "hmrec: error: --method ../../x: not a plugin name (letters, digits, '-' and '_')"
    )
    assert all(p.exists() for p in outside)


@pytest.mark.bad_input("cache-key-escape")
def test_evaluate_refuses_a_key_that_climbs_out_of_the_cache(cli, store_dir: Path, tmp_path: Path) -> None:
    pl.DataFrame({"customer": [0], "article": [0], "score": [1.0]}).write_parquet(tmp_path / "evil.parquet")
    (tmp_path / "evil.json").write_text("{}")
    cache = tmp_path / "a" / "b" / "c" / "cache"
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--candidates", "popular@../../../../evil")
    assert code == 2 and err.count("\n") == 1
    assert "--candidates popular@../../../../evil: '../../../../evil' is not a cache key (16 hex digits" in err


def test_links_inside_the_cache_that_point_out_are_never_followed(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry = recalled(cli, store_dir, cache)
    outside = victims(tmp_path / "elsewhere" / "2020-01-01")
    (cache / "candidates" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    for name in ("0123456789abcdef.json", "0123456789abcdef.parquet"):  # an entry-shaped pair outside
        (tmp_path / "elsewhere" / "2020-01-01" / name).write_bytes(
            outside[1].read_bytes() if name.endswith("parquet") else b"{}"
        )
    code, out, err = cli("cache", "clear", "--cache", cache)
    assert code == 0 and "removed 1 cached entry" in out and "leads outside the cache" in err
    assert (
        all(p.exists() for p in outside)
        and (tmp_path / "elsewhere" / "2020-01-01" / "0123456789abcdef.parquet").exists()
    )

    entry = recalled(cli, store_dir, cache)  # a data file replaced by a link to a file outside
    data = Path(entry["path"])
    data.unlink()
    data.symlink_to(outside[1])
    code, _, err = recall(cli, store_dir, cache)
    assert code == 2 and err.count("\n") == 1 and "leads outside the cache" in err
    assert outside[1].exists()


@pytest.mark.bad_input("cache-entry-damaged")
def test_a_truncated_entry_is_reported_and_rebuilt(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = recalled(cli, store_dir, cache)
    path = Path(first["path"])
    intact = pl.read_parquet(path)
    truncate(path)
    listed = cli.json("cache", "ls", "--cache", cache)["entries"]
    assert (
        listed[0]["damaged"].endswith(f"expected {first['file']['bytes']:,}")
        and listed[0]["bytes"] == path.stat().st_size
    )
    code, out, err = recall(cli, store_dir, cache)
    assert code == 0 and err.splitlines()[0].startswith(f"warning: cache entry {first['name']} is damaged (")
    assert err.splitlines()[0].endswith("; rebuilding") and len(err.splitlines()) == 1
    assert pl.read_parquet(path).equals(intact)
    assert cli.json("cache", "ls", "--cache", cache)["entries"][0]["damaged"] is None

    path.write_bytes(path.read_bytes()[:-1] + b"\x00")  # same size, other content
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--candidates", first["name"])
    assert code == 2 and err.count("\n") == 1
    assert f"cache entry {first['name']} is damaged (content differs from what was written): {path}" in err
    evaluated = ["evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--candidates", "popular", "--json"]
    label = json.loads(cli(*evaluated)[1])["sets"][0]["set"]  # by name only: the set of the parameters in force
    truncate(cache / "candidates" / "popular" / Path(first["path"]).parent.name / f"{label.split('@')[1]}.parquet")
    code, _, err = cli(*evaluated)
    assert code == 0 and f"cache entry {label} is damaged" in err  # reported, then rebuilt


def test_an_entry_from_before_digests_is_checked_by_its_parquet_footer(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = recalled(cli, store_dir, cache)
    manifest = Path(first["path"]).with_suffix(".json")
    old = {k: v for k, v in json.loads(manifest.read_text()).items() if k != "file"}
    manifest.write_text(json.dumps(old))
    assert recalled(cli, store_dir, cache)["created"] == first["created"]  # intact: served
    truncate(Path(first["path"]))
    code, _, err = recall(cli, store_dir, cache)
    assert code == 0 and "is damaged (not a readable Parquet file" in err


@pytest.mark.bad_input("ranking-damaged")
def test_a_damaged_ranking_is_refused_by_key_and_skipped_by_name(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    m = cli.json(
        "rank",
        "--ranker",
        "merge",
        "--candidates",
        "popular,repurchase",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--week",
        "1",
        "--train-weeks",
        "1",
        "--k",
        "20",
        "-o",
        "tune=false",
    )
    truncate(Path(m["path"]))
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--predictions", m["name"])
    assert code == 2 and err.count("\n") == 1 and f"cache entry {m['name']} is damaged" in err and m["path"] in err
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--predictions", "merge")
    assert (
        code == 2 and f"cache entry {m['name']} is damaged" in err and "no cached merge ranking" in err.splitlines()[-1]
    )


def test_a_ranking_named_without_key_says_which_of_several_it_scores(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    common = [
        "--data",
        store_dir,
        "--cache",
        cache,
        "--week",
        "1",
        "--train-weeks",
        "1",
        "--k",
        "20",
        "-o",
        "tune=false",
    ]
    one = cli.json("rank", "--ranker", "merge", "--candidates", "popular", *common)
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--predictions", "merge")
    assert code == 0 and "cached merge rankings" not in err
    two = cli.json("rank", "--ranker", "merge", "--candidates", "popular,repurchase", *common)
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--predictions", "merge")
    assert (
        code == 0
        and "2 cached merge rankings for the week" in err
        and f"using the newest, {two['name']} (sources popular,repurchase)" in err
    )
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--predictions", one["name"])
    assert code == 0 and "cached merge rankings" not in err


@pytest.mark.bad_input("checkpoint-damaged")
def test_resume_from_a_truncated_checkpoint_starts_afresh(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = [
        "rank",
        "--ranker",
        "din",
        "--candidates",
        "popular",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--week",
        "1",
        "--train-weeks",
        "2",
        "--k",
        "20",
        *QUICK_DIN,
        "--device",
        "cpu",
    ]
    first = cli.json(*args)
    checkpoint = next((cache / "models" / "din").glob("*/*.pt"))
    truncate(checkpoint)
    code, out, err = cli(*args, "--force", "--resume", "--json")
    assert code == 0, err
    said = [line for line in err.splitlines() if "checkpoint" in line]
    assert (
        len(said) == 1
        and said[0].startswith(f"warning: checkpoint {checkpoint} is damaged (")
        and said[0].endswith("; training from the start")
    )
    again = json.loads(out)
    assert again["training"]["resumed_from"] == 0
    assert pl.read_parquet(again["path"]).equals(pl.read_parquet(first["path"]))  # a fresh start is the same run


def test_clear_orphans_removes_what_killed_runs_left_and_nothing_else(cli, store_dir: Path, tmp_path: Path) -> None:
    cache, data = tmp_path / "cache", tmp_path / "hm"
    entry = recalled(cli, store_dir, cache)
    week = Path(entry["path"]).parent
    dead = 2**22 + 12345  # above the usual pid_max: no live process has it
    left = [
        week / f".{entry['name'].split('@')[1]}.parquet.tmp-{dead}-0badf00d",
        tmp_path / f".hm.tmp-{dead}-0badf00d",
        tmp_path / f".hmrec-ingest-{dead}-x1y2",
    ]
    left[0].write_bytes(b"half")
    left[1].mkdir()  # a store folder being written
    left[2].mkdir()  # an ingest's scratch folder
    uncommitted = week / "fedcba9876543210.parquet"  # killed between the data file's rename and its manifest's
    uncommitted.write_bytes(Path(entry["path"]).read_bytes())
    pending = week / f".fedcba9876543210.json.tmp-{dead}-0badf00d"  # that run's manifest, which records the file
    pending.write_text(json.dumps({"key": "fedcba9876543210", "file": entry["file"]}))
    left += [uncommitted, pending]
    live = week / f".0123456789abcdef.parquet.tmp-{os.getpid()}-0badf00d"  # a running process's work
    live.write_bytes(b"busy")
    code, out, _ = cli("cache", "clear", "--orphans", "--cache", cache, "--data", data)
    assert code == 0 and "removed 0 cached entries and 5 files that interrupted runs left" in out
    assert not any(p.exists() for p in left) and live.exists() and Path(entry["path"]).exists()


def test_a_later_run_sweeps_temp_files_older_than_a_day(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    week = Path(recalled(cli, store_dir, cache)["path"]).parent
    dead = 2**22 + 12345
    old, fresh = (
        week / f".aaaaaaaaaaaaaaaa.parquet.tmp-{dead}-00000001",
        week / f".bbbbbbbbbbbbbbbb.parquet.tmp-{dead}-00000002",
    )
    for p in (old, fresh):
        p.write_bytes(b"half")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    assert recall(cli, store_dir, cache, "--k", "10")[0] == 0  # a new entry is written
    assert not old.exists() and fresh.exists()


@pytest.mark.bad_input("cache-unwritable")
def test_a_cache_that_cannot_be_written_is_one_line(cli, store_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache should be")
    code, _, err = recall(cli, store_dir, blocker)
    assert code == 2 and err.count("\n") == 1 and f"cannot write the cache entry {blocker}/candidates/popular/" in err


@pytest.mark.bad_input("disk-full")
def test_a_full_disk_is_one_line_and_leaves_no_entry(cli, store_dir: Path, tmp_path: Path, file_size_limit) -> None:
    cache = tmp_path / "cache"
    with file_size_limit(2000):
        code, _, err = recall(cli, store_dir, cache)
    assert code == 2 and err.count("\n") == 1 and "cannot write the cache entry" in err and "File too large" in err
    assert not list(cache.rglob("*.json")) and not list(cache.rglob(".*tmp*"))


def test_a_checkpoint_stays_while_another_ranking_names_it(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: removing one ranking (here a damaged shard's) deleted the checkpoint its
    `model_key` names, which the other shard's ranking still uses (`recommend` restores DIN from it)."""
    from hmrec_cli.cache import Cache

    cache = tmp_path / "cache"
    args = ["rank", "--ranker", "din", "--candidates", "popular", "--data", store_dir, "--cache", cache]
    args += ["--week", "1", "--train-weeks", "2", "--k", "20", *QUICK_DIN, "--device", "cpu"]
    shards = [cli.json(*args, "--shard", f"{i}/2") for i in range(2)]
    assert shards[0]["model_key"] == shards[1]["model_key"]
    store = Cache(cache)
    checkpoint = store.checkpoint("din", shards[0]["week"], shards[0]["model_key"])
    assert checkpoint.is_file()
    truncate(Path(shards[0]["path"]))
    assert store.get("rankings", "din", shards[0]["week"], shards[0]["key"]) is None  # damaged: removed
    assert not Path(shards[0]["path"]).exists() and checkpoint.is_file()
    assert cli("cache", "clear", "--cache", cache, "--method", "din")[0] == 0
    assert not checkpoint.exists()  # the last ranking that named it is gone


def test_clearing_a_trained_retrievers_sets_removes_its_checkpoint(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: `cache clear` removed a trained retriever's candidate sets but left the checkpoint
    their `model_key` names (only rankings took theirs), so the models folder only grew."""
    cache = tmp_path / "cache"
    args = ["recall", "--method", "sampled-softmax", "--data", store_dir, "--cache", cache, "--week", "1"]
    args += [
        "-o",
        "epochs=1",
        "-o",
        "weeks=1",
        "-o",
        "min_purchases=0",
        "-o",
        "embedding_size=8",
        "-o",
        "hidden=16",
        "--device",
        "cpu",
    ]
    made = cli.json(*args)
    checkpoint = cache / "models" / "sampled-softmax" / made["week"] / f"{made['model_key']}.pt"
    assert checkpoint.is_file()
    assert cli("cache", "clear", "--cache", cache, "--method", "sampled-softmax")[0] == 0
    assert not checkpoint.exists() and not checkpoint.with_suffix(".pt.json").exists()
    assert not list(cache.rglob("*.*"))  # nothing of it left, not even its week folders' files
