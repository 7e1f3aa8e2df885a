"""Training curves (the student re-implementation's loss curves) from each run's ``metrics.jsonl``.

The runs are the checkpoints the records name: ``metrics.jsonl`` and ``config.yaml`` sit beside each
checkpoint. A relative checkpoint path is taken relative to the working directory first, then to the
folder above the results store (where ``cnnf-bench run`` was started). Per series and epoch the figure
shows the mean over training seeds (shaded: ± sample std) of the epoch's mean training loss and of the
clean test accuracy measured after the epoch.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnf_bench.plots.data import Record, SeriesKey, seeds_text, series_key, series_labels
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

METRICS = (("loss", "training loss (epoch mean)", 1.0), ("test_acc", "clean test accuracy (%)", 100.0))
CSV_HEADER = (
    "dataset",
    "line",
    "model",
    "train_mode",
    "trained_cycles",
    "eta",
    "epoch",
    "metric",
    "mean",
    "std",
    "runs",
)


@dataclass
class Run:
    """One training run: its series, seed, per-epoch metrics and resolved training config."""

    key: SeriesKey
    seed: int | None
    metrics: list[dict[str, Any]]
    config: dict[str, Any]


def _find(path: Path, bases: Sequence[Path]) -> Path | None:
    if path.is_absolute():
        return path if path.exists() else None
    for base in bases:
        if (base / path).exists():
            return base / path
    return None


def load_runs(records: Sequence[Record], bases: Sequence[Path]) -> tuple[list[Run], list[str]]:
    """The training runs behind the records whose ``metrics.jsonl`` can be found, and the missing folders."""
    import yaml

    seen: dict[str, Record] = {}
    for r in records:
        path = str((r.get("checkpoint") or {}).get("path", ""))
        if path and path not in seen:
            seen[path] = r
    runs, missing = [], []
    for path, record in seen.items():
        folder = _find(Path(path).parent, bases)
        metrics_file = None if folder is None else folder / "metrics.jsonl"
        if metrics_file is None or not metrics_file.is_file():
            missing.append(str(Path(path).parent))
            continue
        metrics = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
        config_file = metrics_file.with_name("config.yaml")
        config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
        seed = record.get("train_seed")
        runs.append(Run(series_key(record), None if seed is None else int(seed), metrics, config or {}))
    return runs, missing


def _describe(runs: Sequence[Run]) -> str:
    train = sorted({int(first.get("images", 0)) for run in runs for first in run.metrics[:1]})
    test = sorted({int(first.get("test_images", 0)) for run in runs for first in run.metrics[:1]})
    modes = []
    for mode in sorted({run.key.train_mode for run in runs}):
        given = {(run.config.get("train") or {}).get("eps") for run in runs if run.key.train_mode == mode}
        eps = sorted(float(e) for e in given if e is not None)
        text = f"{mode} training"
        if mode != "standard" and eps:
            text += f" (eps {', '.join(f'{e:g}' for e in eps)} in [0, 1] pixel units)"
        modes.append(text)
    trains = [run.config.get("train") or {} for run in runs]
    optimizers = sorted({f"{t.get('optimizer', '?')} lr {t.get('lr', '?')}" for t in trains})
    return (
        f"{', '.join(modes)}; {', '.join(optimizers)}; n={'/'.join(map(str, train))} training images per epoch, "
        f"n={'/'.join(map(str, test))} test images; training {seeds_text(run.seed for run in runs)}"
    )


def training_curves(
    records: Sequence[Record], out_dir: Path, bases: Sequence[Path], taken: set[str] | None = None
) -> PlotResult:
    """One PNG + CSV per dataset: training loss and clean test accuracy against epoch, per series."""
    taken = set() if taken is None else taken
    result = PlotResult()
    runs, missing = load_runs(records, bases)
    if not runs:
        where = f" (looked for {missing[0]}/metrics.jsonl and {len(missing) - 1} more)" if missing else ""
        result.notes.append(f"training curves: skipped (no metrics.jsonl found beside the records' checkpoints{where})")
        return result
    if missing:
        result.notes.append(f"training curves: {len(missing)} run folder(s) not found, e.g. {missing[0]}")
    by_dataset: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_dataset[run.key.dataset].append(run)
    for dataset, dataset_runs in sorted(by_dataset.items()):
        by_series: dict[SeriesKey, list[Run]] = defaultdict(list)
        for run in dataset_runs:
            by_series[run.key].append(run)
        labels = series_labels(by_series)
        fig, axes = new_figure(len(METRICS), size=(5.6, 4.2))
        rows = []
        for i, key in enumerate(sorted(by_series)):
            color, marker = series_style(i)
            for ax, (metric, _, scale) in zip(axes, METRICS, strict=True):
                per_epoch: dict[int, list[float]] = defaultdict(list)
                for run in by_series[key]:
                    for epoch in run.metrics:
                        if metric in epoch:
                            per_epoch[int(epoch["epoch"])].append(float(epoch[metric]))
                epochs = sorted(per_epoch)
                if not epochs:
                    continue
                means = [statistics.fmean(per_epoch[e]) for e in epochs]
                stds = [statistics.stdev(per_epoch[e]) if len(per_epoch[e]) > 1 else None for e in epochs]
                ax.plot(epochs, [scale * v for v in means], marker=marker, ms=3, color=color, label=labels[key])
                low = [scale * (m - (s or 0.0)) for m, s in zip(means, stds, strict=True)]
                high = [scale * (m + (s or 0.0)) for m, s in zip(means, stds, strict=True)]
                ax.fill_between(epochs, low, high, color=color, alpha=0.15)
                for e, m, s in zip(epochs, means, stds, strict=True):
                    context = [dataset, labels[key], key.model, key.train_mode, key.trained_cycles, key.eta]
                    rows.append([*context, e, metric, m, s, len(per_epoch[e])])
        for ax, (_, ylabel, _) in zip(axes, METRICS, strict=True):
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            integer_ticks(ax)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        title = f"{dataset}: training curves (mean ± std over seeds)\n{_describe(dataset_runs)}"
        stem = unique_stem(out_dir, f"training_curves-{slug(dataset)}", taken)
        result.written.append(save(fig, out_dir / f"{stem}.png", title))
        result.written.append(write_csv(out_dir / f"{stem}.csv", CSV_HEADER, rows))
    return result
