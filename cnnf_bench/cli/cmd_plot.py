"""``cnnf-bench plot``: the paper's figures (and the student re-implementation's) from the results store."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cnnf_bench.cli.app import app, console, handle_errors, info
from cnnf_bench.cli.cmd_evaluate import DEFAULT_RESULTS
from cnnf_bench.cli.options import DataDirOpt, Device, DeviceOpt, StoreOpt


class FigureFormat(str, Enum):
    """File format of the figures."""

    png = "png"
    pdf = "pdf"
    svg = "svg"


@app.command()
@handle_errors
def plot(
    results: StoreOpt = DEFAULT_RESULTS,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the PNG/CSV files (default plots/<store name>).")
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="CNN-F checkpoint (k=0) for the restoration figure, repeatable "
            "(default: the stored k=0 CNN-F run with the most cycles).",
        ),
    ] = None,
    restoration: Annotated[
        bool, typer.Option("--restoration/--no-restoration", help="Draw the restoration figure (runs the model).")
    ] = True,
    severity: Annotated[int, typer.Option(help="Corruption severity (1-5) of the restoration figure.")] = 3,
    images: Annotated[int, typer.Option(help="Example images per corruption in the restoration figure.")] = 3,
    fmt: Annotated[
        FigureFormat, typer.Option("--format", "-f", help="Figure file format (pdf and svg are vector, for papers).")
    ] = FigureFormat.png,
    dpi: Annotated[int, typer.Option("--dpi", help="Resolution of raster output (png), dots per inch.")] = 110,
    device: DeviceOpt = Device.auto,
    data_dir: DataDirOpt = None,
) -> None:
    """Write every figure the store has data for (+ the CSV of its numbers and a caption file); skip the
    others with a note.

    The main table (accuracy per attack per model, error bars over seeds, Min and Worst case), accuracy
    against eps, against training iterations (CNN-F-k) and test iterations (Figure 5), confusion matrices,
    training curves, corruption table, cycles x eta grid, clean vs noisy accuracy, and the restoration
    of corrupted images by the feedback (Figure 6d).
    """
    from cnnf_bench.errors import ResultsError, UsageError
    from cnnf_bench.plots import make_figures, output
    from cnnf_bench.plots.labels import dataset_labels
    from cnnf_bench.shards import open_results

    if dpi < 10:
        raise UsageError(f"--dpi must be >= 10, got {dpi}")
    if not results.exists():
        raise ResultsError(f"no results store at {results}; run `cnnf-bench evaluate` or `cnnf-bench run` first")
    store = open_results(results)
    records = store.latest()
    for warning in store.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    out_dir = out if out is not None else Path("plots") / results.stem
    bases: tuple[Path, ...] = (Path(), results.resolve().parent.parent)
    if results.is_dir():
        # an archived suite (a folder of shards) may keep its runs' metrics.jsonl in the layout the records
        # name (checkpoints/<suite>/<run>/), so its training and reconstruction curves need no checkpoints
        bases += (results.resolve(),)
    taken: set[str] = set()
    with output(fmt.value, dpi):
        result = make_figures(records, out_dir, dataset_labels(data_dir), bases, taken)
        if restoration:
            _restoration(result, records, checkpoint, bases, out_dir, severity, images, device, data_dir, taken)
    _show(result, out_dir, fmt.value)


def _restoration(
    result: Any,
    records: list[Any],
    checkpoint: list[Path] | None,
    bases: tuple[Path, ...],
    out_dir: Path,
    severity: int,
    images: int,
    device: Device,
    data_dir: Path | None,
    taken: set[str],
) -> None:
    """The restoration figure (runs the model, so imports torch) of the chosen or the stored k=0 CNN-F."""
    from cnnf_bench.plots.restoration import pick_checkpoint
    from cnnf_bench.plots.restoration import restoration as restore
    from cnnf_bench.runtime import resolve_device

    chosen = list(checkpoint or [])
    if not chosen:
        found = pick_checkpoint(records, bases)
        if found is None:
            result.notes.append("restoration: skipped (no stored CNN-F run with k=0 found on disk; pass --checkpoint)")
        else:
            chosen = [found]
    dev = resolve_device(device.value)
    for path in chosen:
        result.add(restore(path, out_dir, data_dir=data_dir, severity=severity, images=images, device=dev, taken=taken))


def _show(result: Any, out_dir: Path, suffix: str) -> None:
    for path in result.written:
        info(f"wrote {escape(str(path))}", highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    figures = sum(1 for p in result.written if p.suffix == f".{suffix}")
    console.print(f"{figures} figure(s) in {escape(str(out_dir))} (each with a .csv and a .caption.txt)")
