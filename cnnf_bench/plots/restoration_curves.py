"""Reconstruction error per epoch, clean and corrupted inputs (issue 14), from each run's ``metrics.jsonl``.

Training records, after every epoch, how far the feedback's last reconstruction is from the clean image
(:func:`cnnf_bench.restore.restoration_stats`: mean squared distance, in [0, 1] pixel units when the
feedback reconstructs pixels, k = 0) for clean inputs and for corrupted copies (Gaussian noise, shot
noise, blur at severity 3). One panel per kind of input; per CNN-F series and epoch the mean over
training seeds (shaded: ± sample std). The dashed grey line is the corrupted input's own distance to
the clean image: a feedback that restores draws its line below it. Runs come from the checkpoints the
records name, exactly as for the training curves.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from cnnf_bench.plots.data import Record, SeriesKey, seeds_text, series_labels
from cnnf_bench.plots.figure import (
    PlotResult,
    integer_ticks,
    new_figure,
    save,
    series_style,
    slug,
    unique_stem,
    write_csv,
)
from cnnf_bench.plots.training import Run, load_runs

CSV_HEADER = (
    "dataset",
    "line",
    "model",
    "trained_cycles",
    "eta",
    "kind",
    "severity",
    "epoch",
    "quantity",
    "mean",
    "std",
    "runs",
)


def _stats(run: Run) -> dict[tuple[str, int], dict[int, dict[str, float]]]:
    """Per (kind, severity), per epoch: the last cycle's reconstruction distance and the input's own."""
    out: dict[tuple[str, int], dict[int, dict[str, float]]] = defaultdict(dict)
    for epoch in run.metrics:
        for s in epoch.get("restoration") or []:
            if s.get("recon_mse"):
                key = (str(s["kind"]), int(s.get("severity", 0)))
                out[key][int(epoch["epoch"])] = {"recon": float(s["recon_mse"][-1]), "input": float(s["input_mse"])}
    return out


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def reconstruction_curves(
    records: Sequence[Record], out_dir: Path, bases: Sequence[Path], taken: set[str] | None = None
) -> PlotResult:
    """One PNG + CSV per dataset: reconstruction error against epoch, a panel per kind of input."""
    taken = set() if taken is None else taken
    result = PlotResult()
    runs, _ = load_runs(records, bases)
    runs = [run for run in runs if _stats(run)]
    if not runs:
        result.notes.append("reconstruction curves: skipped (no CNN-F run with per-epoch restoration metrics)")
        return result
    by_dataset: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_dataset[run.key.dataset].append(run)
    for dataset, dataset_runs in sorted(by_dataset.items()):
        by_series: dict[SeriesKey, list[Run]] = defaultdict(list)
        for run in dataset_runs:
            by_series[run.key].append(run)
        labels = series_labels(by_series)
        kinds = sorted({k for run in dataset_runs for k in _stats(run)}, key=lambda k: (k[0] != "clean", k))
        fig, axes = new_figure(len(kinds), cols=min(len(kinds), 4), size=(4.2, 3.6))
        rows = []
        pixel_space = all(int((run.config.get("model") or {}).get("ind", 0) or 0) == 0 for run in dataset_runs)
        for ax, (kind, severity) in zip(axes, kinds, strict=True):
            inputs: dict[int, list[float]] = defaultdict(list)
            for i, key in enumerate(sorted(by_series)):
                color, marker = series_style(i)
                per_epoch: dict[int, list[float]] = defaultdict(list)
                for run in by_series[key]:
                    for epoch, values in _stats(run).get((kind, severity), {}).items():
                        per_epoch[epoch].append(values["recon"])
                        inputs[epoch].append(values["input"])
                epochs = sorted(per_epoch)
                if not epochs:
                    continue
                stats = [_mean_std(per_epoch[e]) for e in epochs]
                ax.plot(epochs, [m for m, _ in stats], marker=marker, ms=3, color=color, label=labels[key])
                ax.fill_between(
                    epochs,
                    [m - (s or 0.0) for m, s in stats],
                    [m + (s or 0.0) for m, s in stats],
                    color=color,
                    alpha=0.15,
                )
                context = [dataset, labels[key], key.model, key.trained_cycles, key.eta, kind, severity]
                rows += [
                    [*context, e, "recon_mse", m, s, len(per_epoch[e])] for e, (m, s) in zip(epochs, stats, strict=True)
                ]
            if kind != "clean" and inputs:
                epochs = sorted(inputs)
                ax.plot(
                    epochs, [statistics.fmean(inputs[e]) for e in epochs], "--", color="0.5", label="corrupted input"
                )
                rows += [
                    [
                        dataset,
                        "input",
                        "-",
                        "-",
                        "-",
                        kind,
                        severity,
                        e,
                        "input_mse",
                        statistics.fmean(inputs[e]),
                        None,
                        len(inputs[e]),
                    ]
                    for e in epochs
                ]
            ax.set_title(kind if kind == "clean" else f"{kind}, severity {severity}", fontsize="medium")
            ax.set_xlabel("epoch")
            ax.set_ylabel("MSE to the clean image" + (" (pixels in [0, 1])" if pixel_space else " (layer k)"))
            integer_ticks(ax)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        n = sorted(
            {int(s.get("n", 0)) for run in dataset_runs for e in run.metrics[:1] for s in e.get("restoration") or []}
        )
        title = (
            f"{dataset}: feedback reconstruction (last cycle) vs the clean image, per epoch (mean ± std over seeds)\n"
            f"n={'/'.join(map(str, n))} test images; training {seeds_text(run.seed for run in dataset_runs)}; "
            "dashed: the corrupted input's own distance (below it = restoration)"
        )
        stem = unique_stem(out_dir, f"reconstruction_curves-{slug(dataset)}", taken)
        result.written.append(save(fig, out_dir / f"{stem}.png", title))
        result.written.append(write_csv(out_dir / f"{stem}.csv", CSV_HEADER, rows))
    return result
