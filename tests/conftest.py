"""Shared fixtures: a small Kaggle-format folder written by code, its store, and an in-process CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hmrec_cli.cli import app
from hmrec_cli.synth.world import SCALES, synthesize

TINY = SCALES["tiny"]
REAL_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "hm_real_sample"


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
    from hmrec_cli.ingest import ingest, locate_sources

    dest = tmp_path_factory.mktemp("store") / "hm"
    ingest(locate_sources(raw_master, {}), dest)
    return dest
