"""The torch training loop every neural plugin shares: device choice with one fallback warning,
seeding, bf16 autocast on CUDA, progress with loss and examples/s, early stopping on a validation
figure, and checkpoints after every epoch so `--resume` continues exactly where a run stopped.

Checkpoints hold state dicts and plain values only (model, optimizer, epoch, best weights, RNG
states) and are read with `weights_only=True`; they are written to a temp file and renamed.

Under a process group (`hmrec_cli.toolkit.data_parallel`) the same loop trains data-parallel: the model
in DistributedDataParallel, each rank on its share of every batch, its own random stream (seed,
rank), rank 0 validating for all and alone writing the checkpoint (with every rank's RNG state),
which it reads back on `--resume` and hands to the others.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hmrec_cli import console
from hmrec_cli.atomic import atomic_file, write_failure
from hmrec_cli.integrity import damage, digest
from hmrec_cli.toolkit.data_parallel import from_leader, world

Progress = Callable[[str, int, int], None]


def resolve_device(spec: str, warn: Callable[[str], None] | None = None) -> torch.device:
    """`auto`: CUDA when present, else CPU. `cuda` without a GPU falls back to CPU with one warning."""
    spec = spec.strip().lower()
    if spec not in ("auto", "cpu", "cuda") and not spec.startswith("cuda:"):
        from hmrec_cli.errors import InputError

        raise InputError(f"--device {spec}: expected auto, cpu or cuda")
    if spec == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda" if spec == "auto" else spec)
    if spec != "auto" and warn is not None:
        warn(f"--device {spec}: no CUDA device is available; running on the CPU")
    return torch.device("cpu")


def seeded_generator(seed: int, epoch: int = 0) -> torch.Generator:
    """A CPU generator for one epoch's shuffling: the order depends only on (seed, epoch), which
    is what makes a resumed run draw the same batches as an uninterrupted one."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


@dataclass(frozen=True)
class Settings:
    epochs: int
    learning_rate: float
    weight_decay: float = 0.0
    patience: int = 2  # epochs without a better validation figure before stopping
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


@dataclass
class Log:
    """What happened, per epoch: mean loss, validation figure, examples/s, seconds."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best: float | None = None  # best validation figure; None without validation
    stopped_early: bool = False
    resumed_from: int = 0
    world_size: int = 1  # processes that trained it together

    def as_dict(self) -> dict:
        return {
            "world_size": self.world_size,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "best": self.best,
            "stopped_early": self.stopped_early,
            "resumed_from": self.resumed_from,
        }


def train(
    model: torch.nn.Module,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    batches: Callable[[int], Iterable[torch.Tensor]],
    examples: int,
    settings: Settings,
    validate: Callable[[], float] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    on_progress: Progress = lambda stage, done, total: None,
    param_groups: list[dict] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> Log:
    """Train `model` by minimising `loss_of(batch)` over `batches(epoch)` (each batch a tensor of
    example indexes). After each epoch `validate()` (higher is better) picks the best weights and
    stops after `patience` epochs without improvement; the best weights are loaded at the end.
    `param_groups` (AdamW groups) lets a model exempt parameters from weight decay.
    `on_epoch_end(epoch)` (1-based) runs after each epoch's steps, before validation and the
    checkpoint (e.g. TDM rebuilding its tree); what it changes must live in the model's state
    (parameters or buffers) to survive a resume, which does not re-run finished epochs' hooks.

    On the CPU, deterministic kernels are enforced (embedding-gradient accumulation is otherwise
    threaded in a varying order), so equal seeds give equal weights. On CUDA, atomics in the
    backward pass may still differ in the last bits between runs."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(settings.device.type == "cpu" or previous)
    try:
        return _train(
            model,
            loss_of,
            batches,
            examples,
            settings,
            validate,
            checkpoint,
            resume,
            on_progress,
            param_groups,
            on_epoch_end,
        )
    finally:
        torch.use_deterministic_algorithms(previous)


