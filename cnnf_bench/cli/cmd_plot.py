"""``cnnf-bench plot``: the paper's figures (and the student re-implementation's) from the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnf_bench.cli.app import app, console, handle_errors
from cnnf_bench.cli.cmd_evaluate import DEFAULT_RESULTS
from cnnf_bench.cli.options import DataDirOpt, Device, DeviceOpt, StoreOpt


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
    device: DeviceOpt = Device.auto,
    data_dir: DataDirOpt = None,
) -> None:
    """Write every figure the store has data for (PNG + the CSV of its numbers); skip the others with a note.

    Accuracy against eps, against training iterations (CNN-F-k) and test iterations (Figure 5), confusion
    matrices, training curves, corruption table, cycles x eta grid, clean vs noisy accuracy, and the
    restoration of corrupted images by the feedback (Figure 6d).
    """
    from cnnf_bench.errors import ResultsError
    from cnnf_bench.plots import make_figures
    from cnnf_bench.plots.labels import dataset_labels
    from cnnf_bench.shards import open_results

    if not results.exists():
        raise ResultsError(f"no results store at {results}; run `cnnf-bench evaluate` or `cnnf-bench run` first")
    store = open_results(results)
    records = store.latest()
    for warning in store.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    out_dir = out if out is not None else Path("plots") / results.stem
    bases = (Path(), results.resolve().parent.parent)
    taken: set[str] = set()
    result = make_figures(records, out_dir, dataset_labels(data_dir), bases, taken)
    if restoration:
        from cnnf_bench.plots.restoration import pick_checkpoint
        from cnnf_bench.plots.restoration import restoration as restore
        from cnnf_bench.runtime import resolve_device

        chosen = list(checkpoint or [])
        if not chosen:
            found = pick_checkpoint(records, bases)
            if found is None:
                result.notes.append(
                    "restoration: skipped (no stored CNN-F run with k=0 found on disk; pass --checkpoint)"
                )
            else:
                chosen = [found]
        dev = resolve_device(device.value)
        for path in chosen:
            result.add(
                restore(path, out_dir, data_dir=data_dir, severity=severity, images=images, device=dev, taken=taken)
            )
    for path in result.written:
        console.print(f"wrote {path}", highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    pngs = sum(1 for p in result.written if p.suffix == ".png")
    console.print(f"{pngs} figure(s) in {out_dir}")
