"""The torch training loop every neural plugin shares: device choice with one fallback warning,
seeding, bf16 autocast on CUDA, progress with loss and examples/s, early stopping on a validation
figure, and checkpoints after every epoch so `--resume` continues exactly where a run stopped.

Checkpoints hold state dicts and plain values only (model, optimizer, epoch, best weights, RNG
states) and are read with `weights_only=True`; they are written to a temp file and renamed.
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

    def as_dict(self) -> dict:
        return {
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
    torch.manual_seed(settings.seed)
    groups = param_groups if param_groups is not None else model.parameters()
    # fused: one pass over each parameter's memory per step, not one per arithmetic op (5-10x faster
    # on the CPU for the large embedding tables; the same update)
    fused = settings.device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate, weight_decay=settings.weight_decay, fused=fused)
    log, best_state, stale, start = Log(), None, 0, 0
    if (
        resume
        and checkpoint is not None
        and checkpoint.is_file()
        and (saved := _load(checkpoint, model, optimizer, settings))
    ):
        start, stale, best_state = saved["epoch"], saved["stale"], saved["best_state"]
        log = Log(saved["log"], saved["best_epoch"], saved["best"], False, saved["epoch"])
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
                loss = loss_of(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach().float()
            seen += batch.numel()
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
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
        model.eval()
        with torch.no_grad():
            figure = validate() if validate is not None else None  # no validation: keep the last epoch
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
        if checkpoint is not None:
            _save(checkpoint, model, optimizer, settings, epoch + 1, stale, best_state, log)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return log


def _load(path: Path, model, optimizer, settings: Settings) -> dict | None:
    """Restore a checkpoint into `model` and `optimizer`; a damaged one (size or hash not as
    written, or unreadable) is one warning and None, so training starts afresh."""
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
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["rng_cpu"])
            if settings.device.type == "cuda" and saved.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(saved["rng_cuda"], settings.device)
            return saved
    except Exception as error:  # whatever a damaged file makes torch or json raise
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
    console.warn(f"checkpoint {path} is damaged ({problem}); training from the start")
    return None


def _save(path: Path, model, optimizer, settings: Settings, epoch: int, stale: int, best_state, log: Log) -> None:
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
