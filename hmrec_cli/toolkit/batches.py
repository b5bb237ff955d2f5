"""Feeding torch models: arrays onto the device, seeded shuffled index batches, batched inference
and id frequencies. Shared by every neural plugin (DIN, the two-tower retrievers, TDM), so none
of them, and no benchmark, reaches into another plugin's privates.

A batch is a tensor of example indexes on the device; models gather their inputs from tensors
already on the device, so feeding costs one index per example, not a copy of its features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from hmrec_cli.toolkit.data_parallel import world
from hmrec_cli.toolkit.training import seeded_generator


def to_device(arrays: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """Each array as a tensor on `device` (polars hands out read-only views; torch wants writable
    memory, so an array is copied only when it has to be)."""
    return {k: torch.from_numpy(np.require(v, requirements=["C", "W"])).to(device) for k, v in arrays.items()}


MIN_BATCH = 16  # below this a step's gradient is mostly noise, and batch norm needs rows


def scaled_batch(examples: int, batch_size: int, min_steps: int) -> int:
    """The batch size an epoch over `examples` trains with: `batch_size`, or smaller when that would
    give fewer than `min_steps` optimiser steps (a small log's few thousand purchases are otherwise
    a handful of steps, too few to move the embeddings from their random start); never below
    `MIN_BATCH`. `min_steps` 0 keeps `batch_size`."""
    if min_steps <= 0 or examples <= 0:
        return batch_size
    return int(min(batch_size, max(MIN_BATCH, -(-examples // min_steps))))


def shuffled_batches(
    n: int, batch_size: int, seed: int, epoch: int, device: torch.device, groups: torch.Tensor | None = None
) -> Iterator[torch.Tensor]:
    """Example indexes 0..n-1 in an order that depends only on (seed, epoch), cut into batches of
    `batch_size`. With `groups` (one id per example), whole groups stay in one batch (a batch ends
    at the first group boundary after `batch_size` rows), e.g. one customer's candidates for a
    listwise loss. A last batch of one row joins the one before (batch norm cannot train on one).

    Under data-parallel training (`hmrec_cli.toolkit.data_parallel`) every rank draws the same batches and
    keeps its share of each: every `world`-th row (or whole group) from its rank on. The ranks'
    averaged gradients are then those of the whole batch, so `batch_size` means the same at any
    number of workers; a last batch under two rows per rank joins the one before."""
    rank, size = world()
    generator = seeded_generator(seed, epoch)
    if groups is None:
        order = torch.randperm(n, generator=generator)
        sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
        mine = torch.arange(n) % size == rank if size > 1 else None
    else:
        _, inverse = torch.unique(groups.cpu(), return_inverse=True)
        shuffled = torch.randperm(int(inverse.max()) + 1, generator=generator)[inverse]
        order = torch.argsort(shuffled * n + torch.arange(n), stable=True)
        runs = torch.bincount(shuffled[order].diff(prepend=torch.tensor([-1])).ne(0).cumsum(0) - 1)
        batch_of_group = torch.cumsum(runs, 0).sub(runs).div(batch_size, rounding_mode="floor")
        cut = torch.bincount(batch_of_group, weights=runs.double()).long()
        sizes = cut[cut > 0].tolist()
        mine = shuffled[order] % size == rank if size > 1 else None  # groups dealt out in turn
    if len(sizes) > 1 and sizes[-1] < 2 * size:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    if mine is None:
        yield from (b.to(device) for b in order.split(sizes))
    else:
        yield from (b[m].to(device) for b, m in zip(order.split(sizes), mine.split(sizes), strict=True))


def predict_in_batches(
    forward: Callable[[torch.Tensor], torch.Tensor], n: int, batch_size: int, device: torch.device
) -> np.ndarray:
    """`forward(indexes)` over 0..n-1 in order, `batch_size` at a time, without gradients (bf16
    autocast on CUDA); the outputs concatenated as float32 numpy on the CPU."""
    out = []
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for lo in range(0, n, batch_size):
            out.append(forward(torch.arange(lo, min(lo + batch_size, n), device=device)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def id_frequency(
    ids: torch.Tensor, size: int, sequences: torch.Tensor | None = None, sequence_of: torch.Tensor | None = None
) -> torch.Tensor:
    """How often each id 0..size-1 occurs in `ids` (one per example) and, when given, in the
    sequence each example points to (`sequences[sequence_of[i]]`, counted once per example that
    uses it); at least 1. Sampling distributions (popularity negatives) and frequency-scaled
    regularisation both start here."""
    counts = torch.bincount(ids, minlength=size).double()
    if sequences is not None:
        uses = torch.bincount(sequence_of, minlength=sequences.shape[0]).double()
        counts = counts + torch.bincount(
            sequences.flatten(), weights=uses.unsqueeze(1).expand_as(sequences).flatten(), minlength=size
        )
    return counts.float().clamp(min=1)
