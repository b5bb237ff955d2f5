"""Hardening II (issue 26), parameters and outputs: values past any range end in one refusal,
scores that are not finite are never cached, outputs never land inside the store or the cache,
a submission never goes without its sidecar, and kept or unwritten settings are said so."""

from __future__ import annotations

import dataclasses
import re
import shutil
import typing
from pathlib import Path

import pytest

from hmrec_cli.params import AtMost, Between, declared
from hmrec_cli.registry import built_in

BUILT_IN = built_in()


def refused(code: int, err: str, *words: str) -> None:
    """Exit 2 with every word in what stderr says (Typer's usage errors included)."""
    assert code == 2, err
    assert all(w in err for w in words), err


@pytest.mark.bad_input("value-past-its-bound")
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["recall", "--method", "popular", "--k", "99999999999999999999"], ["--k"]),
        (
            ["recall", "--method", "itemcf", "-o", "window_days=99999999"],
            ["window_days=99999999", "itemcf's window_days must be from 0 to 3660"],
        ),
        (
            ["recall", "--method", "usercf", "-o", "neighbours=99999999999999"],
            ["usercf's neighbours must be from 1 to 1000"],
        ),
        (
            ["recall", "--method", "youtube-dnn", "-o", "hidden=99999999999999"],
            ["youtube-dnn's hidden must be layer widths from 1 to 4096"],
        ),
        (["rank", "--candidates", "popular", "--ranker", "merge", "--seed", "-1"], ["--seed"]),
        (["recall", "--method", "popular", "--seed", str(2**32)], ["--seed"]),
        (["tune", "--method", "popular", "--weeks", "99999999"], ["--weeks"]),
        (["tune", "--method", "popular", "--holdout-weeks", "99999999"], ["--holdout-weeks"]),
        (
            ["rank", "--candidates", "popular", "--ranker", "merge", "--train-weeks", "99999999"],
            ["--train-weeks 99999999: the data starts"],
        ),
        (["submit", "--candidates", "popular", "--ranker", "merge", "--train-weeks", "99999999"], ["--train-weeks"]),
    ],
)
def test_a_value_past_any_range_is_refused_before_any_work(
    cli, store_dir: Path, tmp_path: Path, args: list[str], words: list[str]
) -> None:
    code, _, err = cli(*args, "--data", store_dir, "--cache", tmp_path / "cache", "-q")
    refused(code, err, *words)
    assert "Traceback" not in err and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("command", [["data", "sample", "--out", "sampled"], ["data", "synth", "--out", "synth"]])
