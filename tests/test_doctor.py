"""`hmrec doctor`: a report of the environment that fails (exit 1) when something is broken."""

from __future__ import annotations

import json
from pathlib import Path

from test_recall_cli import _register


def _findings(out: str) -> dict[str, dict]:
    return {f"{f['section']}/{f['name']}": f for f in json.loads(out)["findings"]}


def test_doctor_reports_versions_store_and_plugins(cli, store_dir: Path, tmp_path: Path) -> None:
    from hmrec_cli.data.store import Store

    code, out, err = cli("doctor", "--data", store_dir, "--cache", tmp_path / "cache", "--json")
    assert code == 0, err
    found = _findings(out)
    assert found["libraries/torch"]["value"] and found["libraries/polars"]["state"] == "ok"
    assert found["torch/CUDA build"]["value"] and "threads" in {k.split("/")[1] for k in found}
    assert found["store/fingerprint"]["value"] == Store.open(store_dir).fingerprint
    assert (
        "memory available" in found["machine/memory available"]["name"]
        and found["plugins/retriever popular"]["state"] == "ok"
    )
    assert json.loads(out)["broken"] == []


def test_doctor_exits_1_naming_a_broken_plugin(cli, monkeypatch, store_dir: Path, tmp_path: Path) -> None:
    _register(monkeypatch, tmp_path / "site", "broken-one", "hmrec_missing_module:Nothing")
    code, out, _ = cli("doctor", "--data", store_dir, "--cache", tmp_path / "cache", "--json")
    assert code == 1
    assert json.loads(out)["broken"] == [
        "retriever broken-one: fails to load: ModuleNotFoundError: No module named 'hmrec_missing_module'"
    ]
    code, out, _ = cli("doctor", "--data", store_dir, "--cache", tmp_path / "cache")
    assert code == 1 and "1 broken" in out


def test_doctor_without_a_store_is_a_note_not_a_failure(cli, tmp_path: Path) -> None:
    code, out, _ = cli("doctor", "--data", tmp_path / "nothing", "--cache", tmp_path / "cache", "--json")
    assert code == 0 and _findings(out)[f"store/{tmp_path / 'nothing'}"]["state"] == "note"
