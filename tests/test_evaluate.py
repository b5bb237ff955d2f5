"""`hmrec evaluate`: Kaggle submission files in, MAP@12 out, for one week or rolling weeks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.data.splits import resolve_week, truth
from hmrec_cli.data.store import Store
from hmrec_cli.metrics import average_precision


def week_truth(store: Store, spec: str = "last") -> pl.DataFrame:
    return truth(store.transactions, resolve_week(spec, store.first_date, store.last_date))


def submission(store: Store, lists: dict[int, list[int]], padded: bool = True) -> pl.DataFrame:
    """Kaggle-format rows from dense customer -> dense article lists."""
    ids = store.customers["customer_id"]
    arts = store.articles["article_id"]
    fmt = (lambda a: f"{a:010d}") if padded else str
    return pl.DataFrame(
        {
            "customer_id": [ids[c] for c in lists],
            "prediction": [" ".join(fmt(arts[a]) for a in v) for v in lists.values()],
        }
    )


def oracle_lists(store: Store, spec: str = "last") -> dict[int, list[int]]:
    t = week_truth(store, spec).group_by("customer").agg("article")
    return dict(zip(t["customer"].to_list(), t["article"].to_list(), strict=True))


def test_perfect_predictions_score_one(cli, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    submission(store, oracle_lists(store)).write_csv(tmp_path / "s.csv")
    result = cli.json("evaluate", "--data", store_dir, "--week", "last", "--predictions", tmp_path / "s.csv")
    assert result["map@12"] == pytest.approx(1.0)
    assert result["scored_customers"] == week_truth(store)["customer"].n_unique()
    assert result["customers_with_history"] + result["customers_without_history"] == result["scored_customers"]
    assert (result["week"], result["week_end"]) == ("2020-09-16", "2020-09-22")


def test_file_score_equals_metric_on_the_same_lists(cli, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    target = week_truth(store)
    buyers = target["customer"].unique().sort().to_list()
    lists = {c: [(c * 7 + i) % store.articles.height for i in range(12)] for c in buyers[::2]}
    lists.update({c: oracle_lists(store)[c][:1] + [0, 1] for c in buyers[1::4]})
    submission(store, lists, padded=False).write_csv(tmp_path / "plain.csv")
    submission(store, lists, padded=True).write_csv(tmp_path / "padded.csv")
    long = pl.DataFrame(
        [(c, a, r) for c, v in lists.items() for r, a in enumerate(v)],
        schema={"customer": pl.UInt32, "article": pl.Int64, "rank": pl.UInt32},
        orient="row",
    )
    expected = float(average_precision(long, target)["ap"].mean())
    for name in ("plain.csv", "padded.csv"):
        got = cli.json("evaluate", "--data", store_dir, "--predictions", tmp_path / name)
        assert got["map@12"] == pytest.approx(expected)
        assert got["predicted_customers"] == len(lists)


def test_unknown_customers_warn_and_unknown_articles_miss(cli, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    lists = oracle_lists(store)
    rows = submission(store, lists)
    first = rows["customer_id"][0]
    stranger = pl.DataFrame({"customer_id": ["f" * 64], "prediction": ["0108775015"]})
    rows = pl.concat([rows, stranger]).with_columns(
        pl.when(pl.col("customer_id") == first)
        .then("0999999999 " + pl.col("prediction"))
        .otherwise("prediction")
        .alias("prediction")
    )
    rows.write_csv(tmp_path / "s.csv")
    code, out, err = cli("evaluate", "--data", store_dir, "--predictions", tmp_path / "s.csv")
    assert code == 0
    assert "1 customer not in the store was ignored" in err
    result = cli.json("evaluate", "--data", store_dir, "--predictions", tmp_path / "s.csv")
    n_first = len(lists[store.customers.filter(pl.col("customer_id") == first)["customer"][0]])
    first_ap = sum((i) / (i + 1) for i in range(1, min(n_first, 11) + 1)) / min(12, n_first)
    assert result["map@12"] == pytest.approx((len(lists) - 1 + first_ap) / len(lists))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("customer_id,prediction\n{c},0108775015 12ab\n", "s.csv, row 1: '12ab' is not an article id"),
        ("customer_id,prediction\n{c},1\n{c},2\n", "s.csv, row 2: customer_id listed twice"),
        ("customer,prediction\n{c},1\n", "s.csv: missing required column 'customer_id' (found: customer, prediction)"),
        ("customer_id\n{c}\n", "s.csv: missing column 'prediction' (found: customer_id)"),
        ("", "s.csv: file is empty"),
    ],
)
def test_malformed_prediction_files_are_one_line_errors(
    cli, store_dir: Path, tmp_path: Path, content: str, message: str
) -> None:
    c = Store.open(store_dir).customers["customer_id"][0]
    (tmp_path / "s.csv").write_text(content.format(c=c))
    code, _, err = cli("evaluate", "--data", store_dir, "--predictions", tmp_path / "s.csv")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_rolling_back_test_pools_customer_weeks(cli, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    preds = tmp_path / "preds"
    preds.mkdir()
    aps = []
    for spec in ("2", "1", "last"):
        week = resolve_week(spec, store.first_date, store.last_date)
        lists = {c: v[:1] + [0] for c, v in list(oracle_lists(store, spec).items())[::2]}
        submission(store, lists).write_csv(preds / f"{week.start}.csv")
        long = pl.DataFrame(
            [(c, a, r) for c, v in lists.items() for r, a in enumerate(v)],
            schema={"customer": pl.UInt32, "article": pl.Int64, "rank": pl.UInt32},
            orient="row",
        )
        aps.append(average_precision(long, week_truth(store, spec))["ap"])
    report = cli.json("evaluate", "--data", store_dir, "--weeks", "3", "--predictions-dir", preds)
    pooled = pl.concat(aps)
    assert report["customer_weeks"] == pooled.len()
    assert report["map@12"] == pytest.approx(pooled.mean())
    assert report["stderr"] == pytest.approx(pooled.std() / pooled.len() ** 0.5)
    assert [w["week"] for w in report["weeks"]] == ["2020-09-02", "2020-09-09", "2020-09-16"]
    assert [w["map@12"] for w in report["weeks"]] == pytest.approx([a.mean() for a in aps])
    code, out, _ = cli("evaluate", "--data", store_dir, "--weeks", "3", "--predictions-dir", preds)
    assert code == 0 and "pooled MAP@12" in out


def test_rolling_back_test_names_a_missing_week_file(cli, store_dir: Path, tmp_path: Path) -> None:
    code, _, err = cli("evaluate", "--data", store_dir, "--weeks", "2", "--predictions-dir", tmp_path)
    assert code == 2 and "2020-09-09.csv: no such file" in err


def test_options_that_cannot_go_together(cli, store_dir: Path, tmp_path: Path) -> None:
    code, _, err = cli("evaluate", "--data", store_dir, "--predictions", "merge", "--predictions-dir", tmp_path)
    assert code == 2 and "exactly one of --predictions" in err
    code, _, err = cli("evaluate", "--data", store_dir, "--week", "next", "--predictions", tmp_path / "x.csv")
    assert code == 2 and "nothing to score" in err