def test_a_negative_seed_is_refused_by_data_sample_and_synth(
    cli, store_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    store = ["--data", store_dir] if command[1] == "sample" else []
    code, _, err = cli(*command[:-1], tmp_path / command[-1], *store, "--seed", "-1")
    refused(code, err, "--seed")
    assert not (tmp_path / command[-1]).exists()


def test_the_largest_seed_is_accepted(cli, store_dir: Path, tmp_path: Path) -> None:
    out = cli.json(
        "recall", "--method", "popular", "--seed", str(2**32 - 1), "--data", store_dir, "--cache", tmp_path / "cache"
    )
    assert out["seed"] == 2**32 - 1


def test_a_window_past_its_bound_in_the_config_file_names_the_file_and_key(
    cli, store_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "hmrec.toml"
    config.write_text("[plugins.itemcf]\nwindow_days = 99999999\n")
    code, _, err = cli(
        "recall", "--method", "itemcf", "--data", store_dir, "--cache", tmp_path / "cache", "--config", config
    )
    assert code == 2 and err.count("\n") == 1
    assert f"{config}: plugins.itemcf.window_days = 99999999: itemcf's window_days must be from 0 to 3660" in err


@pytest.mark.parametrize("plugin", BUILT_IN, ids=[f"{p.kind}-{p.name}" for p in BUILT_IN])
def test_every_numeric_parameter_declares_an_upper_bound(plugin) -> None:
    params = plugin.load().Params
    hints = typing.get_type_hints(params)
    for f in dataclasses.fields(params):
        valid = declared(f).valid
        if hints[f.name] in (int, float):
            assert isinstance(valid, (Between, AtMost)), f"{plugin.name}: {f.name} has no upper bound ({valid})"


def test_plugins_show_lists_the_upper_bounds(cli) -> None:
    shown = {p["name"]: p["valid"] for p in cli.json("plugins", "show", "itemcf")["parameters"]}
    assert shown["window_days"] == "from 0 to 3660" and shown["neighbours"] == "from 1 to 1000"


@pytest.mark.bad_input("scores-not-finite")
def test_a_retriever_whose_scores_are_not_finite_fails_and_caches_nothing(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code, _, err = cli(
        "recall", "--method", "popular", "-o", "half_life_days=1e-320", "--data", store_dir, "--cache", cache, "-q"
    )
    assert code == 2 and err.count("\n") == 1, err
    assert "retriever popular with half_life_days=1e-320 gave" in err and "not finite" in err
    assert not list(cache.rglob("*.parquet"))


def test_a_ranker_whose_scores_are_not_finite_fails_and_caches_no_ranking(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code, _, err = cli(
        "rank",
        "--ranker",
        "merge",
        "--candidates",
        "popular,repurchase",
        "--train-weeks",
        "1",
        "-o",
        "tune=false",
        "-o",
        "weights=popular=nan",
        "--data",
        store_dir,
        "--cache",
        cache,
        "-q",
    )
    assert code == 2 and err.count("\n") == 1, err
    assert "ranker merge with weights=popular=nan, tune=false gave" in err and "not finite" in err
    assert not list((cache / "rankings").rglob("*.parquet"))


@pytest.fixture
def own_store(store_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny store, free to be damaged by a command that should not touch it."""
    return Path(shutil.copytree(store_dir, tmp_path / "hm"))


@pytest.mark.bad_input("out-inside-store-or-cache")
@pytest.mark.parametrize(
    ("command", "inside", "target"),
    [
        (["submit", "--candidates", "popular"], "store", "transactions.parquet"),
        (["submit", "--candidates", "popular"], "cache", "candidates/popular/2020-09-23/k.parquet"),
        (["report"], "cache", "report.html"),
        (["report"], "store", "report.html"),
        (["data", "sample"], "source store", "sampled"),
    ],
)
def test_an_output_inside_the_store_or_the_cache_is_refused_before_any_work(
    cli, own_store: Path, tmp_path: Path, command, inside, target
) -> None:
    cache = tmp_path / "cache"
    folder = cache if inside == "cache" else own_store
    out = folder / target
    out.parent.mkdir(parents=True, exist_ok=True)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    extra = [] if command[0] == "data" else ["--cache", cache]
    code, _, err = cli(*command, "--data", own_store, *extra, "--out", out)
    assert code == 2 and err.count("\n") == 1 and f"--out {out}: is inside the {inside}" in err, err
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    if inside != "cache":
        assert not cache.exists()


def test_an_output_linked_into_the_store_is_refused(cli, own_store: Path, tmp_path: Path) -> None:
    link = tmp_path / "submission.csv"
    link.symlink_to(own_store / "customers.parquet")
    before = (own_store / "customers.parquet").read_bytes()
    code, _, err = cli(
        "submit", "--candidates", "popular", "--data", own_store, "--cache", tmp_path / "cache", "--out", link
    )
    assert code == 2 and "is inside the store" in err
    assert (own_store / "customers.parquet").read_bytes() == before and not (tmp_path / "cache").exists()


@pytest.mark.bad_input("disk-full")
def test_a_full_disk_at_the_sidecar_leaves_no_submission_without_its_sidecar(
    cli, store_dir: Path, tmp_path: Path, file_size_limit
) -> None:
    """The sidecar outgrows the submission (the command's 30,000 repeated -o land in it), so a
    file size limit between the two fails the sidecar alone: neither file may appear."""
    cache, out = tmp_path / "cache", tmp_path / "out" / "submission.csv"
    options = ["-o", "window_days=7"] * 30_000
    code, _, err = cli(
        "submit",
        "--candidates",
        "popular",
        *options,
        "--data",
        store_dir,
        "--cache",
        cache,
        "--out",
        tmp_path / "first.csv",
        "-q",
    )
    assert code == 0, err
    assert (tmp_path / "first.csv").stat().st_size < 500_000 < (tmp_path / "first.csv.json").stat().st_size
    out.parent.mkdir()
    with file_size_limit(500_000):
        code, _, err = cli(
            "submit", "--candidates", "popular", *options, "--data", store_dir, "--cache", cache, "--out", out, "-q"
        )
    assert code == 2 and err.count("\n") == 1 and f"cannot write {out}" in err, err
    assert list(out.parent.iterdir()) == []


KEEP_MERGE = [
    "--ranker",
    "lgbm",
    "--candidates",
    "popular,repurchase",
    "--train-weeks",
    "2",
    "-o",
    "min_gain_se=100",
]  # no gain clears 100 SE


def test_rank_says_when_a_learned_ranker_kept_merges_order_and_shows_merge_beside_it(
    cli, store_dir: Path, tmp_path: Path
) -> None:
    code, out, err = cli("rank", *KEEP_MERGE, "--data", store_dir, "--cache", tmp_path / "cache", "-q")
    assert code == 0, err
    said = [line for line in out.splitlines() if "kept merge's order" in line]
    assert (
        len(said) == 1
        and re.match(r"lgbm kept merge's order: gain [+-]0\.\d{4} ± 0\.\d{4} on \d+ held-out buyers of ", said[0])
        and said[0].endswith("training week, below 100 SE")
    )
    table = out.split("the week's buyers", 1)[1]
    assert "merge (the order lgbm kept)" in table
    assert "is below merge" not in err  # a kept order differs from merge's only in ties


def test_submit_with_a_ranker_says_when_it_kept_merges_order(cli, store_dir: Path, tmp_path: Path) -> None:
    code, out, err = cli(
        "submit", *KEEP_MERGE, "--data", store_dir, "--cache", tmp_path / "cache", "--out", tmp_path / "s.csv", "-q"
    )
    assert code == 0, err
    assert out.splitlines()[-1].startswith("lgbm kept merge's order: gain ") and "below 100 SE" in out


TUNE = [
    "tune",
    "--method",
    "itemcf",
    "--weeks",
    "2",
    "--trials",
    "4",
    "--k",
    "50",
]  # its best gains within the noise on the hold-out


def test_tune_writes_no_setting_whose_holdout_gain_is_within_the_noise(cli, store_dir: Path, tmp_path: Path) -> None:
    config, cache = tmp_path / "hmrec.toml", tmp_path / "cache"
    code, out, err = cli(*TUNE, "--data", store_dir, "--cache", cache, "--config", config, "-q")
    assert code == 0, err
    assert not config.exists()
    said = re.search(
        r"^not written: ([+-]\d\.\d{4}) ± (\d\.\d{4}) on the hold-out week, below 2 SE; to use it: -o ",
        out,
        flags=re.MULTILINE,
    )
    assert said is not None, out
    result = cli.json(*TUNE, "--data", store_dir, "--cache", cache, "--config", config)
    held = result["holdout"]
    assert not result["written"] and 0 < held["gain"] <= 2 * held["gain_se"]
    assert said.groups() == (f"{held['gain']:+.4f}", f"{held['gain_se']:.4f}")
    written = cli.json(*TUNE, "--data", store_dir, "--cache", cache, "--config", config, "--min-gain-se", "0")
    assert written["written"] and "[plugins.itemcf]" in config.read_text()


def test_tune_writes_nothing_when_the_settings_in_force_stay_best(cli, store_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "hmrec.toml"
    code, out, err = cli(
        *TUNE, "--trials", "1", "--data", store_dir, "--cache", tmp_path / "cache", "--config", config, "-q"
    )
    assert code == 0, err
    assert out.splitlines()[-1] == "not written: trial 0, the settings in force, stayed best" and not config.exists()
