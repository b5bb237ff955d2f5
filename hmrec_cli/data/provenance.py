"""Where a file hmrec wrote came from: a sidecar `FILE.json` beside it with the data's fingerprint,
the last date of the rows it was fitted on and the command that wrote it, so that scoring the file
on a week it has already seen is caught (a submission is fitted on every week, the last included).

Cache entries carry the same facts in their manifests; this is for files written elsewhere.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

from hmrec_cli import __version__
from hmrec_cli.atomic import atomic_file
from hmrec_cli.integrity import digest


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write(
    path: Path,
    fingerprint: str,
    fitted_through: date,
    week_start: date,
    command: dict | None = None,
    content: Path | None = None,
) -> None:
    """Record, beside `path`, what it was fitted on (rows up to `fitted_through`) and the command
    that wrote it (its name and options). `content`: the file's temp, not yet renamed onto `path`,
    so the sidecar is in place before the file is (a file never goes without its sidecar)."""
    record = {
        "file": digest(content or path),
        "fingerprint": fingerprint,
        "fitted_through": fitted_through.isoformat(),
        "week": week_start.isoformat(),
        "command": command or {},
        "hmrec_version": __version__,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_file(sidecar(path)) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")


def read(path: Path) -> dict | None:
    """The sidecar of `path` when it describes this very file (same size and sha256), else None."""
    try:
        record = json.loads(sidecar(path).read_text())
        date.fromisoformat(record["fitted_through"])
        if record["file"] == digest(path):
            return record
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def leak(record: dict | None, week_start: date) -> str | None:
    """Why a file scored on the week starting `week_start` has seen that week, or None."""
    if record is None:
        return None
    through = date.fromisoformat(record["fitted_through"])
    if through >= week_start:
        return f"it was fitted on rows through {through}, which include the evaluated week (from {week_start})"
    return None
