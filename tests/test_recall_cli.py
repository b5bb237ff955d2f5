"""`hmrec recall`, `plugins`, `cache`, `evaluate --candidates`, `submit`, and the example plugin."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hmrec_plugins.repurchase import Repurchase

from hmrec_cli.data.store import Store
from hmrec_cli.plugin_api import Context, RunSettings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hmrec-example-plugin"


def test_recall_caches_and_reports(cli, store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    args = ["recall", "--method", "repurchase", "--data", store_dir, "--cache", tmp_path, "--k", "50"]
    first = cli.json(*args)

    def fitted_again(*_):
        raise AssertionError("a cached candidate set was computed again")

    # served without fitting (a timing comparison of the two calls failed on a loaded machine)
    monkeypatch.setattr(Repurchase, "fit", fitted_again)
    second = cli.json(*args)
    assert first["key"] == second["key"] and first["created"] == second["created"]  # served from the cache
    assert first["cached"] is False and second["cached"] is True
    code, out, _ = cli(*args)
    assert code == 0 and f"from cache (computed {first['created'][:10]}" in out and "s to compute" not in out
    monkeypatch.undo()
    assert 0 < first["figures"]["recall@all"] <= 1 and first["figures"]["candidates_per_customer"] <= 50
    assert first["customers"] == "buyers"
    assert first["oracle_figures"]["map@12"] > first["figures"]["map@12"]  # the synthetic ceiling is shown
    forced = cli.json(*args, "--force")
    assert forced["created"] != first["created"] and forced["rows"] == first["rows"]
    other = cli.json(*args, "-o", "half_life_days=7")
    assert other["key"] != first["key"] and other["params"]["half_life_days"] == 7.0


def test_device_enters_the_key_only_of_plugins_that_use_one(cli, store_dir: Path, tmp_path: Path) -> None:
    args = ["recall", "--method", "popular", "--data", store_dir, "--cache", tmp_path, "--k", "12"]
    on_cpu, anywhere = cli.json(*args, "--device", "cpu"), cli.json(*args, "--device", "cuda", "--resume")
    assert on_cpu["key"] == anywhere["key"] and "device" not in on_cpu  # popular trains nothing: one cached set
    code, _, err = cli(*args, "--device", "tpu")
    assert code == 2 and "--device tpu: expected auto, cpu or cuda" in err


def test_cache_ls_and_clear(cli, store_dir: Path, tmp_path: Path) -> None:
    cli.json("recall", "--method", "popular", "--data", store_dir, "--cache", tmp_path, "--k", "12")
    cli.json("recall", "--method", "repurchase", "--data", store_dir, "--cache", tmp_path, "--k", "12")
    ls = cli.json("cache", "ls", "--cache", tmp_path)
    listed = ls["entries"]
    assert sorted(e["method"] for e in listed) == ["popular", "repurchase"]
    assert (
        ls["entries_bytes"] == sum(e["bytes"] for e in listed) > 0 and ls["total_bytes"] > ls["entries_bytes"]
    )  # + manifests
    code, out, _ = cli("cache", "clear", "--cache", tmp_path, "--method", "popular")
    assert code == 0 and "removed 1" in out
    assert [e["method"] for e in cli.json("cache", "ls", "--cache", tmp_path)["entries"]] == ["repurchase"]


def test_bad_plugin_options_are_one_line_errors(cli, store_dir: Path, tmp_path: Path) -> None:
    base = ["recall", "--data", store_dir, "--cache", tmp_path]
    code, _, err = cli(*base, "--method", "nope")
    assert code == 2 and "no retriever named 'nope'" in err
    code, _, err = cli(*base, "--method", "popular", "-o", "windw=3")
    assert (
        code == 2
        and "popular has no such parameter; did you mean window_days? (parameters: by_age, by_channel, exclude_bought, half_life_days, window_days)"
        in err
    )
    code, _, err = cli(*base, "--method", "popular", "-o", "zzz=3")
    assert code == 2 and "popular has no such parameter (parameters:" in err and "did you mean" not in err
    code, _, err = cli(*base, "--method", "popular", "-o", "window_days=soon")
    assert code == 2 and "expected a whole number" in err


def test_plugins_list_and_show(cli) -> None:
    names = {p["name"]: p for p in cli.json("plugins")["plugins"]}
    assert {"popular", "repurchase", "same-product"} <= set(names)
    assert names["popular"]["distribution"].startswith("hmrec ")
    shown = cli.json("plugins", "show", "popular")
    assert [p["name"] for p in shown["parameters"]] == [
        "window_days",
        "half_life_days",
        "by_age",
        "by_channel",
        "exclude_bought",
    ]
    assert shown["parameters"][0]["default"] == 7 and shown["parameters"][0]["doc"]


def test_load_plugins_restricts_and_broken_plugins_are_reported(cli, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HMREC_LOAD_PLUGINS", "popular")
    assert [p["name"] for p in cli.json("plugins")["plugins"]] == ["popular"]
    monkeypatch.delenv("HMREC_LOAD_PLUGINS")
    _register(monkeypatch, tmp_path, "broken-one", "hmrec_missing_module:Nothing")
    rows = {p["name"]: p for p in cli.json("plugins")["plugins"]}
    assert rows["broken-one"]["summary"].startswith("broken: ModuleNotFoundError")
    assert rows["popular"]["summary"]


def _register(monkeypatch, root: Path, name: str, target: str, package_dir: Path | None = None) -> None:
    """Register an entry point the way an installed distribution does (a dist-info on sys.path)."""
    info = root / f"hmrec_test_{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hmrec-test-{name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[hmrec.retrievers]\n{name} = {target}\n")
    monkeypatch.syspath_prepend(str(root))
    if package_dir is not None:
        monkeypatch.syspath_prepend(str(package_dir))


def test_example_plugin_runs_through_the_cli(cli, monkeypatch, store_dir: Path, tmp_path: Path) -> None:
    _register(monkeypatch, tmp_path / "site", "newest", "hmrec_example_plugin:Newest", package_dir=EXAMPLE)
    assert "newest" in {p["name"] for p in cli.json("plugins")["plugins"]}
    result = cli.json(
        "recall",
        "--method",
        "newest",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "cache",
        "--k",
        "10",
        "-o",
        "min_sales=2",
    )
    assert result["rows"] == 10 * result["customer_count"] and result["params"] == {"min_sales": 2}


def test_evaluate_candidates_side_by_side(cli, store_dir: Path, tmp_path: Path) -> None:
    report = cli.json(
        "evaluate",
        "--data",
        store_dir,
        "--cache",
        tmp_path,
        "--candidates",
        "popular,repurchase,same-product",
        "--weeks",
        "2",
    )
    sets = {r["set"].split("@")[0]: r for r in report["sets"]}
    assert set(sets) == {"popular", "repurchase", "same-product", "union", "oracle"}
    assert (
        sets["union"]["recall@all"]
        >= max(sets[m]["recall@all"] for m in ("popular", "repurchase", "same-product")) - 1e-12
    )
    assert sets["oracle"]["map@12"] > sets["popular"]["map@12"]
    segments = {(r["set"], r["segment"]) for r in report["segments"]}
    assert ("repurchase", "never bought") in segments
    again = cli.json("evaluate", "--data", store_dir, "--cache", tmp_path, "--candidates", "popular", "--weeks", "2")
    assert again["sets"][0]["set"] == sets["popular"]["set"]  # the cached sets were reused and named


def test_submit_writes_a_valid_kaggle_file(cli, store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission.csv"
    code, text, err = cli(
        "submit",
        "--candidates",
        "repurchase,popular",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "cache",
        "--out",
        out,
        "-q",
    )
    assert code == 0, err
    store = Store.open(store_dir)
    sub = pl.read_csv(out, infer_schema=False)
    assert sub["customer_id"].to_list() == store.customers["customer_id"].gather(store.submission_customers).to_list()
    tokens = sub["prediction"].str.split(" ")
    assert (tokens.list.len() == 12).all() and tokens.explode().str.contains(r"^0\d{9}$").all()


def test_popular_known_answer(store_dir: Path) -> None:
    from hmrec_plugins.popular import Popular

    from hmrec_cli.data.splits import recent_history, resolve_week

    store = Store.open(store_dir)
    week = resolve_week("last", store.first_date, store.last_date)
    past = store.transactions.filter(pl.col("t_dat") < week.start)
    model = Popular()
    model.fit(Context(history=past, articles=store.articles, customers=store.customers, week=week), RunSettings())
    got = model.retrieve(pl.Series([0], dtype=pl.UInt32), 3)["article"].to_list()
    counts = recent_history(past, week, 7).group_by("article").len().sort(["len", "article"], descending=[True, False])
    assert got == counts["article"].head(3).to_list()


def test_recall_for_customers_listed_in_a_file(cli, store_dir: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    chosen = store.customers["customer_id"].head(5)
    (tmp_path / "who.txt").write_text("\n".join(chosen) + "\n")
    result = cli.json(
        "recall",
        "--method",
        "popular",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
        "--k",
        "7",
        "--customers",
        tmp_path / "who.txt",
    )
    assert result["customer_count"] == 5 and result["rows"] == 35 and result["customers"].startswith("file who.txt")


def _tiny_store(tmp_path: Path) -> Store:
    """A hand-made store: two customers, two products in two colours each, known histories."""
    from hmrec_cli.data.ingest import ingest, locate_sources

    raw = tmp_path / "raw"
    raw.mkdir()
    ids = {c: c * 64 for c in "abc"}
    (raw / "customers.csv").write_text("customer_id\n" + "\n".join(ids.values()) + "\n")
    (raw / "articles.csv").write_text(
        "article_id,product_code\n0100000001,0100000\n0100000002,0100000\n0200000001,0200000\n0200000002,0200000\n0300000001,0300000\n"
    )
    rows = [
        ("2020-09-01", "a", "0100000001"),
        ("2020-09-10", "a", "0200000001"),
        ("2020-09-10", "a", "0200000001"),
        ("2020-09-12", "b", "0300000001"),
        ("2020-09-13", "b", "0300000001"),
        ("2020-09-14", "b", "0100000002"),
        ("2020-09-15", "b", "0300000001"),
        ("2020-09-16", "a", "0300000001"),
    ]
    (raw / "transactions_train.csv").write_text(
        "t_dat,customer_id,article_id,price,sales_channel_id\n"
        + "".join(f"{d},{ids[c]},{a},0.01,2\n" for d, c, a in rows)
    )
    ingest(locate_sources(raw, {}), tmp_path / "hm")
    return Store.open(tmp_path / "hm")


def _fit(plugin, store: Store, **params):
    from hmrec_cli.data.splits import history, resolve_week

    week = resolve_week("last", store.first_date, store.last_date)  # 2020-09-10 .. 2020-09-16
    model = plugin(plugin.Params(**params))
    model.fit(
        Context(
            history=history(store.transactions, week), articles=store.articles, customers=store.customers, week=week
        ),
        RunSettings(),
    )
    return model


def _ids(store: Store, frame: pl.DataFrame, customer: int) -> list[int]:
    arts = frame.filter(pl.col("customer") == customer).sort("score", "article", descending=[True, False])["article"]
    return store.articles["article_id"].gather(arts).to_list()


def test_repurchase_known_answer(tmp_path: Path) -> None:
    from hmrec_plugins.repurchase import Repurchase

    store = _tiny_store(tmp_path)
    got = _fit(Repurchase, store, half_life_days=30.0).retrieve(pl.Series([0, 1, 2], dtype=pl.UInt32), 5)
    assert _ids(store, got, 0) == [100000001]  # a's only purchase before the week (09-10 onwards is the week)
    assert _ids(store, got, 1) == [100000001]  # b bought only inside the week: cold, gets the popular fill ...
    assert got.filter(pl.col("customer") == 1)["score"].max() < 1e-5  # ... scored below any own article


def test_same_product_known_answer(tmp_path: Path) -> None:
    from hmrec_plugins.same_product import SameProduct

    store = _tiny_store(tmp_path)
    got = _fit(SameProduct, store).retrieve(pl.Series([0], dtype=pl.UInt32), 5)
    assert _ids(store, got, 0) == [100000002]  # the other colour of the product a bought, not a's own
