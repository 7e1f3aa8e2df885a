"""Confusion matrices (the student re-implementation's Figs. 5-8) from stored per-example predictions.

One figure per dataset and condition (clean images, or random noise of a given eps), one panel per
deployed model; counts are summed over training seeds and attack seeds and each row is normalised to
the true class. Records store predictions but not labels, so the true labels of the fixed evaluation
subset come from a :data:`LabelSource` (the CLI loads them from the dataset).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.patches import Rectangle

from cnnf_bench.bits import unpack_labels
from cnnf_bench.classes import CLASS_NAMES
from cnnf_bench.errors import CnnfBenchError
from cnnf_bench.plots.data import (
    Record,
    SeriesKey,
    by_run,
    canonical,
    deployed,
    n_text,
    seeds_text,
    series_key,
    series_labels,
)
from cnnf_bench.plots.figure import PlotResult, new_figure, save, slug, unique_stem, write_csv

#: (dataset, subset seed) -> labels of the whole test split in the order of the fixed evaluation permutation
LabelSource = Callable[[str, int], np.ndarray]

#: view-free conditions whose predictions make confusion matrices
CONDITIONS = ("none", "noise")
CSV_HEADER = ("dataset", "condition", "model", "true_class", "predicted_class", "count", "fraction_of_true", "runs")


def condition_text(attack: str, params: Mapping[str, Any]) -> str:
    """What the images were, for titles."""
    if attack == "none":
        return "clean test images"
    if attack == "noise":
        return (
            f"noisy test images (uniform noise in the L-inf ball, eps {float(params.get('eps', 0)):g} in [0, 1] "
            f"units, {params.get('draws', '?')} draw(s) per image)"
        )
    return f"{attack} {json.dumps(dict(params), sort_keys=True)}"


def matrix(records: Sequence[Record], labels: LabelSource, classes: int) -> np.ndarray:
    """Counts[true, predicted] summed over the records (each needs ``predictions``)."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    for record in records:
        n = int(record["n"])
        predicted = unpack_labels(str(record["predictions"]), n)
        subset = record.get("subset") or {}
        truth = labels(str(record["dataset"]), int(subset.get("seed", 0)))[:n]
        np.add.at(counts, (truth, predicted), 1)
    return counts


def _draw_panel(ax: Any, counts: np.ndarray, names: Sequence[str], title: str) -> Any:
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    image = ax.imshow(100 * fractions, cmap="viridis", vmin=0, vmax=100)
    k = counts.shape[0]
    for i in range(k):
        for j in range(k):
            if fractions[i, j] >= 0.005:
                color = "black" if fractions[i, j] > 0.6 else "white"
                ax.text(j, i, f"{100 * fractions[i, j]:.0f}", ha="center", va="center", fontsize=6, color=color)
    off = fractions.copy()
    np.fill_diagonal(off, -1)
    i, j = (int(v) for v in np.unravel_index(int(np.argmax(off)), off.shape))
    if off[i, j] > 0:
        label = f"most frequent confusion: {names[i]} -> {names[j]} ({100 * off[i, j]:.0f}%)"
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2, label=label))
    else:
        ax.plot([], [], " ", label="no confusion: every example on the diagonal")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), fontsize="x-small", frameon=False)
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(int(counts.sum()), 1)
    ax.set_title(f"{title}: accuracy {100 * accuracy:.1f}%", fontsize="small")
    return image


def confusion_matrices(
    records: Sequence[Record], out_dir: Path, labels: LabelSource | None, taken: set[str] | None = None
) -> PlotResult:
    """One PNG + CSV per (dataset, condition): a panel per deployed model, rows normalised to the true class."""
    taken = set() if taken is None else taken
    result = PlotResult()
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.get("attack") in CONDITIONS and r.get("predictions") and deployed(r):
            params = {k: v for k, v in (r.get("params") or {}).items() if r["attack"] != "none" or k != "eps"}
            groups[(str(r["dataset"]), str(r["attack"]), canonical(params))].append(r)
    if not groups:
        result.notes.append("confusion matrices: skipped (no clean or noise record with stored predictions)")
        return result
    if labels is None:
        result.notes.append("confusion matrices: skipped (no source of true labels for the evaluation subsets)")
        return result
    for (dataset, attack, params_json), group in sorted(groups.items()):
        names = CLASS_NAMES.get(dataset, tuple(str(i) for i in range(10)))
        by_series: dict[SeriesKey, list[Record]] = defaultdict(list)
        for r in group:
            by_series[series_key(r)].append(r)
        panel_labels = series_labels(by_series)
        try:
            counts = {key: matrix(rs, labels, len(names)) for key, rs in by_series.items()}
        except CnnfBenchError as exc:
            result.notes.append(f"confusion matrices: skipped for {dataset} (cannot load the true labels: {exc})")
            continue
        keys = sorted(by_series)
        fig, axes = new_figure(len(keys), cols=min(3, len(keys)), size=(4.6, 5.0))
        image = None
        rows = []
        for ax, key in zip(axes, keys, strict=True):
            runs = by_run(by_series[key])
            title = f"{panel_labels[key]} ({len(runs)} run{'s' if len(runs) > 1 else ''})"
            image = _draw_panel(ax, counts[key], names, title)
            totals = counts[key].sum(axis=1)
            for i in range(len(names)):
                for j in range(len(names)):
                    c = int(counts[key][i, j])
                    fraction = c / totals[i] if totals[i] else None
                    rows.append([dataset, attack, panel_labels[key], names[i], names[j], c, fraction, len(runs)])
        assert image is not None
        fig.colorbar(image, ax=axes, shrink=0.7, label="% of the true class")
        params = json.loads(params_json)
        title = (
            f"{dataset}: confusion matrices on {condition_text(attack, params)}\n"
            f"{n_text(int(r['n']) for r in group)} test images per run, training "
            f"{seeds_text(r.get('train_seed') for r in group)}, counts summed over seeds; eps in [0, 1] pixel units"
        )
        condition = "clean" if attack == "none" else f"{attack}-eps{float(params.get('eps', 0)):g}"
        stem = unique_stem(out_dir, f"confusion-{dataset}-{slug(condition)}", taken)
        result.written.append(save(fig, out_dir / f"{stem}.png", title))
        result.written.append(write_csv(out_dir / f"{stem}.csv", CSV_HEADER, rows))
    return result
