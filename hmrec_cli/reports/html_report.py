"""`hmrec report`: one self-contained HTML page (tables and inline SVG figures, no external files)
about a week, from what the cache already holds: the week's candidate sets (their figures and
recall@K curves), its rankings side by side with their training curves, and every cached ranking's
MAP@12 week by week (the back-test). Nothing is fitted: the page shows what was computed, with the
cache key of each result, so every number can be traced to a command.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

import polars as pl

from hmrec_cli.cache import Cache, Entry
from hmrec_cli.data.splits import Week, truth
from hmrec_cli.data.store import Store, week_table
from hmrec_cli.pipeline.manifests import CandidateManifest, Manifest, RankingManifest
from hmrec_cli.reports import plots
from hmrec_cli.reports.candidates_report import CURVE_K, recall_sums

SAMPLE = 5  # customers shown in "Sample customers"
PREFERRED = ("din", "lgbm", "merge")  # the ranking shown there: the first of these cached, else any

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { padding: 0.2rem 0.7rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg { max-width: 100%; height: auto; }
.note { color: #666; font-size: 0.85rem; }
"""


def _table(columns: list[str], rows: list[list[object]]) -> str:
    from hmrec_cli.console import fmt

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(fmt(v, seconds=c == 'seconds'))}</td>" for v, c in zip(row, columns, strict=True))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _current(entries: list[Entry], fingerprint: str, kind: type[Manifest]) -> list[tuple[Entry, Manifest]]:
    """The newest intact entry per method made from this store, with its manifest."""
    seen, out = set(), []
    for e in entries:
        m = kind.readable(e) if e.method not in seen and e.damage() is None else None
        if m is not None and m.fingerprint == fingerprint:
            seen.add(e.method)
            out.append((e, m))
    return out


def candidates_section(store: Store, cache: Cache, week: Week) -> str:
    sets = _current(cache.entries("candidates", week=week.start.isoformat()), store.fingerprint, CandidateManifest)
    if not sets:
        return "<p class='note'>No candidate sets cached for this week (hmrec recall or hmrec evaluate --candidates makes them).</p>"
    rows, series = [], {}
    target = truth(store.transactions, week) if week.has_truth else None
    for e, m in sets:
        f = m.figures or {}
        rows.append(
            [
                e.label,
                m.k,
                m.customers,
                *(f.get(n, "") for n in ("recall@12", "recall@100", "recall@all", "map@12")),
            ]
        )
        if target is not None and target.height:  # a week without buyers has no curve
            buyers = target["customer"].unique()
            cands = e.read().filter(pl.col("customer").is_in(buyers.implode()))
            curve = recall_sums(cands, target, CURVE_K) / buyers.len()
            series[e.method] = (list(range(1, CURVE_K + 1)), curve.tolist())
    out = _table(["set", "k", "customers", "R@12", "R@100", "R@all", "MAP@12"], rows)
    if series:
        out += plots.svg([plots.Panel(f"recall@K of the buyers of {week}", "K", "recall@K", series)])
    return out


def rankings_section(store: Store, cache: Cache, week: Week) -> str:
    rankings = _current(cache.entries("rankings", week=week.start.isoformat()), store.fingerprint, RankingManifest)
    if not rankings:
        return "<p class='note'>No rankings cached for this week (hmrec rank makes them).</p>"
    rows, out = [], ""
    for e, m in rankings:
        f = m.figures or {}
        rows.append(
            [
                e.label,
                ", ".join(m.sources),
                len(m.train_weeks),
                f.get("map@12", ""),
                f.get("recall@12", ""),
                f.get("union_recall@all", ""),
                f.get("oracle_map@12", ""),
                m.seconds,
            ]
        )
    out += _table(
        ["ranking", "sources", "train weeks", "MAP@12", "R@12", "union R@all", "oracle MAP@12", "seconds"], rows
    )
    for e, m in rankings:
        figure = plots.training_curve(m.training, e.label)
        if figure:
            out += f"<h3>Training of {html.escape(e.label)}</h3>" + plots.svg(figure)
    return out


