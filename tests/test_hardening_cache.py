"""The cache deletes only what hmrec wrote, keeps a running writer's folder, survives odd things in
an entry's place, and lists keys whole (issue 26: items 1, 11, 14, 15 and the cache parts of 25)."""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hmrec_cli import atomic
from hmrec_cli import cache as cache_module
from hmrec_cli.cache import Cache
from hmrec_cli.cli import app

DEAD = 2**22 + 12345  # above the usual pid_max: no live process has it


def recalled(cli, store_dir: Path, cache: Path, method: str = "popular") -> dict:
    return cli.json("recall", "--method", method, "--data", store_dir, "--cache", cache, "--week", "1", "--k", "20")


def aged(paths: list[Path]) -> None:
    """Make every path two days old, past the age at which a cache write sweeps."""
    two_days_ago = time.time() - 2 * 86400
    for p in paths:
        os.utime(p, (two_days_ago, two_days_ago), follow_symlinks=False)


def users_files(cache: Path, week: str, data: Path) -> list[Path]:
    """A user's files in and beside a cache folder, at every depth, some shaped like hmrec's."""
    files = [
        cache / "notes.txt",
        cache / "photos" / "2020" / "a.parquet",
        cache / "candidates" / "mine.parquet",
        cache / "candidates" / "popular" / "keep.parquet",
        cache / "candidates" / "popular" / week / "0123456789abcdef.parquet",  # an entry's name, no manifest
        cache / "candidates" / "popular" / week / "table.parquet",
        cache / "candidates" / "popular" / week / ".hidden.tmp",
        cache / "candidates" / "popular" / "1999-01-04" / "sales.csv",  # a week folder of someone else's
        cache / "models" / "popular" / week / "readme.md",
        data.parent / ".hm.old-backup" / "store.parquet",  # beside the store: not a temp name of hmrec's
        data.parent / ".hmrec-ingest-notes",
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"a": [1]}).write_parquet(path)
    aged(files + [p.parent for p in files])
    return files


@pytest.mark.bad_input("cache-foreign-files")
def test_files_hmrec_did_not_write_survive_every_sweep_and_clear(cli, store_dir: Path, tmp_path: Path) -> None:
    cache, data = tmp_path / "cache", tmp_path / "hm"
    week = Path(recalled(cli, store_dir, cache)["path"]).parent.name
    mine = users_files(cache, week, data)
    assert (
        cli("recall", "--method", "popular", "--data", store_dir, "--cache", cache, "--week", "1", "--k", "10")[0] == 0
    )  # a write sweeps
    code, out, _ = cli("cache", "clear", "--orphans", "--cache", cache, "--data", data)
    assert code == 0 and "and 0 files that interrupted runs left" in out
    in_cache = [p for p in mine if p.is_relative_to(cache)]
    foreign = {str(p) for p in in_cache if p.parent != cache / "photos" / "2020"} | {str(cache / "photos")}
    listed = cli.json("cache", "ls", "--cache", cache)
    assert len(listed["entries"]) == 2 and set(listed["foreign"]) == foreign
    code, out, _ = cli("cache", "ls", "--cache", cache)
    assert (
        code == 0
        and f"\nnot hmrec's: {cache / 'photos'}/\n" in out
        and f"\nnot hmrec's: {cache}/candidates/popular/{week}/0123456789abcdef.parquet\n" in out
    )
    code, out, _ = cli("cache", "clear", "--cache", cache, "--data", data)
    assert (
        code == 0
        and out
        == "removed 2 cached entries and 0 files that interrupted runs left; left 9 files or folders hmrec did not write (see `hmrec cache ls`)\n"
    )
    assert all(p.is_file() for p in mine)
    after = cli.json("cache", "ls", "--cache", cache)
    assert after["entries"] == [] and after["foreign"] == listed["foreign"]


@pytest.mark.bad_input("cache-foreign-files")
def test_an_entry_whose_manifest_hmrec_did_not_write_is_refused_and_kept(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = Path(recalled(cli, store_dir, cache)["path"])
    data.with_suffix(".json").write_text("{}")  # not hmrec's manifest: it names no key
    code, _, err = cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", cache, "--week", "1", "--k", "20"
    )
    assert (
        code == 2
        and err
        == f"hmrec: error: {data.with_suffix('.json')}: not a manifest hmrec wrote for popular@{data.stem}; hmrec leaves it alone: move it away\n"
    )
    code, out, _ = cli("cache", "clear", "--cache", cache)
    assert code == 0 and "removed 0 cached entries" in out and "left 2 files or folders hmrec did not write" in out
    assert data.is_file() and data.with_suffix(".json").read_text() == "{}"


