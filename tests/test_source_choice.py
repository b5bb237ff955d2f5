"""`--candidates auto`: the sources a ranking fuses, chosen on the training weeks only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.pipeline.source_choice import POLICY, choose

K = 20
SOURCES = (*POLICY.start, "helpful", "noise")


def week(rng, buyers: int = 400) -> tuple[pl.DataFrame, int]:
    """Labelled candidates of one week: each buyer bought one article; `helpful` ranks it near
    its top, the start sources and `noise` rank it anywhere in their lists or not at all."""
    rows = []
    for customer in range(buyers):
        articles = rng.choice(1000, K, replace=False)
        bought = articles[0]
        row = {"customer": customer, "articles": articles, "bought": bought}
        rows.append(row)
    customer = np.repeat(np.arange(buyers), K).astype(np.uint32)
    article = np.concatenate([r["articles"] for r in rows]).astype(np.uint32)
    label = (article == np.repeat([r["bought"] for r in rows], K)).astype(np.uint8)
    frame = {"customer": customer, "article": article, "label": label, "bought": np.ones(customer.size, np.uint16)}
    for source in SOURCES:
        rank = np.concatenate([rng.permutation(K) for _ in rows]).astype(np.uint16)
        if source == "helpful":  # the purchase at rank 0-2
            rank = np.where(label == 1, rng.integers(0, 3, customer.size), np.maximum(rank, 3)).astype(np.uint16)
        frame[f"{source}_rank"] = rank
    return pl.DataFrame(frame), buyers + 100  # 100 buyers more, with no purchase among the candidates


def test_a_source_that_clearly_adds_is_taken_and_noise_is_left_out() -> None:
    rng = np.random.default_rng(0)
    chosen, steps = choose([week(rng), week(rng)], SOURCES, K)
    assert chosen == (*POLICY.start, "helpful")
    assert [s["why"] for s in steps] == ["start"] * len(POLICY.start) + [
        "added",
        "left out: gain not clear of the noise",
    ]
    assert steps[-1]["source"] == "noise" and steps[len(POLICY.start)]["gain"] > 2 * steps[len(POLICY.start)]["stderr"]


def test_without_any_hit_the_pool_is_kept() -> None:
    empty = pl.DataFrame(
        schema={
            "customer": pl.UInt32,
            "article": pl.UInt32,
            "label": pl.UInt8,
            "bought": pl.UInt16,
            **{f"{s}_rank": pl.UInt16 for s in SOURCES},
        }
    )
    chosen, steps = choose([(empty, 50)], SOURCES, K)
    assert chosen == SOURCES and "whole pool" in steps[0]["note"]


def test_rank_auto_chooses_on_the_training_weeks_and_never_sees_the_week_it_ranks(
    cli, store_dir: Path, altered_store: Path, tmp_path: Path
) -> None:
    light = [
        "-o",
        "sampled-softmax:epochs=1",
        "-o",
        "youtube-dnn:epochs=1",
        "-o",
        "bpr:epochs=3",
        "-o",
        "als:epochs=3",
        "-o",
        "passes=1",
    ]
    runs = {}
    for name, data in (("original", altered_store.parent / "original"), ("altered", altered_store)):
        runs[name] = cli.json(
            "rank",
            "--ranker",
            "merge",
            "--candidates",
            "auto",
            "--data",
            data,
            "--cache",
            tmp_path / name,
            "--week",
            "1",
            "--train-weeks",
            "2",
            "--k",
            "20",
            *light,
        )
    m = runs["original"]
    pool = m["source_choice"]["pool"]
    assert set(POLICY.start) <= set(m["sources"]) <= set(pool) and len(pool) == 9
    assert [s["source"] for s in m["source_choice"]["steps"][: len(POLICY.start)]] == list(POLICY.start)
    assert len(m["source_sets"]) == len(m["sources"])  # only the chosen sources are fitted for the week ranked
    # rows from week 1 on altered: the choice, made on the two weeks before it, is the same
    assert runs["altered"]["sources"] == m["sources"] and runs["altered"]["source_choice"] == m["source_choice"]
