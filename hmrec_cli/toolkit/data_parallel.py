"""Data-parallel training over several processes with torch.distributed, started by torch's own
elastic launcher, so one code path serves `hmrec rank --workers 2` on one machine and
`torchrun --nnodes M --nproc-per-node K -m hmrec_cli.cli rank ...` across machines.

Every process (rank) runs the whole command: it reads the same store, builds the same examples
and trains the same model on its share of each batch (`toolkit.batches.shuffled_batches`), the
gradients averaged by DistributedDataParallel (`toolkit.training.train`). Rank 0 alone decides
what the cache holds, writes it and the checkpoint; the others receive its decisions
(`from_leader`) and read what it wrote, so the cache folder must be one the ranks share.
Gloo on the CPU, NCCL on CUDA. Torch is imported only when a process group is asked for.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from hmrec_cli.errors import InputError

MAX_WORKERS = 1024  # the most processes --workers starts on one machine
WAIT = timedelta(hours=12)  # how long a rank waits for the others (rank 0 alone scores a whole week meanwhile)
LAUNCHED = "HMREC_LAUNCH_COMMAND"  # set by `launch` for its workers: the command the user typed

T = TypeVar("T")


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless a process group runs."""
    if "torch" not in sys.modules:  # no torch loaded: no process group either
        return 0, 1
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def leads() -> bool:
    """True in rank 0 (and in a process of its own): the one that writes."""
    return world()[0] == 0


def from_leader(make: Callable[[], T]) -> T:
    """`make()` run by rank 0 and its result handed to every rank (the others do not run it):
    every decision about the cache is rank 0's, so the ranks never take different paths."""
    rank, size = world()
    if size == 1:
        return make()
    import torch.distributed as dist

    box = [make() if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def local_scratch() -> Path:
    """Where a rank other than 0 spills intermediate files: its machine's temp folder (the cache is rank 0's)."""
    return Path(tempfile.gettempdir()) / "hmrec-spill"


def under_launcher() -> bool:
    """True in a worker started by torchrun or `launch` (they set the rendezvous variables)."""
    return "TORCHELASTIC_RUN_ID" in os.environ and "WORLD_SIZE" in os.environ


def join(device: str) -> int:
    """Join the launcher's process group (NCCL when `device` resolves to CUDA, else gloo) and
    return the world size. Ranks other than 0 go quiet: rank 0 reports for all of them."""
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.strip().lower() != "cpu" and torch.cuda.is_available()  # as `training.resolve_device` decides
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=WAIT)
    if dist.get_rank() != 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
    return dist.get_world_size()


def manifest_fields() -> dict:
    """What a cache entry records about the processes that made it: the world size, the nodes
    and the command that ran (as the user typed it under `--workers`, else this process's own when
    it is hmrec's command line; None from the Python API)."""
    _, size = world()
    started = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    ours = started.name == "hmrec" or started.parent.parts[-2:] == ("hmrec_cli", "cli")
    command = os.environ.get(LAUNCHED) or (shlex.join(["hmrec", *sys.argv[1:]]) if ours else None)
    nodes = int(os.environ.get("GROUP_WORLD_SIZE", "1")) if size > 1 else 1
    return {"world_size": size, "nodes": nodes, "command": command}


def recorded_command(command: str | None) -> None:
    """Make `command` the one `manifest_fields` records in this process (a worker that runs another
    process's command, as a Ray task does); None: this process's own."""
    if command is None:
        os.environ.pop(LAUNCHED, None)
    else:
        os.environ[LAUNCHED] = command


def leave(code: object) -> None:
    """End a rank with `code` (a SystemExit's) without the interpreter's teardown: with its work
    done and its output written, a rank left to exit normally aborted in about 1 run of 6 on 2
    cores (`terminate called without an active exception`, exit -6: torch.distributed's threads
    torn down while running, whether or not the process group was destroyed first), and the
    launcher then failed the whole command. Outside a launched worker or a process group it returns."""
    if not (under_launcher() or world()[1] > 1):
        return
    if not (code is None or isinstance(code, int)):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def launch(words: list[str], workers: int, shown: str) -> int:
    """Run `hmrec WORDS` in `workers` local processes under torch's elastic launcher (what
    `torchrun --standalone --nproc-per-node N` does), print rank 0's output and return the exit
    code: rank 0's when it failed (it said why on stderr), else 1 naming the first failed rank."""
    from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logs = tempfile.TemporaryDirectory(prefix="hmrec-workers-")  # rank 0's output, printed here when it is done
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=workers,
        run_id=uuid.uuid4().hex,
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
        logs_specs=DefaultLogsSpecs(log_dir=logs.name, redirects=Std.OUT),
    )
    threads = str(max(1, (os.cpu_count() or 1) // workers))  # the cores shared out, not each rank taking them all
    saved = {name: os.environ.get(name) for name in (LAUNCHED, "OMP_NUM_THREADS", "TORCH_CPP_LOG_LEVEL", "COLUMNS")}
    os.environ[LAUNCHED] = shown
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # not DDP's note that a model used every parameter
    os.environ.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))  # rank 0's tables as wide as here
    _quiet_agent()
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "hmrec_cli.cli", *words)
        for out in Path(logs.name).glob("*/attempt_0/0/stdout.log"):
            sys.stdout.write(out.read_text())
        return 0
    except ChildFailedError as error:
        failed = {rank: failure.exitcode for rank, failure in error.failures.items()}
        if failed.get(0, 0) > 0:
            return failed[0]
        rank, code = min(failed.items())
        print(f"hmrec: error: worker rank {rank} exited with code {code}", file=sys.stderr)
        return 1
    finally:
        logs.cleanup()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _quiet_agent() -> None:
    """The launcher's own log lines (a worker's failure in many lines) stay out of the output."""
    import logging

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)


def check_workers(workers: int) -> None:
    """--workers N starts N processes from a plain run; inside a launched worker it is refused
    (the launcher already chose the world size)."""
    if workers > 1 and under_launcher():
        raise InputError(
            f"--workers {workers}: this process already runs under torchrun "
            f"(world size {os.environ['WORLD_SIZE']}); leave --workers out"
        )