def test_ingest_keeps_a_users_files_beside_the_store(cli, raw: Path, tmp_path: Path) -> None:
    dest = tmp_path / "hm"
    mine = [tmp_path / ".hm.old-backup" / "store.parquet", tmp_path / ".hm.tmp-1", tmp_path / ".hmrec-ingest-notes"]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a user's")
    aged(mine + [mine[0].parent])
    left = tmp_path / f".hm.tmp-{DEAD}-0badf00d"  # what a killed ingest left
    left.mkdir()
    aged([left])
    assert cli("data", "ingest", raw, "--data", dest, "-q")[0] == 0
    assert all(p.read_text() == "a user's" for p in mine) and not left.exists()


class Killed(BaseException):
    """kill -9 at one instant: nothing after it runs, no clean-up."""


def test_a_run_killed_between_data_and_manifest_is_cleaned_up(
    cli, store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    replace = os.replace

    def killed_at_the_manifest(src, dst) -> None:
        if str(dst).endswith(".json"):  # the data file is in place; the manifest's temp stays, under a dead pid
            replace(src, re.sub(r"tmp-\d+-", f"tmp-{DEAD}-", str(src)))
            raise Killed
        replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", killed_at_the_manifest)
    with pytest.raises(Killed):
        recalled(cli, store_dir, cache)
    monkeypatch.undo()
    week = next((cache / "candidates" / "popular").iterdir())
    left = sorted(p.name for p in week.iterdir())
    assert (
        len(left) == 2 and left[1].endswith(".parquet") and left[0] == f".{left[1][:-8]}.json.tmp-{DEAD}-{left[0][-8:]}"
    )
    assert cli.json("cache", "ls", "--cache", tmp_path / "cache")["foreign"] == []  # provably hmrec's
    code, out, _ = cli("cache", "clear", "--orphans", "--cache", cache, "--data", tmp_path / "hm")
    assert code == 0 and "removed 0 cached entries and 2 files that interrupted runs left" in out
    assert not list(week.iterdir())


def test_clear_keeps_the_folder_a_running_writer_has_just_made(
    cli, store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    real = cache_module.atomic_file

    @contextmanager
    def clear_right_after_mkdir(path: Path):
        with real(path) as tmp:
            assert path.parent.is_dir()
            Cache(cache).clear()  # `hmrec cache clear` in another process, between the writer's mkdir and its write
            yield tmp

    monkeypatch.setattr(cache_module, "atomic_file", clear_right_after_mkdir)
    code, out, err = cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", cache, "--week", "1", "--k", "20", "--json"
    )
    assert code == 0, err
    entry = json.loads(out)
    assert Path(entry["path"]).is_file() and Path(entry["path"]).with_suffix(".json").is_file()


@pytest.mark.bad_input("cache-entry-folder")
def test_a_folder_in_place_of_an_entry_is_named_and_never_removed(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry = recalled(cli, store_dir, cache)
    data = Path(entry["path"])
    data.unlink()
    (data / "inside.txt").parent.mkdir()
    (data / "inside.txt").write_text("a user's")
    code, _, err = cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", cache, "--week", "1", "--k", "20"
    )
    assert code == 2 and err.count("\n") == 1
    assert (
        err
        == f"hmrec: error: {data}: a folder where the cache entry {entry['name']} should be; hmrec did not write it and leaves it: move it away\n"
    )
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--candidates", entry["name"])
    assert code == 2 and err.count("\n") == 1 and f"{data}: a folder where the cache entry" in err
    code, out, _ = cli("cache", "clear", "--cache", cache)
    assert code == 0 and "removed 1 cached entry" in out and "left 1 file or folder hmrec did not write" in out
    assert (data / "inside.txt").read_text() == "a user's"
    data.rename(tmp_path / "moved")
    data.with_suffix(".json").mkdir()  # and one in place of its manifest
    code, _, err = cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", cache, "--week", "1", "--k", "20"
    )
    assert (
        code == 2
        and err
        == f"hmrec: error: {data.with_suffix('.json')}: a folder where the cache entry {entry['name']} should be; hmrec did not write it and leaves it: move it away\n"
    )
    assert cli("cache", "clear", "--cache", cache)[0] == 0 and data.with_suffix(".json").is_dir()


