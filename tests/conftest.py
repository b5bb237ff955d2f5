"""Shared fixtures: a small Kaggle-format folder written by code, its store, and an in-process CLI."""

from __future__ import annotations

import json
import resource
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hmrec_cli.cli import app
from hmrec_cli.data.ingest import ingest, locate_sources
from hmrec_cli.data.splits import resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.synth.world import SCALES, synthesize

TINY = SCALES["tiny"]
REAL_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "hm_real_sample"


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "bad_input(case): the test covers this row of the README's table of bad input")


@pytest.fixture
def file_size_limit():
    """A context manager that makes every file this process writes stop at `size` bytes (EFBIG),
    which is how a full disk looks to a writer."""

    @contextmanager
    def limit(size: int):
        handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, handler)

    return limit


class Cli:
    """Runs `hmrec` in-process, as a user would type it; returns (exit code, stdout, stderr)."""

    def __call__(self, *args: str | Path) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    def json(self, *args: str | Path) -> dict:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session")
def raw_master(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("raw") / "kaggle"
    synthesize(folder, TINY, seed=7)
    return folder


@pytest.fixture
def raw(raw_master: Path, tmp_path: Path) -> Path:
    """A private copy of the world's Kaggle files (no oracle), free to be edited by the test."""
    copy = Path(shutil.copytree(raw_master, tmp_path / "kaggle"))
    (copy / "oracle.parquet").unlink()
    return copy


@pytest.fixture(scope="session")
def store_dir(raw_master: Path, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("store") / "hm"
    ingest(locate_sources(raw_master, {}), dest)
    return dest


@pytest.fixture(scope="session")
def altered_store(raw_master: Path, tmp_path_factory) -> Path:
    """The same world with every row from week 1 on changed (articles shifted, some rows dropped);
    the unchanged world's store is beside it, at `altered_store.parent / "original"`."""
    folder = tmp_path_factory.mktemp("future") / "raw"
    shutil.copytree(raw_master, folder)
    (folder / "oracle.parquet").unlink()
    store = Store.open(_ingest(raw_master, folder.parent / "original"))
    cut = resolve_week("1", store.first_date, store.last_date).start.isoformat()
    tx = pl.read_csv(folder / "transactions_train.csv", infer_schema=False)
    articles = tx["article_id"].unique().sort()
    future = pl.col("t_dat") >= cut
    shifted = tx.with_columns(
        pl.when(future)
        .then(pl.col("article_id").replace_strict(articles, articles.shift(1).fill_null(articles[-1])))
        .otherwise("article_id")
        .alias("article_id")
    ).filter(~future | (pl.int_range(pl.len()) % 3 != 0))
    shifted.write_csv(folder / "transactions_train.csv")
    return _ingest(folder, folder.parent / "altered")


def _ingest(raw: Path, dest: Path) -> Path:
    if not dest.exists():
        ingest(locate_sources(raw, {}), dest)
    return dest
