"""The student re-implementation's protocol: a cycles x eta grid of CNN-F (accuracy on clean and on noisy
test images, as heat maps) and clean-versus-noisy accuracy of every model (noisy-image training against
standard training), from records of the ``none`` and ``noise`` attacks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnf_bench.plots.data import (
    STAT_HEADER,
    Record,
    SeriesKey,
    Stat,
    accuracy,
    deployed,
    n_text,
    seeds_text,
    series_key,
    series_labels,
    stat_fields,
)
from cnnf_bench.plots.figure import PALETTE, PlotResult, new_figure, percent, save, slug, unique_stem, write_csv

GRID_HEADER = ("dataset", "model", "train_mode", "readout", "condition", "cycles", "eta", *STAT_HEADER)
BARS_HEADER = ("dataset", "line", "model", "train_mode", "trained_cycles", "eta", "condition", *STAT_HEADER)


def _data_range(values: np.ndarray) -> tuple[float, float]:
    """The colour scale's ends: the smallest and largest accuracy shown, widened to 1 point when flat."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 100.0
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1.0:
        middle = (low + high) / 2
        low, high = middle - 0.5, middle + 0.5
    return low, high


def _conditions(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Deployed records by condition: "clean", and "noise eps E" per noise setting."""
    out: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if not deployed(r):
            continue
        if r.get("attack") == "none":
            out["clean"].append(r)
        elif r.get("attack") == "noise":
            params = dict(r.get("params") or {})
            extra = {k: v for k, v in params.items() if k != "eps"}
            label = f"noise eps {float(params.get('eps', 0)):g}"
            if extra.get("draws", 1) != 1:
                label += f" (best of {extra['draws']})"
            out[label].append(r)
    return dict(sorted(out.items(), key=lambda item: (item[0] != "clean", item[0])))


def _what(records: Sequence[Record]) -> str:
    noise = (
        "; noise: uniform in the L-inf ball, eps in [0, 1] pixel units"
        if any(r.get("attack") == "noise" for r in records)
        else ""
    )
    return (
        f"{n_text(int(r['n']) for r in records)} test images per run, training "
        f"{seeds_text(r.get('train_seed') for r in records)}, mean ± std over seeds{noise}"
    )


def cycles_eta_grid(records: Sequence[Record], out_dir: Path, taken: set[str] | None = None) -> PlotResult:
    """Heat maps of accuracy over (cycles T, eta) for CNN-F trained with each setting; one panel per condition."""
    taken = set() if taken is None else taken
    result = PlotResult()
    conditions = _conditions(records)
    groups: dict[tuple[str, str, str, str], list[Record]] = defaultdict(list)
    for rs in conditions.values():
        for r in rs:
            key = series_key(r)
            if not key.cnn:
                groups[(key.dataset, key.model, key.train_mode, key.readout)].append(r)
    for (dataset, model, mode, readout), group in sorted(groups.items()):
        settings = {(series_key(r).trained_cycles, series_key(r).eta) for r in group}
        cycles = sorted({c for c, _ in settings})
        etas = sorted({e for _, e in settings})
        if len(cycles) < 2 or len(etas) < 2:
            continue  # a single row or column is figure (c) or a plain comparison, not a grid
        ids = {id(r) for r in group}
        names = [c for c, rs in conditions.items() if any(id(r) in ids for r in rs)]
        fig, axes = new_figure(len(names), size=(4.8, 4.2))
        rows: list[list[Any]] = []
        image = None
        for ax, name in zip(axes, names, strict=True):
            values = np.full((len(etas), len(cycles)), np.nan)
            stats: dict[tuple[int, int], Stat] = {}
            for i, eta in enumerate(etas):
                for j, c in enumerate(cycles):
                    rs = [
                        r
                        for r in conditions[name]
                        if id(r) in ids and (series_key(r).trained_cycles, series_key(r).eta) == (c, eta)
                    ]
                    stat = accuracy(rs)
                    if stat is None:
                        continue
                    stats[(i, j)] = stat
                    values[i, j] = 100 * stat.mean
                    rows.append([dataset, model, mode, readout, name, c, eta, *stat_fields(stat)])
            # the colour scale spans the data (75-79% cells must not look alike on a 0-100 scale)
            low, high = _data_range(values)
            image = ax.imshow(values, cmap="magma", vmin=low, vmax=high, origin="lower", aspect="auto")
            for (i, j), stat in stats.items():
                text = f"{100 * stat.mean:.1f}" + ("" if stat.std is None else f"\n±{100 * stat.std:.1f}")
                dark = values[i, j] < (low + high) / 2
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
            if stats:
                (bi, bj), best = max(stats.items(), key=lambda item: item[1].mean)
                ax.plot([bj], [bi + 0.32], marker="*", ms=12, color="cyan", ls="none",
                        label=f"best: T={cycles[bj]}, eta {etas[bi]:g} ({100 * best.mean:.1f}%)")  # fmt: skip
            for key, stat in _cnn_baselines(conditions[name], dataset, mode).items():
                ax.plot([], [], " ", label=f"{key.model} ({mode}): {100 * stat.mean:.1f}%")
            ax.set_xticks(range(len(cycles)), [str(c) for c in cycles])
            ax.set_yticks(range(len(etas)), [f"{e:g}" for e in etas])
            ax.set_xlabel("feedback cycles T (trained and tested)")
            ax.set_ylabel("eta (online-update rate)")
            ax.set_title(f"accuracy (%) on {name}", fontsize="small")
            ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
            fig.colorbar(image, ax=ax, shrink=0.8, label="accuracy (%)")  # each panel on its own data range
        assert image is not None
        title = f"{dataset}: CNN-F cycles x eta grid ({model}, {mode} training, readout {readout})\n{_what(group)}"
        stem = unique_stem(out_dir, f"cycles_eta_grid-{slug(dataset)}-{slug(model)}-{slug(mode)}", taken)
        result.written.append(save(fig, out_dir / f"{stem}.png", title))
        result.written.append(write_csv(out_dir / f"{stem}.csv", GRID_HEADER, rows))
    if not result.written:
        result.notes.append(
            "cycles x eta grid: skipped (needs clean or noise records of CNN-F trained with two or more cycles and "
            "two or more eta values)"
        )
    return result


def _cnn_baselines(records: Sequence[Record], dataset: str, mode: str) -> dict[SeriesKey, Stat]:
    """Accuracy of the plain CNNs of a dataset and training mode (reference lines of the grid)."""
    out = {}
    for key in sorted({series_key(r) for r in records}):
        if key.cnn and key.dataset == dataset and key.train_mode == mode:
            stat = accuracy([r for r in records if series_key(r) == key])
            if stat is not None:
                out[key] = stat
    return out


def clean_vs_noisy(records: Sequence[Record], out_dir: Path, taken: set[str] | None = None) -> PlotResult:
    """Bars of clean and noisy-image accuracy per model (the student's CNN / CNN-F comparison)."""
    taken = set() if taken is None else taken
    result = PlotResult()
    conditions = _conditions(records)
    if len(conditions) < 2 or "clean" not in conditions:
        result.notes.append("clean vs noisy accuracy: skipped (needs clean and noise records)")
        return result
    for dataset in sorted({str(r["dataset"]) for rs in conditions.values() for r in rs}):
        noisy = {c for c, rs in conditions.items() if c != "clean" and any(r["dataset"] == dataset for r in rs)}
        keys = sorted({series_key(r) for c in noisy for r in conditions[c] if r["dataset"] == dataset})
        if not noisy:
            continue
        names = [c for c in conditions if c == "clean" or c in noisy]
        labels = series_labels(keys)
        fig, (ax,) = new_figure(1, size=(max(6.0, 0.9 * len(keys) * len(names)), 4.8))
        width = 0.8 / len(names)
        rows: list[list[Any]] = []
        used: list[Record] = []
        for ci, name in enumerate(names):
            xs, ys, errs = [], [], []
            for xi, key in enumerate(keys):
                rs = [r for r in conditions[name] if series_key(r) == key]
                stat = accuracy(rs)
                if stat is None:
                    continue
                used += rs
                xs.append(xi + (ci - (len(names) - 1) / 2) * width)
                ys.append(percent(stat.mean))
                errs.append(percent(stat.std))
                context = [dataset, labels[key], key.model, key.train_mode, key.trained_cycles, key.eta, name]
                rows.append([*context, *stat_fields(stat)])
            ax.bar(xs, ys, width, yerr=errs, capsize=2, color=PALETTE[ci % len(PALETTE)], label=name)
        ax.set_xticks(range(len(keys)), [labels[k] for k in keys], rotation=30, ha="right", fontsize="small")
        ax.set_xlabel("model (CNN-F-k: trained with k feedback iterations)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small")
        title = f"{dataset}: accuracy on clean and on noisy test images\n{_what(used)}"
        stem = unique_stem(out_dir, f"clean_vs_noisy-{slug(dataset)}", taken)
        result.written.append(save(fig, out_dir / f"{stem}.png", title))
        result.written.append(write_csv(out_dir / f"{stem}.csv", BARS_HEADER, rows))
    return result