def _train(
    model, loss_of, batches, examples, settings, validate, checkpoint, resume, on_progress, param_groups, on_epoch_end
) -> Log:
    rank, size = world()
    torch.manual_seed(settings.seed + rank * 2**32)  # rank 0 draws as one process does; the others their own
    groups = param_groups if param_groups is not None else model.parameters()
    # fused: one pass over each parameter's memory per step, not one per arithmetic op (5-10x faster
    # on the CPU for the large embedding tables; the same update)
    fused = settings.device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate, weight_decay=settings.weight_decay, fused=fused)
    log, best_state, stale, start = Log(world_size=size), None, 0, 0
    found = lambda: _read(checkpoint) if resume and checkpoint is not None and checkpoint.is_file() else None  # noqa: E731
    if (saved := from_leader(found)) is not None:
        _restore(saved, model, optimizer, settings, rank, size)
        start, stale, best_state = saved["epoch"], saved["stale"], saved["best_state"]
        log = Log(saved["log"], saved["best_epoch"], saved["best"], False, saved["epoch"], size)
    step = loss_of if size == 1 else _parallel(model, loss_of, settings.device)
    amp = settings.device.type == "cuda"
    for epoch in range(start, settings.epochs):
        if stale >= settings.patience:
            log.stopped_early = True
            break
        model.train()
        began, seen, steps = time.perf_counter(), 0, 0
        total_loss = torch.zeros((), device=settings.device)
        for batch in batches(epoch):
            with torch.autocast(settings.device.type, dtype=torch.bfloat16, enabled=amp):
                loss = step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach().float()
            seen += batch.numel() * size  # the ranks' shares are within a row (a group) of each other
            steps += 1
            if steps % 20 == 1:  # reading the loss syncs the GPU; do it now and then
                shown = float(loss.detach())
            rate = seen / max(
                time.perf_counter() - began, 1e-9
            )  # the count goes out every step: a short epoch's lines move too
            on_progress(
                f"epoch {epoch + 1}/{settings.epochs}  loss {shown:.4f}  {rate:,.0f} examples/s", seen, examples
            )
        seconds = time.perf_counter() - began
        if size > 1:  # the epoch's loss and rows over every rank
            totals = torch.stack([total_loss, torch.tensor(float(seen) / size, device=settings.device)])
            torch.distributed.all_reduce(totals)
            total_loss, seen = totals[0] / size, int(totals[1])
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
        model.eval()
        with torch.no_grad():  # no validation: keep the last epoch
            figure = from_leader(lambda: validate() if validate is not None else None)
        entry = {
            "epoch": epoch + 1,
            "loss": float(total_loss) / max(steps, 1),
            "validation": figure,
            "examples_per_s": seen / max(seconds, 1e-9),
            "seconds": seconds,
        }
        log.epochs.append(entry)
        if figure is None or log.best is None or figure > log.best:
            log.best, log.best_epoch, stale = figure, epoch + 1, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
        streams = _streams(settings.device) if size > 1 else None  # every rank's, to resume each
        if checkpoint is not None and rank == 0:
            _save(checkpoint, model, optimizer, settings, epoch + 1, stale, best_state, log, streams)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return log


def _read(path: Path) -> dict | None:
    """A checkpoint's contents; a damaged one (size or hash not as written, unreadable, fields
    missing) is one warning and None, so training starts afresh."""
    sidecar = path.with_suffix(".pt.json")
    try:
        recorded = json.loads(sidecar.read_text()) if sidecar.is_file() else None
        problem = damage(path, recorded if isinstance(recorded, dict) else None)
        if problem is None:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            missing = {
                "model",
                "optimizer",
                "rng_cpu",
                "epoch",
                "stale",
                "best_state",
                "log",
                "best_epoch",
                "best",
            } - set(saved)
            if missing:
                raise ValueError(f"no {', '.join(sorted(missing))}")
            return saved
    except Exception as error:  # whatever a damaged file makes torch or json raise
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
    console.warn(f"checkpoint {path} is damaged ({problem}); training from the start")
    return None


def _restore(saved: dict, model, optimizer, settings: Settings, rank: int, size: int) -> None:
    """Load a read checkpoint into `model` and `optimizer`, with this rank's random stream (a
    checkpoint of a run with another world size has none for it: the stream of (seed, rank))."""
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    streams = saved.get("rng_ranks") or [saved["rng_cpu"]]
    cuda_streams = saved.get("rng_cuda_ranks") or [saved.get("rng_cuda")]
    if len(streams) == size:
        torch.set_rng_state(streams[rank])
        if settings.device.type == "cuda" and cuda_streams[rank] is not None:
            torch.cuda.set_rng_state(cuda_streams[rank], settings.device)


class _LossOf(torch.nn.Module):
    """`loss_of` as a module's forward over `model`, which is what DistributedDataParallel wraps:
    its gradient hooks fire only for work done inside a forward of the wrapper."""

    def __init__(self, model: torch.nn.Module, loss_of: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.model, self.loss_of = model, loss_of

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.numel() == 0:  # a rank dealt no group of this batch: zero gradients, still in the all-reduce
            return sum(p.sum() for p in self.model.parameters() if p.requires_grad) * 0.0
        return self.loss_of(batch)


def _parallel(model: torch.nn.Module, loss_of, device: torch.device):
    """The loss as DistributedDataParallel computes it: gradients averaged over the ranks in the
    backward pass. Dense gradients (hmrec's embeddings are dense), so gloo and NCCL both reduce
    them; unused parameters (an ablated part) are allowed."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(_LossOf(model, loss_of), device_ids=ids, find_unused_parameters=True)


def _streams(device: torch.device) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Every rank's CPU random state and, on CUDA, its device's, in rank order."""
    mine = (torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None)
    states = [None] * world()[1]
    torch.distributed.all_gather_object(states, mine)
    return [cpu for cpu, _ in states], [cuda for _, cuda in states] if device.type == "cuda" else None


def _save(
    path: Path, model, optimizer, settings: Settings, epoch: int, stale: int, best_state, log: Log, streams=None
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "stale": stale,
        "best_state": best_state,
        "best": log.best,
        "best_epoch": log.best_epoch,
        "log": log.epochs,
        "rng_cpu": torch.get_rng_state(),
        "rng_ranks": streams[0] if streams else None,
        "rng_cuda_ranks": streams[1] if streams else None,
        "rng_cuda": torch.cuda.get_rng_state(settings.device) if settings.device.type == "cuda" else None,
    }
    try:
        with atomic_file(path) as tmp:
            torch.save(state, tmp)
            recorded = digest(tmp)
        with atomic_file(path.with_suffix(".pt.json")) as tmp:
            tmp.write_text(json.dumps(recorded) + "\n")
    except Exception as error:
        if (why := write_failure(error)) is None:
            raise
        from hmrec_cli.errors import InputError

        raise InputError(f"cannot write the checkpoint {path}: {why}") from None
