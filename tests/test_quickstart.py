"""The README's quick start runs as typed: every `hmrec ...` line of its shell block, in order, in an
empty folder, as the installed `hmrec` command, exits 0 and leaves what the next line needs (a
store, candidate sets, rankings, a submission, a report)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert lines and all(line.startswith("hmrec ") for line in lines), "the quick start holds only hmrec commands"
    return [shlex.split(line, comments=True)[1:] for line in lines]


def hmrec() -> list[str]:
    """The installed console script beside this interpreter (what a user types), else its entry point."""
    script = Path(sys.executable).with_name("hmrec")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from hmrec_cli.cli import main; main()"]


def test_the_quick_start_goes_from_synth_to_report_on_the_tiny_world() -> None:
    words = [" ".join(args[:2]) for args in quick_start_commands()]
    assert words[:2] == ["data synth", "data ingest"] and words[-1].startswith("report")
    for command in ("recall", "evaluate", "rank", "submit"):
        assert any(w.startswith(command) for w in words), command
    synth = quick_start_commands()[0]
    assert synth[synth.index("--scale") + 1] == "tiny", (
        "the quick start stays on the tiny world, so this test stays short"
    )


def test_the_quick_start_runs_as_typed(tmp_path: Path) -> None:
    # One OpenMP thread: on a loaded machine LightGBM's spinning threads cost minutes; the exit codes
    # and files checked here do not depend on it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMREC_")} | {
        "OMP_NUM_THREADS": "1",
        "NO_COLOR": "1",
    }
    for args in quick_start_commands():
        done = subprocess.run([*hmrec(), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"hmrec {' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}"
    assert (tmp_path / "hm" / "manifest.json").exists()
    assert (tmp_path / "submission.csv").exists() and (tmp_path / "submission.csv.json").exists()
    assert (tmp_path / "report.html").stat().st_size > 0
