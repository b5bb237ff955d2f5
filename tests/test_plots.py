"""Recall curves and training curves: in the terminal, in PNG/SVG files, and the numbers behind them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hmrec_cli.pipeline.recall import candidate_scores
from hmrec_cli.reports.candidates_report import recall_sums


def test_recall_sums_equal_the_macro_recall_of_candidate_scores(store_dir: Path) -> None:
    from hmrec_cli.data.splits import resolve_week, truth
    from hmrec_cli.data.store import Store

    store = Store.open(store_dir)
    week = resolve_week("last", store.first_date, store.last_date)
    target = truth(store.transactions, week)
    rng = np.random.default_rng(0)
    buyers = target["customer"].unique().to_numpy()
    cands = (
        pl.DataFrame(
            {
                "customer": np.repeat(buyers, 60).astype(np.uint32),
                "article": rng.integers(0, store.articles.height, buyers.size * 60).astype(np.uint32),
            }
        )
        .unique(["customer", "article"])
        .with_columns(
            score=(pl.int_range(pl.len()) % 7).cast(pl.Float32)
        )  # ties on purpose: broken by article id in both
    )
    curve = recall_sums(cands, target, 100) / buyers.size
    scores = candidate_scores(cands, target)
    for k in (12, 50, 100):
        assert curve[k - 1] == pytest.approx(scores[f"recall@{k}"].mean())
    assert (np.diff(curve) >= 0).all()


def test_evaluate_candidates_draws_and_writes_recall_curves(cli, store_dir: Path, tmp_path: Path) -> None:
    svg = tmp_path / "recall.svg"
    code, out, err = cli(
        "evaluate",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
        "--candidates",
        "popular,repurchase",
        "--plot",
        "--plot-out",
        svg,
    )
    assert code == 0, err
    chart = out.split("By buyer segment", 1)[1]
    assert (
        "recall@K" in chart and "popular" in chart and "repurchase" in chart and "\x1b[" not in chart
    )  # no colour codes in a pipe
    assert svg.read_text().lstrip().startswith("<?xml") and "</svg>" in svg.read_text()
    curves = cli.json("evaluate", "--data", store_dir, "--cache", tmp_path / "c", "--candidates", "popular,repurchase")[
        "recall_curves"
    ]
    assert set(curves) >= {"popular", "repurchase"} and len(curves["popular"]) == 100


@pytest.mark.parametrize(
    "args", [["--candidates", "popular", "--plot-out", "x.txt"], ["--predictions", "din", "--plot"]]
)
def test_plot_options_refused_where_they_cannot_work(cli, store_dir: Path, tmp_path: Path, args: list[str]) -> None:
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", tmp_path, *args)
    assert code == 2 and err.count("\n") == 1 and "--plot" in err
