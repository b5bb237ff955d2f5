"""`hmrec data ingest ORDERS --customer COL --item COL --date COL`: a shop's own order log in, its own ids out."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hmrec_cli.data.store import Store
from hmrec_cli.pipeline.evaluation import read_submission
from hmrec_cli.pipeline.source_choice import POLICY, offered

# customers named as a shop names them: spaces (leading too), non-ASCII, numbers as text
CUSTOMERS = ["Anna Müller", " Ørjan Ødegård", "Zoë 12", "0017", "17", "李 明", *(f"Kunde {i}" for i in range(30))]
# items: leading zeros that must survive, a non-ASCII id, product variants (the -colour suffix)
ITEMS = ["007", "7", "0042", "SKU-α", *(f"P{p:02d}-{c}" for p in range(8) for c in ("red", "blue"))]
LOG_MAPPING = (
    "--customer",
    "Kundennummer",
    "--item",
    "Artikel",
    "--date",
    "Bestelldatum",
    "--date-format",
    "%d.%m.%Y",
    "--price",
    "Preis",
)


def write_log(path: Path, weeks: int = 8, seed: int = 3) -> pl.DataFrame:
    """A shop's order log with its own column names (none of H&M's), 40 orders a day; "007" sells most."""
    rng = np.random.default_rng(seed)
    days = weeks * 7
    n = days * 40
    weights = np.linspace(3, 1, len(ITEMS))
    weights[0] = 8
    log = pl.DataFrame(
        {
            "Bestelldatum": [
                (date(2024, 1, 1) + timedelta(days=int(d))).strftime("%d.%m.%Y") for d in np.repeat(np.arange(days), 40)
            ],
            "Kundennummer": [CUSTOMERS[i] for i in rng.integers(0, len(CUSTOMERS), n)],
            "Artikel": [ITEMS[i] for i in rng.choice(len(ITEMS), n, p=weights / weights.sum())],
            "Preis": [f"{p:.2f}" for p in rng.uniform(1, 30, n)],
        }
    )
    log.write_csv(path)
    return log


def write_items(path: Path) -> None:
    """Item attributes: the product is the id without its colour, the group a made-up category."""
    pl.DataFrame(
        {
            "SKU": ITEMS,
            "Produkt": [i.split("-")[0] if i.startswith("P") else i for i in ITEMS],
            "Warengruppe": ["Hüte" if i.startswith("P0") else "Schals" for i in ITEMS],
        }
    ).write_csv(path)


@pytest.fixture
def shop(tmp_path: Path, cli) -> tuple[Path, pl.DataFrame]:
    log = write_log(tmp_path / "orders.csv")
    code, _, err = cli("data", "ingest", tmp_path / "orders.csv", *LOG_MAPPING, "--data", tmp_path / "shop", "-q")
    assert code == 0, err
    return tmp_path / "shop", log


def test_a_log_with_its_own_columns_ingests_by_mapping(shop, cli) -> None:
    store_path, log = shop
    store = Store.open(store_path)
    assert sorted(store.customers["customer_id"].to_list()) == sorted(
        set(log["Kundennummer"])
    )  # " Ørjan Ødegård" with its space
    assert sorted(store.articles["item_id"].to_list()) == sorted(set(log["Artikel"]))
    assert store.transactions.height == log.height
    assert store.transactions["price"].sum() == pytest.approx(
        log["Preis"].cast(pl.Float64).sum(), rel=1e-5
    )  # prices kept
    assert str(store.first_date) == "2024-01-01"
    info = cli.json("data", "info", "--data", store_path)
    assert info["order_log"]["customer"] == "Kundennummer" and info["order_log"]["date_format"] == "%d.%m.%Y"
    code, out, _ = cli("data", "info", "--data", store_path)
    assert code == 0 and "Bestelldatum" in out


def test_rank_submit_and_evaluate_speak_the_shops_ids(shop, cli, tmp_path: Path) -> None:
    store_path, log = shop
    where = ("--data", store_path, "--cache", tmp_path / "cache")
    ranked = cli.json("rank", "--ranker", "merge", "--candidates", "popular,repurchase", "--week", "next", *where, "-q")
    assert ranked["customer_count"] == len(set(log["Kundennummer"]))
    code, _, err = cli(
        "submit", "--ranker", "merge", "--candidates", "popular,repurchase", "--out", tmp_path / "s.csv", *where, "-q"
    )
    assert code == 0, err
    submission = pl.read_csv(tmp_path / "s.csv", infer_schema=False)
    assert sorted(submission["customer_id"].to_list()) == sorted(set(log["Kundennummer"]))
    tokens = submission["prediction"].str.split(" ").explode()
    assert set(tokens) <= set(log["Artikel"]) and "007" in set(tokens)  # the shop's ids, leading zeros kept, no padding
    store = Store.open(store_path)
    predictions = read_submission(tmp_path / "s.csv", store)
    assert predictions.unknown_articles == 0 and predictions.unknown_customers == 0
    back = (
        predictions.frame.join(store.customers.select("customer", "customer_id"), on="customer")
        .join(store.article_labels().with_columns(pl.col("article").cast(pl.Int64)), on="article")
        .sort("customer_id", "rank")
        .group_by("customer_id", maintain_order=True)
        .agg(prediction=pl.col("label").str.join(" "))
    )
    assert back.equals(submission.sort("customer_id"))  # read back, every id maps to the very same text
    scored = cli.json("evaluate", "--week", "last", "--predictions", tmp_path / "s.csv", *where)
    assert scored["predicted_customers"] == submission.height and scored["unknown_customers_ignored"] == 0


def test_numeric_item_ids_keep_their_text(tmp_path: Path, cli) -> None:
    rows = "who,what,when\n1,007,2024-01-01\n2,7,2024-01-02\n1,0042,2024-01-09\n"
    (tmp_path / "zeros.csv").write_text(rows)
    code, _, err = cli(
        "data",
        "ingest",
        tmp_path / "zeros.csv",
        "--customer",
        "who",
        "--item",
        "what",
        "--date",
        "when",
        "--data",
        tmp_path / "zeros",
        "-q",
    )
    assert code == 0, err
    articles = Store.open(tmp_path / "zeros").articles
    assert articles["item_id"].to_list() == ["0042", "007", "7"]  # "007" and "7" stay two items
    (tmp_path / "plain.csv").write_text("who,what,when\n1,108775015,2024-01-01\n2,7,2024-01-02\n")
    code, _, err = cli(
        "data",
        "ingest",
        tmp_path / "plain.csv",
        "--customer",
        "who",
        "--item",
        "what",
        "--date",
        "when",
        "--data",
        tmp_path / "plain",
        "-q",
    )
    assert code == 0, err
    articles = Store.open(tmp_path / "plain").articles
    assert articles["article_id"].to_list() == [7, 108775015] and articles["item_id"].to_list() == ["7", "108775015"]


def test_same_product_needs_a_product_attribute(shop, cli, tmp_path: Path) -> None:
    store_path, _ = shop
    code, out, err = cli(
        "recall", "--method", "same-product", "--data", store_path, "--cache", tmp_path / "cache", "-q"
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "no product attribute" in err
    store = Store.open(store_path)
    assert offered(store, POLICY.start) == ("popular", "repurchase", "itemcf")  # the default sources and auto's start
    assert "same-product" not in offered(store, POLICY.pool)  # what --candidates auto fits
    ranked = cli.json("rank", "--ranker", "merge", "--data", store_path, "--cache", tmp_path / "cache", "-q")
    assert ranked["sources"] == ["popular", "repurchase", "itemcf"]

    write_items(tmp_path / "items.csv")
    mapped = (
        *LOG_MAPPING,
        "--items",
        tmp_path / "items.csv",
        "--item-key",
        "SKU",
        "--product",
        "Produkt",
        "--group",
        "Warengruppe",
    )
    code, _, err = cli("data", "ingest", tmp_path / "orders.csv", *mapped, "--data", tmp_path / "with-products", "-q")
    assert code == 0, err
    store = Store.open(tmp_path / "with-products")
    assert offered(store, POLICY.start) == POLICY.start
    assert store.articles.filter(pl.col("item_id").str.starts_with("P00"))["product_code"].n_unique() == 1
    assert set(store.articles["product_group_name"].cast(pl.String)) == {"Hüte", "Schals"}
    made = cli.json(
        "recall", "--method", "same-product", "--data", tmp_path / "with-products", "--cache", tmp_path / "cache", "-q"
    )
    candidates = pl.read_parquet(made["path"]).join(store.articles.select("article", "product_code"), on="article")
    bought = (
        store.transactions.join(store.articles.select("article", "product_code"), on="article")
        .select("customer", "product_code")
        .unique()
    )
    own = candidates.filter(pl.col("customer").is_in(bought["customer"].implode())).head(200)
    assert (
        own.height and own.join(bought, on=["customer", "product_code"], how="anti").height < own.height
    )  # variants of bought products


def test_an_item_id_with_a_space_cannot_enter_a_submission(tmp_path: Path, cli) -> None:
    (tmp_path / "o.csv").write_text(
        "c,i,d\na,whole milk,2024-01-01\nb,rolls,2024-01-02\na,rolls,2024-01-09\nb,whole milk,2024-01-15\n"
    )
    code, _, err = cli(
        "data",
        "ingest",
        tmp_path / "o.csv",
        "--customer",
        "c",
        "--item",
        "i",
        "--date",
        "d",
        "--data",
        tmp_path / "s",
        "-q",
    )
    assert code == 0, err
    code, _, err = cli(
        "submit",
        "--candidates",
        "popular",
        "--data",
        tmp_path / "s",
        "--cache",
        tmp_path / "cache",
        "--out",
        tmp_path / "sub.csv",
        "-q",
    )
    assert code == 2 and "'whole milk' holds a space" in err and not (tmp_path / "sub.csv").exists()


BAD = {
    "missing column": (
        "Kundennummer,Artikel,Tag\nA,1,2024-01-01\n",
        "missing required column 'Bestelldatum' (found: Kundennummer, Artikel, Tag)",
    ),
    "unparsable date": (
        "Kundennummer,Artikel,Bestelldatum\nA,1,01.01.2024\nB,2,31.02.2024\n",
        "row 2: column Bestelldatum: '31.02.2024' is not a date",
    ),
    "duplicate header": (
        "Kundennummer,Artikel,Bestelldatum,Artikel\nA,1,01.01.2024,2\n",
        "column 'Artikel' appears twice in the header",
    ),
    "empty file": ("", "file is empty"),
    "header only": ("Kundennummer,Artikel,Bestelldatum\n", "no data rows"),
}


@pytest.mark.bad_input("order-log-bad")
@pytest.mark.parametrize("case", BAD)
def test_a_bad_order_log_is_one_line_and_writes_nothing(case: str, tmp_path: Path, cli) -> None:
    text, message = BAD[case]
    (tmp_path / "orders.csv").write_text(text)
    args = ("--customer", "Kundennummer", "--item", "Artikel", "--date", "Bestelldatum", "--date-format", "%d.%m.%Y")
    code, out, err = cli("data", "ingest", tmp_path / "orders.csv", *args, "--data", tmp_path / "shop")
    assert code == 2 and out == ""
    assert (
        err.startswith("hmrec: error: ")
        and "orders.csv" in err
        and len(err.strip().splitlines()) == 1
        and message in err
    ), err
    assert not (tmp_path / "shop").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["orders.csv"]  # no scratch or half-written store beside it


def test_the_mapping_is_part_of_the_input(shop, cli, tmp_path: Path) -> None:
    """Ingesting the same file again with another mapping rebuilds the store instead of skipping it."""
    store_path, _ = shop
    again = cli.json("data", "ingest", tmp_path / "orders.csv", *LOG_MAPPING, "--data", store_path)
    assert again["skipped"]
    swapped = ("--customer", "Artikel", "--item", "Kundennummer", *LOG_MAPPING[4:])
    rebuilt = cli.json("data", "ingest", tmp_path / "orders.csv", *swapped, "--data", store_path)
    assert (
        not rebuilt["skipped"]
        and json.loads((store_path / "manifest.json").read_text())["order_log"]["customer"] == "Artikel"
    )


def test_a_damaged_order_log_store_hints_the_ingest_that_rebuilds_it(shop, cli) -> None:
    """The hint names the log and its mapping (not a Kaggle RAW_FOLDER), and running it repairs the store."""
    import shlex

    store_path, _ = shop
    (store_path / "articles.parquet").write_text("garbage")
    code, _, err = cli("data", "info", "--data", store_path)
    assert code == 2 and "--customer Kundennummer" in err
    hint = shlex.split(err.split("run `")[1].rstrip("`\n"))
    code, _, err = cli(*hint[1:], "-q")
    assert code == 0, err
    assert Store.open(store_path).articles["item_id"].n_unique() == len(ITEMS)


def test_the_python_api_speaks_the_shops_ids_and_leaves_out_same_product(shop, tmp_path: Path) -> None:
    from hmrec_cli import api

    store, log = shop
    opened = api.open(store, cache=tmp_path / "cache")
    recalled = opened.recall("popular", week="last", k=5)
    assert set(recalled["article_id"].to_list()) <= set(log["Artikel"].to_list())
    assert set(recalled["customer_id"].to_list()) <= set(log["Kundennummer"].to_list())
    ranked = opened.rank("merge", train_weeks=2)  # the default sources: same-product is not offered without products
    assert set(ranked["article_id"].to_list()) <= set(log["Artikel"].to_list())


def test_recommend_and_export_speak_the_shops_ids(shop, cli, tmp_path: Path) -> None:
    store_path, log = shop
    where = ("--data", store_path, "--cache", tmp_path / "cache")
    code, _, err = cli(
        "rank", "--ranker", "merge", "--candidates", "popular,repurchase", "--week", "next", *where, "-q"
    )
    assert code == 0, err
    customer = log["Kundennummer"][0]
    out = cli.json("recommend", "--customer", customer, "--ranker", "merge", "--week", "next", *where)
    (one,) = out["recommendations"]
    assert one["customer_id"] == customer and {i["article_id"] for i in one["items"]} <= set(log["Artikel"])
    code, _, err = cli("export", "--ranking", "merge", "--week", "next", "--out", tmp_path / "recs.csv", *where)
    assert code == 0, err
    recs = pl.read_csv(tmp_path / "recs.csv", infer_schema=False)
    assert set(recs["article_id"]) <= set(log["Artikel"]) and set(recs["customer_id"]) == set(log["Kundennummer"])
    assert "007" in set(recs["article_id"])  # leading zeros kept


def test_recommend_with_nothing_cached_uses_the_sources_the_log_can_feed(shop, cli, tmp_path: Path) -> None:
    """No product attribute: the default sources leave out same-product, in the CLI and the API alike."""
    from hmrec_cli import api

    store_path, log = shop
    customer = log["Kundennummer"][0]
    where = ("--data", store_path, "--cache", tmp_path / "cache")
    out = cli.json("recommend", "--customer", customer, "--ranker", "merge", "--week", "next", *where, "-q")
    assert {i["article_id"] for i in out["recommendations"][0]["items"]} <= set(log["Artikel"])
    found = api.open(store_path, cache=tmp_path / "api-cache").recommend(customer, ranker="merge")
    assert found.items["customer_id"].unique().to_list() == [customer]
    assert found.items.height == 12 and set(found.items["article_id"]) <= set(log["Artikel"])
    assert "same-product" not in found.ranking.manifest["sources"]
