"""What is fitted for a week, kept once per process under a key that leaves the customers out.

A retriever's model and a ranker's trained state depend on the week's history, the plugin and its
parameters, never on which customers are scored; so every shard of a week (`shards.Shard`) uses the
model fitted for the first, here. A Ray driver fits them once and hands the same `snapshot` to each
task (`adopt`), so no worker fits again. Trained weights also sit on disk as checkpoints under this
key (`Cache.checkpoint`), the same path for every shard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

Fitted = TypeVar("Fitted")

_fits: dict[str, object] = {}


def fitted(key: str, fit: Callable[[], Fitted]) -> Fitted:
    """The value kept under `key`, made by `fit()` the first time it is asked for."""
    if key not in _fits:
        _fits[key] = fit()
    return _fits[key]  # type: ignore[return-value]


def snapshot() -> dict[str, object]:
    """Everything fitted so far in this process (to send to workers)."""
    return dict(_fits)


def adopt(fits: dict[str, object]) -> None:
    """Take fits made by another process (the driver) as this process's own."""
    _fits.update(fits)


def forget() -> None:
    """Drop every kept fit (a new store or a test that must fit again)."""
    _fits.clear()