def people_section(store: Store, cache: Cache, week: Week, seed: int = 0) -> str:
    """A few customers (a seeded sample of the week's buyers the ranking holds, or of its customers
    when the week has no buyers yet) with their recent purchases, the ranking's 12 and, per article,
    the sources that proposed it and at what rank: read through `pipeline.recommend`, in the shop's ids."""
    from hmrec_cli.pipeline.recommend import article_labels, shown, source_sets

    rankings = _current(cache.entries("rankings", week=week.start.isoformat()), store.fingerprint, RankingManifest)
    if not rankings:
        return (
            "<p class='note'>No ranking cached for this week: "
            f"<code>hmrec rank --ranker merge --week {html.escape(week.start.isoformat())}</code> makes one.</p>"
        )
    entry, manifest = sorted(
        rankings, key=lambda em: PREFERRED.index(em[0].method) if em[0].method in PREFERRED else len(PREFERRED)
    )[0]
    ranked = pl.scan_parquet(entry.path).select("customer").unique().collect()["customer"]
    if week.has_truth:
        buyers = ranked.filter(ranked.is_in(truth(store.transactions, week)["customer"].implode()))
        ranked = buyers if buyers.len() else ranked
    ranked = ranked.sort()  # the sample depends on the seed only, not on the file's order
    customers = ranked.sample(min(SAMPLE, ranked.len()), seed=seed).sort() if ranked.len() else ranked
    sets = source_sets(store, cache, entry)
    items, purchases = shown(store, entry, week, customers, sets, manifest.k, article_labels(store))
    out = f"<p class='note'>From the ranking {html.escape(entry.label)} (seed {seed}).</p>"
    if entry.method == "din":
        out += (
            "<p class='note'>DIN's attention reasons (the purchases it weighs most) need the model restored:"
            " <code>hmrec recommend --customer ID</code> shows them.</p>"
        )
    for customer_id in items["customer_id"].unique(maintain_order=True):
        mine = items.filter(pl.col("customer_id") == customer_id)
        bought = purchases.filter(pl.col("customer_id") == customer_id)
        out += f"<div class='customer'><h3>Customer <span class='customer-id'>{html.escape(customer_id)}</span></h3>"
        recent = _blank(bought.select("t_dat", "article_id", "name", "group").rows())
        out += "<h4>Recent purchases</h4>" + (
            _table(["date", "article", "name", "group"], recent)
            if bought.height
            else "<p class='note'>No purchases before the week.</p>"
        )
        rows = _blank(
            [r["rank"], r["article_id"], r["name"], r["group"], r["score"], _sources(r["sources"])]
            for r in mine.iter_rows(named=True)
        )
        out += "<h4>The 12</h4>" + _table(["rank", "article", "name", "group", "score", "proposed by (rank)"], rows)
        out += "</div>"
    return out


def _blank(rows) -> list[list[object]]:
    """Rows with a missing value (an article without a name) shown empty."""
    return [["" if v is None else v for v in row] for row in rows]


def _sources(sources: list[dict] | None) -> str:
    return ", ".join(f"{s['source']} ({s['rank']})" for s in sources or []) or "none"


def backtest_section(store: Store, cache: Cache) -> str:
    """MAP@12 of every cached ranking of this store, per ranker and week (the newest per ranker-week)."""
    by_ranker: dict[str, dict[str, float]] = {}
    for e in cache.entries("rankings"):
        m = RankingManifest.readable(e)
        value = (m.figures or {}).get("map@12") if m is not None else None
        if value is not None and m.fingerprint == store.fingerprint:
            by_ranker.setdefault(e.method, {}).setdefault(e.week, value)
    weeks = sorted({w for per in by_ranker.values() for w in per})
    if not weeks:
        return "<p class='note'>No scored rankings cached yet.</p>"
    rows = [[w, *(by_ranker[r].get(w, "") for r in sorted(by_ranker))] for w in weeks]
    out = _table(["week", *sorted(by_ranker)], rows)
    series = {
        r: ([weeks.index(w) for w in sorted(per)], [per[w] for w in sorted(per)])
        for r, per in sorted(by_ranker.items())
    }
    if len(weeks) > 1:
        out += plots.svg([plots.Panel("MAP@12 per week (x: weeks from the oldest cached)", "week", "MAP@12", series)])
    return out


def build(store: Store, cache: Cache, week: Week, seed: int = 0) -> str:
    """The whole page."""
    weeks = week_table(store)[:8]
    data_rows = [[w["week"], w["start"], w["rows"], w["buyers"], "yes" if w["oracle"] else ""] for w in weeks]
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        f"<h1>hmrec report: week {html.escape(str(week))}</h1>",
        f"<p class='note'>Store {html.escape(str(store.path))} (fingerprint {store.fingerprint}, {store.first_date} .. {store.last_date}); "
        f"cache {html.escape(str(cache.root))}; written {made}. Every figure below was computed by an earlier command and read from the cache.</p>",
        "<h2>Recent weeks</h2>",
        _table(["week", "starts", "rows", "buyers", "oracle"], data_rows),
        "<h2>Candidate sets</h2>",
        candidates_section(store, cache, week),
        "<h2>Rankings</h2>",
        rankings_section(store, cache, week),
        "<h2 id='sample-customers'>Sample customers</h2>",
        people_section(store, cache, week, seed),
        "<h2>Back-test: MAP@12 per week</h2>",
        backtest_section(store, cache),
    ]
    body = "\n".join(sections)
    return f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>hmrec report {html.escape(str(week))}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
