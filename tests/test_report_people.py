"""`hmrec report`'s "Sample customers": people with their purchases, their 12 and the reasons,
read back from the HTML (a parser, and a real headless browser where Chromium is installed)."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.data.store import Store


class Section(HTMLParser):
    """The customer ids and, per customer, the article column of the "The 12" table of the section."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = self.in_id = self.in_td = False
        self.customers: dict[str, list[str]] = {}
        self.heading = self.current = ""
        self.column = 0
        self.notes: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "h2":
            self.inside = a.get("id") == "sample-customers"
        if not self.inside:
            return
        self.text = ""
        if tag == "span" and a.get("class") == "customer-id":
            self.in_id = True
        elif tag == "tr":
            self.column = 0
        elif tag == "td":
            self.in_td = True

    def handle_endtag(self, tag) -> None:
        if not self.inside:
            return
        if tag == "span" and self.in_id:
            self.in_id, self.current = False, self.text
            self.customers[self.current] = []
        elif tag == "h4":
            self.heading = self.text
        elif tag == "td":
            if self.heading == "The 12" and self.column == 1:
                self.customers[self.current].append(self.text)
            self.in_td, self.column = False, self.column + 1
        elif tag == "p":
            self.notes.append(self.text)

    def handle_data(self, data) -> None:
        self.text += data


def _rank_and_report(cli, store_dir: Path, tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    cache, page = tmp_path / "cache", tmp_path / "report.html"
    common = ("--data", store_dir, "--cache", cache, "--week", "1")
    rank = ("rank", "--ranker", "merge", "--candidates", "popular,repurchase", "--k", "30", *common)
    code, _, err = cli(*rank)
    assert code == 0, err
    code, _, err = cli("report", *common, "--out", page, *extra)
    assert code == 0, err
    return cache, page


def test_report_shows_sample_customers_with_the_cached_12(cli, store_dir: Path, tmp_path: Path) -> None:
    cache, page = _rank_and_report(cli, store_dir, tmp_path)
    section = Section()
    section.feed(page.read_text())
    assert len(section.customers) == 5
    store = Store.open(store_dir)
    ranking = next((cache / "rankings").rglob("*.parquet"))
    labels = store.article_labels()
    shop = store.customers.select("customer", customer_id=pl.col("customer_id").cast(pl.String))
    cached = (
        pl.read_parquet(ranking)
        .join(labels, on="article")
        .join(shop, on="customer")
        .filter(pl.col("customer_id").is_in(list(section.customers)))
        .sort("customer_id", "rank")
    )
    expected = {c: g["label"].to_list() for (c,), g in cached.group_by("customer_id")}
    assert section.customers == expected and all(len(v) == 12 for v in expected.values())
    again = tmp_path / "again.html"
    cli("report", "--data", store_dir, "--cache", cache, "--week", "1", "--out", again)
    other = tmp_path / "other.html"
    cli("report", "--data", store_dir, "--cache", cache, "--week", "1", "--out", other, "--seed", "3")
    same, changed = Section(), Section()
    same.feed(again.read_text())
    changed.feed(other.read_text())
    assert list(same.customers) == list(section.customers) != list(changed.customers)  # the seed picks them


def test_report_without_a_ranking_says_how_to_make_one(cli, store_dir: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    code, _, err = cli("report", "--data", store_dir, "--cache", tmp_path / "cache", "--week", "1", "--out", page)
    assert code == 0, err
    section = Section()
    section.feed(page.read_text())
    assert not section.customers and len(section.notes) == 1 and "hmrec rank --ranker" in section.notes[0]


def test_report_opens_in_a_headless_browser(cli, store_dir: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on PATH (apt-get install chromium to run this test)")
    _, page = _rank_and_report(cli, store_dir, tmp_path)
    assert "<script" not in page.read_text()  # no JavaScript, so a script error cannot occur
    flags = [browser, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    section = Section()
    section.feed(dom.stdout)
    assert len(section.customers) == 5 and all(len(v) == 12 for v in section.customers.values())
    shot = tmp_path / "report.png"
    run = subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,2000", "--enable-logging=stderr", "--v=0", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Uncaught" not in run.stderr and "CONSOLE" not in run.stderr, run.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
