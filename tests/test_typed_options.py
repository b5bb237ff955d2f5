"""The shared options are parsed once into typed values (`pipeline/settings.py`) and mean the same
on every command; the manifests are dataclasses that round-trip and refuse a damaged file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hmrec_cli.cache import Cache
from hmrec_cli.errors import InputError
from hmrec_cli.pipeline import settings
from hmrec_cli.pipeline.manifests import CandidateManifest, RankingManifest
from hmrec_cli.pipeline.settings import AUTO, DropBought


def test_the_parsers_type_what_a_user_gives() -> None:
    assert settings.train_weeks("4") == 4 and settings.train_weeks(4) == 4 and settings.train_weeks(" auto") is AUTO
    assert settings.sources("popular, repurchase") == ("popular", "repurchase") and settings.sources("auto") is AUTO
    assert settings.sources(["itemcf"]) == ("itemcf",)
    assert settings.drop_bought("yes") is DropBought.YES and settings.drop_bought(DropBought.NO) is DropBought.NO
    assert json.dumps({"w": AUTO, "d": DropBought.AUTO}) == '{"w": "auto", "d": "auto"}'  # as a key hashes them
    assert f"{AUTO}" == "auto" and str(DropBought.YES) == "yes"
    for call, said in (
        (lambda: settings.train_weeks("soon"), "--train-weeks soon: expected a number of weeks or auto"),
        (lambda: settings.train_weeks(True), "--train-weeks True: expected a number of weeks or auto"),
        (lambda: settings.train_weeks("0"), "--train-weeks 0: need at least one earlier week to learn from"),
        (lambda: settings.sources(" , "), "--candidates: name at least one retriever"),
        (lambda: settings.sources("popular,popular"), "--candidates popular,popular: a source is named twice"),
        (lambda: settings.drop_bought("maybe"), "--drop-bought maybe: expected one of auto, yes, no"),
    ):
        with pytest.raises(InputError, match=said):
            call()


def _common(store_dir: Path, cache: Path) -> list:
    return ["--data", store_dir, "--cache", cache, "-q"]


def _rank(cli, store_dir: Path, cache: Path, *args: str) -> dict:
    return cli.json(
        "rank", "--ranker", "merge", "--candidates", "popular,repurchase", *args, *_common(store_dir, cache)
    )


def test_train_weeks_auto_means_the_same_on_rank_submit_and_tune(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    auto = ("--train-weeks", "auto", "-o", "min_positives=1")  # one week's purchases reach 1: auto is 1 week
    one = _rank(cli, store_dir, cache, "--train-weeks", "1")
    again = _rank(cli, store_dir, cache, *auto)
    assert again["cached"] is True and again["name"] == one["name"] and len(again["train_weeks"]) == 1

    code, _, err = cli(
        "submit", "--ranker", "merge", "--candidates", "popular,repurchase", *auto, "--out", tmp_path / "s.csv",
        *_common(store_dir, cache),
    )  # fmt: skip
    assert code == 0, err
    made = Cache(cache).entries("rankings", "merge")
    submitted = [e for e in made if e.week != one["week"]]  # week next's ranking
    assert len(submitted) == 1 and RankingManifest.of(submitted[0]).train_weeks == [one["week"]]
    sidecar = json.loads((tmp_path / "s.csv.json").read_text())["command"]
    assert sidecar["train_weeks"] == "auto" and sidecar["candidates"] == "popular,repurchase"

    tuned = [
        cli.json(
            "tune",
            "--ranker",
            "merge",
            "--candidates",
            "popular,repurchase",
            "--weeks",
            "1",
            "--trials",
            "1",
            *weeks,
            "--no-write",
            "--data",
            store_dir,
            "--cache",
            cache,
        )  # fmt: skip
        for weeks in (("--train-weeks", "1"), auto)
    ]
    assert tuned[0]["trials"][0]["entries"] == tuned[1]["trials"][0]["entries"]  # the same cached rankings


@pytest.mark.parametrize(
    ("command", "args", "said"),
    [
        (cmd, args, said)
        for cmd in (
            ["rank", "--ranker", "merge", "--candidates", "popular"],
            ["submit", "--ranker", "merge", "--candidates", "popular", "--out", "never.csv"],
            ["tune", "--ranker", "merge", "--candidates", "popular"],
            ["recommend", "--ranker", "merge", "--candidates", "popular", "--customer", "x"],
        )
        for args, said in (
            (["--train-weeks", "soon"], "--train-weeks soon: expected a number of weeks or auto"),
            (["--train-weeks", "0"], "--train-weeks 0: need at least one earlier week to learn from"),
            (["--candidates", "popular,popular"], "--candidates popular,popular: a source is named twice"),
        )
    ]
    + [
        (cmd, ["--drop-bought", "maybe"], "--drop-bought maybe: expected one of auto, yes, no")
        for cmd in (
            ["rank", "--ranker", "merge", "--candidates", "popular"],
            ["submit", "--ranker", "merge", "--candidates", "popular", "--out", "never.csv"],
            ["recommend", "--ranker", "merge", "--candidates", "popular", "--customer", "x"],
            ["recall", "--method", "popular"],
        )
    ],
)
def test_a_bad_shared_option_exits_2_naming_it_on_each_command(
    cli, store_dir: Path, tmp_path: Path, monkeypatch, command: list[str], args: list[str], said: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if "--candidates" in args:
        command = command[: command.index("--candidates")] + command[command.index("--candidates") + 2 :]
    code, _, err = cli(*command, *args, *_common(store_dir, tmp_path / "cache"))
    assert code == 2 and err == f"hmrec: error: {said}\n", err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "never.csv").exists()


@pytest.mark.bad_input("cache-manifest-damaged")
def test_manifests_round_trip_and_a_damaged_one_is_refused_naming_its_file(
    cli, store_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    ranked = _rank(cli, store_dir, cache, "--train-weeks", "2")
    entry = next(e for e in Cache(cache).entries("rankings") if e.label == ranked["name"])
    manifest = RankingManifest.of(entry)
    assert manifest.as_dict() == entry.manifest and RankingManifest.from_dict(manifest.as_dict()) == manifest
    assert manifest.train_weeks == ranked["train_weeks"] and manifest.figures["map@12"] == ranked["figures"]["map@12"]
    for label in manifest.source_sets:
        source = next(e for e in Cache(cache).entries("candidates") if e.label == label)
        assert CandidateManifest.of(source).as_dict() == source.manifest

    path = entry.path.with_suffix(".json")
    for field, value, said in (
        ("train_weeks", "two", "manifest field train_weeks is 'two', not list[str]"),
        ("training_rows", None, "manifest field training_rows is missing"),
    ):
        damaged = {**entry.manifest, field: value} if value is not None else {**entry.manifest}
        damaged.pop(field) if value is None else None
        path.write_text(json.dumps(damaged))
        code, _, err = cli(
            "rank", "--ranker", "merge", "--candidates", "popular,repurchase", "--train-weeks", "2",
            *_common(store_dir, cache),
        )  # fmt: skip
        assert code == 2 and err.startswith(f"hmrec: error: {path}: {said}") and err.count("\n") == 1, err
        assert RankingManifest.readable(entry.__class__(entry.path, damaged)) is None  # a listing skips it
