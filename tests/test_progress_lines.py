"""Progress in a log file: plain lines on a timer, never silence, never redraw noise."""

from __future__ import annotations

import time

from hmrec_cli.console import PlainProgress


def test_plain_lines_come_on_a_timer_with_rate_and_eta() -> None:
    lines: list[str] = []
    with PlainProgress(lines.append, every=0.05) as progress:
        progress.report("epoch 1/2", 0, 1000)
        assert lines == []  # a step shorter than the period writes nothing
        time.sleep(0.02)
        progress.report("epoch 1/2", 250, 1000)
        time.sleep(0.3)  # nothing reported meanwhile: the timer still writes
    ticks = [t for t in lines if "250/" in t]
    assert (
        len(ticks) >= 3
        and all(t.startswith("[0:00] epoch 1/2") for t in lines)
        and all("250/1,000 (25%)" in t and "/s" in t and "ETA" in t for t in ticks)
    ), lines
    count = len(lines)
    time.sleep(0.1)
    assert len(lines) == count  # no line after the step ended


def test_a_new_total_restarts_the_rate() -> None:
    lines: list[str] = []
    with PlainProgress(lines.append, every=10) as progress:
        progress.report("fit", 0, 1)
        progress.report("retrieve", 5, 10)
        assert "ETA" not in progress.line()  # nothing done since the count began: no rate to guess from
        time.sleep(0.05)
        progress.report("retrieve", 8, 10)
        assert "8/10 (80%)" in progress.line() and "ETA" in progress.line()
        progress.report("retrieve", 10, 10)
        assert (
            "10/10 (100%)  done; 0:00 in what follows" in progress.line()
        )  # no rate falling towards zero after the end


def test_recall_in_a_log_file_prints_progress_lines(cli, store_dir, tmp_path, monkeypatch) -> None:
    """CliRunner's stderr is not a terminal, as in `make demo > log 2>&1`."""
    monkeypatch.setattr("hmrec_cli.console.PLAIN_EVERY", 0.01)
    code, _, err = cli("recall", "--method", "itemcf", "--data", store_dir, "--cache", tmp_path, "--k", "20")
    assert code == 0
    assert "retrieve" in err and "\r" not in err and "\x1b[" not in err


def test_a_short_epoch_reports_every_batch_not_only_the_first() -> None:
    """Regression: the count went out every 20th step only, so in an epoch of fewer steps a log's
    plain line repeated the first batch's count until the epoch ended."""
    import torch

    from hmrec_cli.toolkit.training import Settings, train

    model = torch.nn.Linear(2, 1)
    x = torch.randn(50, 2)
    reported: list[tuple[int, int]] = []
    train(
        model,
        lambda idx: model(x[idx]).pow(2).mean(),
        lambda epoch: torch.arange(50).split(10),
        50,
        Settings(epochs=2, learning_rate=0.01),
        on_progress=lambda stage, done, total: reported.append((done, total)),
    )
    assert reported == [(10 * i, 50) for i in range(1, 6)] * 2
