"""`hmrec --help` must stay fast and must not load model frameworks (they take seconds to import)."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

HEAVY = ("torch", "implicit", "annoy", "polars")
PROBE = """
import sys
from hmrec_cli.cli import main
sys.argv = ["hmrec", *{args!r}]
try:
    main()
except SystemExit as done:
    assert done.code in (0, None), done.code
loaded = [m for m in {heavy!r} if m in sys.modules]
assert not loaded, f"--help imported {{loaded}}"
"""


@pytest.mark.parametrize("args", [["--help"], ["data", "--help"], ["data", "ingest", "--help"], ["evaluate", "--help"]])
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    code = PROBE.format(args=args, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_help_answers_well_under_a_second() -> None:
    """CPU seconds of the child (user + system), not wall time: on a loaded machine the wall clock
    measures the neighbours; the CPU time is what `--help` costs, and on an idle machine about its wall."""
    times = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "hmrec_cli.cli", "--help"], capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    assert sorted(times)[1] < 1.0, times


def test_version(cli) -> None:
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("hmrec ")


def test_listing_plugins_imports_no_model_framework() -> None:
    code = PROBE.format(args=["plugins"], heavy=("torch", "implicit", "annoy"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
