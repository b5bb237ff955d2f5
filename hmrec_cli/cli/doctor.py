"""`hmrec doctor`: what this installation runs on, and whether anything a command needs is broken.

Each check is a Finding: a name, what was found, and a state: `ok`, `note` (worth knowing, nothing
is broken: no GPU, no store yet, an optional library missing) or `broken` (a command will fail:
a required library does not import, a plugin does not load, the store is damaged). Checks import
what they look at, so a broken library is reported rather than crashing the report.
"""

from __future__ import annotations

import importlib
import os
import platform
import shutil
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

REQUIRED = (
    "polars",
    "pyarrow",
    "numpy",
    "scipy",
    "torch",
    "implicit",
    "annoy",
    "threadpoolctl",
    "rich",
    "typer",
    "lightgbm",
    "plotext",
)
OPTIONAL = ("matplotlib",)  # the `plots` extra
ENVIRONMENT = ("HMREC_DATA", "HMREC_CACHE", "HMREC_LOAD_PLUGINS")


@dataclass(frozen=True)
class Finding:
    section: str
    name: str
    value: str
    state: str = "ok"  # ok | note | broken


def _version(module: str, required: bool) -> Finding:
    section = "libraries" if required else "optional libraries"
    try:
        loaded = importlib.import_module(module)
    except ImportError as error:
        return Finding(
            section,
            module,
            f"not installed ({error})" if required else "not installed",
            "broken" if required else "note",
        )
    except Exception as error:  # a library that is installed but fails to import
        return Finding(section, module, f"fails to import: {type(error).__name__}: {error}", "broken")
    try:
        version = metadata.version(module)
    except metadata.PackageNotFoundError:
        version = str(getattr(loaded, "__version__", "?"))
    return Finding(section, module, version)


def _torch() -> list[Finding]:
    try:
        import torch
    except Exception:
        return []  # reported among the libraries
    found = [Finding("torch", "CUDA build", torch.version.cuda or "no (CPU-only build)")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            free, total = torch.cuda.mem_get_info(i)
            found.append(Finding("torch", f"cuda:{i}", f"{props.name}, {_bytes(free)} free of {_bytes(total)}"))
    else:
        found.append(Finding("torch", "device", "cpu (no CUDA device visible)", "note"))
    found.append(
        Finding("torch", "threads", f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op")
    )
    return found


def _threads() -> list[Finding]:
    found = [
        Finding(
            "machine",
            "cpus",
            f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable",
        )
    ]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            found.append(
                Finding(
                    "machine",
                    f"{pool.get('user_api')} ({pool.get('internal_api')})",
                    f"{pool.get('num_threads')} threads, {Path(pool.get('filepath', '?')).name}",
                )
            )
    except Exception as error:
        found.append(Finding("machine", "thread pools", f"unknown ({type(error).__name__}: {error})", "note"))
    env = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS") or k.startswith("OPENBLAS_")}
    if env:
        found.append(Finding("machine", "thread variables", ", ".join(f"{k}={v}" for k, v in sorted(env.items()))))
    return found


def _memory_and_disk(cache: Path) -> list[Finding]:
    found = []
    available = _available_memory()
    if available is not None:
        found.append(
            Finding("machine", "memory available", _bytes(available), "ok" if available > 2 * 1024**3 else "note")
        )
    existing = next((p for p in (cache, *cache.absolute().parents) if p.exists()), Path("/"))
    usage = shutil.disk_usage(existing)
    state = "ok" if usage.free > 1024**3 else "broken"
    found.append(
        Finding("machine", f"disk free at the cache ({cache})", f"{_bytes(usage.free)} of {_bytes(usage.total)}", state)
    )
    writable = os.access(existing, os.W_OK)
    found.append(
        Finding(
            "machine",
            "cache writable",
            "yes" if writable else f"no ({existing} is read-only)",
            "ok" if writable else "broken",
        )
    )
    return found


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (what can be allocated without swapping), else free pages."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _store(data: Path) -> list[Finding]:
    from hmrec_cli.data.store import Store, reingest
    from hmrec_cli.errors import InputError

    if not (data / "manifest.json").exists():
        return [Finding("store", str(data), f"no store here yet ({reingest(data)} makes one)", "note")]
    try:
        store = Store.open(data)
        rows = store.transactions.height  # reads the table: a damaged file shows here
    except InputError as error:
        return [Finding("store", str(data), str(error), "broken")]
    return [
        Finding("store", "path", str(data)),
        Finding("store", "fingerprint", store.fingerprint),
        Finding("store", "dates", f"{store.first_date} .. {store.last_date} ({rows:,} rows)"),
        Finding("store", "oracle", "yes (synthetic world)" if (data / "oracle.parquet").is_file() else "no"),
    ]


def _plugins() -> list[Finding]:
    from hmrec_cli.registry import PluginBroken, discover

    found = []
    for info in discover():
        try:
            cls = info.load()
            found.append(
                Finding("plugins", f"{info.kind} {info.name}", f"{cls.version} from {info.distribution} {info.version}")
            )
        except PluginBroken as broken:
            found.append(Finding("plugins", f"{info.kind} {info.name}", f"fails to load: {broken.reason}", "broken"))
    return found


def examine(data: Path, cache: Path) -> list[Finding]:
    """Every check, in the order they are printed."""
    from hmrec_cli import __version__

    found = [
        Finding("hmrec", "hmrec", __version__),
        Finding("hmrec", "python", f"{platform.python_version()} on {platform.system()} {platform.machine()}"),
    ]
    settings = {k: os.environ[k] for k in ENVIRONMENT if k in os.environ}
    found.append(
        Finding("hmrec", "environment", ", ".join(f"{k}={v}" for k, v in settings.items()) or "no HMREC_* variable set")
    )
    found += [_version(m, True) for m in REQUIRED] + [_version(m, False) for m in OPTIONAL]
    found += _torch() + _threads() + _memory_and_disk(cache) + _store(data) + _plugins()
    return found


def as_json(findings: list[Finding]) -> dict:
    return {
        "findings": [asdict(f) for f in findings],
        "broken": [f"{f.name}: {f.value}" for f in findings if f.state == "broken"],
    }


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""
