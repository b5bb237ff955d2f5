"""A submission says what it was fitted on, and scoring it on a week it has seen is flagged (issue 10:
`evaluate --week last` on a submission printed MAP@12 0.84, 574% of the oracle, without a word)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.data import provenance
from hmrec_cli.data.splits import history, resolve_week
from hmrec_cli.data.store import Store


@pytest.fixture(scope="module")
def submitted(store_dir: Path, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from hmrec_cli.cli import app

    out = tmp_path_factory.mktemp("submission") / "submission.csv"
    args = [
        "submit",
        "--data",
        str(store_dir),
        "--cache",
        str(out.parent / "cache"),
        "--candidates",
        "repurchase,popular",
        "--out",
        str(out),
        "-q",
    ]
    assert CliRunner().invoke(app, args, catch_exceptions=False).exit_code == 0
    return out


def test_submit_writes_a_sidecar_saying_what_it_was_fitted_on(store_dir: Path, submitted: Path) -> None:
    store = Store.open(store_dir)
    record = json.loads(provenance.sidecar(submitted).read_text())
    assert record["fingerprint"] == store.fingerprint and record["fitted_through"] == store.last_date.isoformat()
    assert record["week"] == (store.last_date + timedelta(days=1)).isoformat()
    assert record["command"]["name"] == "hmrec submit" and record["command"]["candidates"] == "repurchase,popular"
    assert record["file"]["bytes"] == submitted.stat().st_size


def test_scoring_a_submission_on_a_week_it_was_fitted_on_is_flagged(cli, store_dir: Path, submitted: Path) -> None:
    code, out, err = cli("evaluate", "--data", store_dir, "--week", "last", "--predictions", submitted)
    assert code == 0
    warning = [line for line in err.splitlines() if line.startswith("warning: submission.csv")]
    assert (
        len(warning) == 1 and "fitted on rows through" in warning[0] and warning[0].endswith("the score means nothing")
    )
    result = cli.json("evaluate", "--data", store_dir, "--week", "last", "--predictions", submitted)
    assert result["leaked"] is True and "fitted on rows through" in result["leak_reason"]


def test_without_a_sidecar_a_score_above_the_oracle_still_warns(
    cli, store_dir: Path, submitted: Path, tmp_path: Path
) -> None:
    bare = Path(shutil.copy(submitted, tmp_path / "copy.csv"))
    edited = Path(shutil.copy(submitted, tmp_path / "edited.csv"))
    shutil.copy(provenance.sidecar(submitted), provenance.sidecar(edited))
    pl.read_csv(edited).reverse().write_csv(edited)  # same predictions, other bytes: the sidecar no longer describes it
    for path in (bare, edited):
        result = cli.json("evaluate", "--data", store_dir, "--week", "last", "--predictions", path)
        assert result["share_of_oracle"] > 1
        assert result["leaked"] is True and "of the synthetic oracle's" in result["leak_reason"]


def test_predictions_fitted_before_the_week_are_not_flagged(cli, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    top = (
        history(store.transactions, week)
        .group_by("article")
        .len()
        .sort(["len", "article"], descending=[True, False])
        .head(12)
    )
    ids = store.articles.join(top, on="article").sort(["len", "article"], descending=[True, False])["article_id"]
    prediction = " ".join(f"{i:010d}" for i in ids)
    path = tmp_path / "popular.csv"
    store.customers.select("customer_id", prediction=pl.lit(prediction)).write_csv(path)
    provenance.write(path, store.fingerprint, week.start - timedelta(days=1), week.start)
    code, out, err = cli("evaluate", "--data", store_dir, "--week", "1", "--predictions", path, "--json")
    assert code == 0 and json.loads(out)["leaked"] is False and "means nothing" not in err
    pooled = cli.json(
        "evaluate",
        "--data",
        store_dir,
        "--week",
        "1",
        "--weeks",
        "2",
        "--predictions-dir",
        _dir_of(path, week, tmp_path),
    )
    assert pooled["leaked"] is True  # the same file, scored a week earlier, has seen that week
    assert [w["leaked"] for w in pooled["weeks"]] == [True, False]


def _dir_of(path: Path, week, tmp_path: Path) -> Path:
    """A --predictions-dir with the file for `week` and the same file, with its sidecar, for the week before."""
    folder = tmp_path / "dir"
    folder.mkdir()
    for w in (week.earlier(1), week):
        target = folder / f"{w.start.isoformat()}.csv"
        shutil.copy(path, target)
        shutil.copy(provenance.sidecar(path), provenance.sidecar(target))
    return folder
