"""Figures: the same line charts drawn in the terminal (plotext), written to PNG or SVG files
(matplotlib, the optional `plots` extra) and inlined as SVG in `hmrec report`.

A figure is a list of panels; a panel has a title, axis labels and named series of (x, y) points.
Each library is imported only when a figure is drawn, so commands without --plot stay light.
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

from hmrec_cli.errors import InputError

SUFFIXES = (".png", ".svg")
PLAIN_MARKERS = "ox+*#@%=&$"  # without colour (a log file), each series needs its own character


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)


def terminal(panels: list[Panel], width: int | None = None, colour: bool = True) -> str:
    """The panels one under the other as text charts (plotext), `width` columns wide (default: the
    terminal's, at most 100); without colour codes when `colour` is False (a file or a pipe)."""
    import plotext as plt

    charts = []
    for panel in panels:
        plt.clear_figure()
        plt.title(panel.title)
        plt.xlabel(panel.xlabel)
        plt.ylabel(panel.ylabel)
        for i, (name, (xs, ys)) in enumerate(panel.series.items()):
            marker = ("braille" if len(xs) > 20 else "hd") if colour else PLAIN_MARKERS[i % len(PLAIN_MARKERS)]
            plt.plot(xs, ys, label=name, marker=marker)
        if ticks := whole_ticks(panel):
            plt.xticks(ticks)
        plt.plotsize(width or min(plt.terminal_width() or 100, 100), 16)
        plt.theme("clear")
        text = plt.build()
        charts.append(text if colour else plt.uncolorize(text))
    plt.clear_figure()
    return "\n".join(charts)


def whole_ticks(panel: Panel, most: int = 8) -> list[int] | None:
    """Whole-number x ticks (1, 20, 40, ... 100) when every x is a whole number (K, epoch), so no
    axis shows K = 25.8 or epoch 2.5; None for any other axis (the library's own ticks)."""
    xs = [x for xs, _ in panel.series.values() for x in xs]
    if not xs or not all(float(x).is_integer() for x in xs):
        return None
    low, high = int(min(xs)), int(max(xs))
    step = next(m * 10**e for e in itertools.count() for m in (1, 2, 5) if (high - low) / (m * 10**e) < most)
    multiples = list(range(step * math.ceil(low / step), high + 1, step))
    return multiples if multiples and multiples[0] - low <= step / 2 else [low, *multiples]


def training_curve(log: dict, title: str) -> list[Panel]:
    """Loss and validation figure per epoch from a training log (`hmrec_cli.toolkit.training.Log`);
    [] when the log has no epochs (a ranker that does not train by epochs)."""
    epochs = log.get("epochs") or []
    if not epochs:
        return []
    xs = [e["epoch"] for e in epochs]
    panels = [Panel(f"{title}: training loss", "epoch", "mean loss", {"loss": (xs, [e["loss"] for e in epochs])})]
    validated = [(e["epoch"], e["validation"]) for e in epochs if e.get("validation") is not None]
    if validated:
        panels.append(
            Panel(
                f"{title}: validation MAP@12",
                "epoch",
                "MAP@12",
                {"validation": ([x for x, _ in validated], [v for _, v in validated])},
            )
        )
    return panels


def check_path(path: Path) -> Path:
    """`--plot-out` must end in .png or .svg and need matplotlib: say so before any work is done."""
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(f"--plot-out {path}: expected a .png or .svg file name")
    require_matplotlib("--plot-out")
    return path


def require_matplotlib(option: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(
            f"{option} draws with matplotlib, which is not installed: pip install 'hmrec[plots]'"
        ) from None


def _figure(panels: list[Panel]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 3.2 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        for name, (xs, ys) in panel.series.items():
            ax.plot(xs, ys, label=name, marker="o" if len(xs) < 20 else None)
        ax.set_title(panel.title)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        if ticks := whole_ticks(panel):
            ax.set_xticks(ticks)
        if panel.series:
            ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def save(panels: list[Panel], path: Path) -> None:
    """Write the figure to `path` (.png or .svg), through a temp file and a rename."""
    import matplotlib.pyplot as plt

    from hmrec_cli.atomic import atomic_file

    fig = _figure(panels)
    try:
        with atomic_file(path) as tmp:
            fig.savefig(
                tmp,
                format=path.suffix.lower().lstrip("."),
                metadata={"Date": None} if path.suffix.lower() == ".svg" else None,
            )
    finally:
        plt.close(fig)


def svg(panels: list[Panel]) -> str:
    """The figure as an inline <svg> element (no XML header), for an HTML page."""
    import matplotlib.pyplot as plt

    fig = _figure(panels)
    buffer = io.StringIO()
    try:
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]
