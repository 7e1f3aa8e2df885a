"""Writing figures and the CSV beside them: Agg canvases (no pyplot), checked titles, paper formats.

Every figure passes through :func:`save`, which refuses a figure without a title, axis labels and a
legend, so no figure leaves the tool unlabelled. The figure shows a one-line title (the first line of
the title it is given); the full title, with every parameter, goes to ``<stem>.caption.txt`` beside it,
ready for a paper's caption. Numbers go to a CSV of the same stem, written by :func:`write_csv`, so a
reader can check any point of any figure. The file format (PNG, PDF or SVG) and the resolution are set
for a whole ``plot`` call with :func:`output`.
"""

from __future__ import annotations

import contextlib
import csv
import re
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
#: file formats a figure can be written in (vector formats for papers)
FORMATS = ("png", "pdf", "svg")


@dataclass
class Output:
    """The format and resolution figures are written with (see :func:`output`)."""

    format: str = "png"
    dpi: int = DPI


OUTPUT = Output()


@contextlib.contextmanager
def output(fmt: str = "png", dpi: int = DPI) -> Iterator[None]:
    """Write every figure saved inside the block as ``fmt`` at ``dpi`` (the defaults again afterwards)."""
    if fmt not in FORMATS:
        raise ValueError(f"figure format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if dpi < 10:
        raise ValueError(f"dpi must be >= 10, got {dpi}")
    saved = (OUTPUT.format, OUTPUT.dpi)
    OUTPUT.format, OUTPUT.dpi = fmt, dpi
    try:
        yield
    finally:
        OUTPUT.format, OUTPUT.dpi = saved


#: one colour per series, in a fixed order so the same model keeps its colour across figures
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
#: markers that tell lines apart once the palette's colours repeat
MARKERS = ("o", "s", "^", "D", "v", "P")


def series_style(i: int) -> tuple[str, str]:
    """Colour and marker of the i-th line: a colour per line, then a new marker each time the colours repeat."""
    return PALETTE[i % len(PALETTE)], MARKERS[(i // len(PALETTE)) % len(MARKERS)]


@dataclass
class PlotResult:
    """Files written and one-line notes on figures that were skipped (the CLI prints both)."""

    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, other: PlotResult) -> PlotResult:
        """Merge another result into this one."""
        self.written.extend(other.written)
        self.notes.extend(other.notes)
        return self


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "figure"


def unique_stem(out_dir: Path, stem: str, taken: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... when an earlier figure of this run already used it."""
    candidate, i = stem, 2
    while candidate in taken:
        candidate, i = f"{stem}-{i}", i + 1
    taken.add(candidate)
    return candidate


def new_figure(
    panels: int = 1, cols: int | None = None, size: tuple[float, float] = (5.2, 3.8)
) -> tuple[Figure, list[Axes]]:
    """A figure with ``panels`` axes on a grid (``cols`` per row), on an Agg canvas."""
    cols = min(panels, cols or panels)
    rows = -(-panels // cols)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(rows, cols, squeeze=False)
    axes = [ax for row in grid for ax in row]
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


def _has_legend(fig: Figure) -> bool:
    return bool(fig.legends) or any(ax.get_legend() is not None for ax in fig.axes)


def save(fig: Figure, path: Path, title: str) -> Path:
    """Title the figure (its first line), check it is labelled, write it in the current :func:`output`
    format (``path``'s suffix is replaced) and the full title to ``<stem>.caption.txt``.

    Raises:
        ValueError: the figure lacks axis labels or a legend (a bug in the figure's code).
    """
    width = max(40, int(fig.get_figwidth() * 11.5))
    lines = [line for line in title.splitlines() if line.strip()] or [title]
    fig.suptitle(textwrap.shorten(lines[0], width=2 * width, placeholder=" ..."), fontsize="medium")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    if not any(ax.get_xlabel() for ax in visible) or not any(ax.get_ylabel() for ax in visible):
        raise ValueError(f"figure {path.name} has no axis labels")
    if not _has_legend(fig):
        raise ValueError(f"figure {path.name} has no legend")
    path = path.with_suffix(f".{OUTPUT.format}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # bbox "tight": long tick labels (class names such as "T-shirt/top") are never cut at the edge
    fig.savefig(path, dpi=OUTPUT.dpi, bbox_inches="tight", pad_inches=0.05)
    path.with_suffix(".caption.txt").write_text(" ".join(lines) + "\n")
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV with a header row; floats keep full precision, None becomes an empty cell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row])
    return path


def percent(value: float | None) -> float:
    """A fraction as a percentage; None (e.g. the std of a single run) becomes 0."""
    return 0.0 if value is None else 100.0 * value


def integer_ticks(ax: Axes) -> None:
    """Whole-number ticks on the x axis (iterations, epochs, severities)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
