"""`make demo` shows every installed built-in method: each retriever among the candidate sets it
compares, each ranker ranking them. Read from the commands make would run (`make -n`), and the
plugins from the registry, so a new plugin that the demo leaves out fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hmrec_cli.registry import built_in

ROOT = Path(__file__).resolve().parent.parent


def demo_commands() -> list[str]:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "demo-run", "DEMO=/nonexistent-demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_demo_shows_every_built_in_retriever_and_ranker() -> None:
    lines = demo_commands()
    compared = {
        m
        for line in lines
        if " evaluate " in line and "--candidates" in line
        for m in re.search(r"--candidates (\S+)", line).group(1).split(",")
    }
    ranked = {m.group(1) for line in lines if (m := re.search(r" rank .*--ranker (\S+)", line))}
    shipped = {kind: {p.name for p in built_in(kind)} for kind in ("retriever", "ranker")}
    assert shipped["retriever"] - compared == set(), "retrievers make demo does not compare"
    assert shipped["ranker"] - ranked == set(), "rankers make demo does not run"
    assert len(shipped["retriever"]) >= 11 and len(shipped["ranker"]) >= 3