@pytest.mark.bad_input("cache-manifest-fields")
def test_a_manifest_with_fields_of_the_wrong_type_is_damaged_not_a_crash(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    recalled(cli, store_dir, cache, "repurchase")
    entry = recalled(cli, store_dir, cache)
    manifest = Path(entry["path"]).with_suffix(".json")
    for field, value, said in (
        ("created", 12345, "manifest field created is 12345, not a time"),
        ("file", {"bytes": "many"}, "manifest field file is {'bytes': 'many'}, not a size and sha256"),
    ):
        manifest.write_text(
            json.dumps(
                {**json.loads(manifest.read_text()), "created": entry["created"], "file": entry["file"], field: value}
            )
        )
        listed = {e["name"]: e["damaged"] for e in cli.json("cache", "ls", "--cache", cache)["entries"]}
        assert listed[entry["name"]] == said and len(listed) == 2
        code, out, err = cli("cache", "ls", "--cache", cache)
        assert (
            code == 0
            and f"{entry['name']} (candidates, week {Path(entry['path']).parent.name}) is damaged: {said}" in err
        )
    code, _, err = cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", cache, "--week", "1", "--k", "20"
    )
    assert code == 0 and err.startswith(f"warning: cache entry {entry['name']} is damaged (manifest field file is")
    assert all(e["damaged"] is None for e in cli.json("cache", "ls", "--cache", cache)["entries"])


@pytest.mark.bad_input("cache-checkpoint-link")
def test_a_checkpoint_folder_linked_out_of_the_cache_is_refused(cli, store_dir: Path, tmp_path: Path) -> None:
    cache, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    (cache / "models").mkdir(parents=True)
    elsewhere.mkdir()
    (cache / "models" / "youtube-dnn").symlink_to(elsewhere, target_is_directory=True)
    options = [x for o in ("epochs=1", "weeks=2", "min_purchases=0", "embedding_size=8", "hidden=8") for x in ("-o", o)]
    code, _, err = cli(
        "recall",
        "--method",
        "youtube-dnn",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--k",
        "12",
        "--device",
        "cpu",
        *options,
    )
    assert code == 2 and err.count("\n") == 1 and "leads outside the cache" in err and "youtube-dnn" in err
    assert not list(elsewhere.rglob("*"))


def test_cache_ls_in_a_pipe_never_cuts_a_key(cli, store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    names = [recalled(cli, store_dir, cache, m)["name"] for m in ("popular", "same-product")]
    monkeypatch.setenv("COLUMNS", "40")
    code, out, _ = cli("cache", "ls", "--cache", cache)
    assert code == 0 and all(name in out for name in names)
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    assert rows[0][:3] == ["kind", "name", "week"] and sorted(r[1] for r in rows[1:]) == sorted(names)


def clear(*args: str, answer: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["cache", "clear", *args], input=answer, catch_exceptions=False)
    return result.exit_code, result.stdout


def test_clearing_everything_on_a_terminal_asks_first(cli, store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    entry = Path(recalled(cli, store_dir, cache)["path"])
    monkeypatch.setattr("hmrec_cli.cli.commands.cache._interactive", lambda: True)
    code, out = clear("--cache", str(cache), answer="n\n")
    assert (
        code == 0 and f"Delete every cached entry in {cache}?" in out and "nothing removed" in out and entry.is_file()
    )
    code, out = clear("--cache", str(cache), "--method", "repurchase")  # one method's: no question
    assert code == 0 and "Delete" not in out and entry.is_file()
    code, out = clear("--cache", str(cache), answer="y\n")
    assert code == 0 and "removed 1 cached entry" in out and not entry.exists()
    for flag in ("--yes", "-y"):
        entry = Path(recalled(cli, store_dir, cache)["path"])
        code, out = clear("--cache", str(cache), flag)
        assert code == 0 and "Delete" not in out and "removed 1 cached entry" in out and not entry.exists()
