"""Corruption robustness: accuracy per corruption kind and severity per model, as Markdown, CSV and PNG.

Records of the ``corruption`` attack (see :mod:`cnnf_bench.attacks.corruptions`), deployed models
only, mean ± sample std over training seeds; severity 0 is clean accuracy. The "mean" of a kind is
the mean of its severity means (the CIFAR-10-C style mean corruption accuracy of one model).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

CSV_HEADER = (
    "dataset",
    "line",
    "model",
    "train_mode",
    "trained_cycles",
    "eta",
    "readout",
    "kind",
    "severity",
    *STAT_HEADER,
)
ATTACK = "corruption"


def _cell(stat: Stat | None) -> str:
    if stat is None:
        return "-"
    if stat.std is None:
        return f"{100 * stat.mean:.2f}"
    return f"{100 * stat.mean:.2f} ± {100 * stat.std:.2f}"


def _mean_of(stats: Sequence[Stat | None]) -> float | None:
    values = [s.mean for s in stats if s is not None]
    return statistics.fmean(values) if values else None


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def corruption_results(records: Sequence[Record], out_dir: Path, taken: set[str] | None = None) -> PlotResult:
    """Per dataset: ``corruptions-<dataset>.md`` / ``.csv`` (table) and ``.png`` (accuracy vs severity)."""
    taken = set() if taken is None else taken
    result = PlotResult()
    corrupted = [r for r in records if r.get("attack") == ATTACK and deployed(r)]
    if not corrupted:
        result.notes.append(
            "corruption table: skipped (no corruption records; run e.g. `cnnf-bench evaluate --attack corruption "
            "-p kind=blur -p severity=3 --protocol corruptions`)"
        )
        return result
    for dataset in sorted({str(r["dataset"]) for r in corrupted}):
        mine = [r for r in corrupted if r["dataset"] == dataset]
        keys = sorted({series_key(r) for r in mine})
        labels = series_labels(keys)
        clean_records = [
            r for r in records if r.get("attack") == "none" and r.get("dataset") == dataset and deployed(r)
        ]
        kinds = sorted({str(r["params"]["kind"]) for r in mine})
        severities = sorted({int(r["params"]["severity"]) for r in mine})
        stats: dict[tuple[SeriesKey, str, int], Stat | None] = {}
        clean: dict[SeriesKey, Stat | None] = {}
        for key in keys:
            clean[key] = accuracy([r for r in clean_records if series_key(r) == key])
            for kind in kinds:
                for severity in severities:
                    rs = [
                        r
                        for r in mine
                        if series_key(r) == key
                        and r["params"]["kind"] == kind
                        and int(r["params"]["severity"]) == severity
                    ]
                    stats[(key, kind, severity)] = accuracy(rs)
        csv_rows: list[list[Any]] = []
        for key in keys:
            entries = [("clean", 0, clean[key])] + [(k, s, stats[(key, k, s)]) for k in kinds for s in severities]
            for kind, severity, stat in entries:
                if stat is None:
                    continue
                context = [dataset, labels[key], key.model, key.train_mode, key.trained_cycles, key.eta, key.readout]
                csv_rows.append([*context, kind, severity, *stat_fields(stat)])
        what = (
            f"{n_text(int(r['n']) for r in mine)} test images per run, training "
            f"{seeds_text(r.get('train_seed') for r in mine)}, mean ± std over seeds; corruptions are not L-inf "
            "bounded (records carry eps 1, the whole [0, 1] pixel range)"
        )
        md = [
            f"# Corruption robustness: {dataset}",
            "",
            what,
            "",
            "## Accuracy (%) per corruption, mean over severities",
            "",
        ]
        summary_rows = []
        for key in keys:
            per_kind = [_mean_of([stats[(key, k, s)] for s in severities]) for k in kinds]
            overall = _mean_of([stats[(key, k, s)] for k in kinds for s in severities])
            summary_rows.append(
                [labels[key], _cell(clean[key])]
                + ["-" if v is None else f"{100 * v:.2f}" for v in per_kind]
                + ["-" if overall is None else f"{100 * overall:.2f}"]
            )
        md += [_table(["model", "clean", *kinds, "all"], summary_rows), ""]
        for kind in kinds:
            md += [f"## {kind}: accuracy (%) per severity", ""]
            rows = []
            for key in keys:
                row_stats = [stats[(key, kind, s)] for s in severities]
                mean = _mean_of(row_stats)
                mean_text = "-" if mean is None else f"{100 * mean:.2f}"
                rows.append([labels[key], _cell(clean[key]), *(_cell(s) for s in row_stats), mean_text])
            md += [_table(["model", "clean", *(f"severity {s}" for s in severities), "mean"], rows), ""]
        stem = unique_stem(out_dir, f"corruptions-{slug(dataset)}", taken)
        out_dir.mkdir(parents=True, exist_ok=True)
        md_path = out_dir / f"{stem}.md"
        md_path.write_text("\n".join(md))
        fig, axes = new_figure(len(kinds), cols=min(4, len(kinds)), size=(4.0, 3.4))
        for ax, kind in zip(axes, kinds, strict=True):
            for i, key in enumerate(keys):
                points = [(0, clean[key])] + [(s, stats[(key, kind, s)]) for s in severities]
                shown = [(s, st) for s, st in points if st is not None]
                ax.errorbar(
                    [s for s, _ in shown],
                    [percent(st.mean) for _, st in shown],
                    yerr=[percent(st.std) for _, st in shown],
                    marker="o",
                    ms=3,
                    capsize=2,
                    color=PALETTE[i % len(PALETTE)],
                    label=labels[key],
                )
            ax.set_title(kind, fontsize="small")
            ax.set_xlabel("severity (0: clean)")
            ax.set_ylabel("accuracy (%)")
            ax.set_ylim(-2, 102)
            ax.set_xticks([0, *severities])
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize="x-small")
        title = f"{dataset}: accuracy under common corruptions (MNIST-C / CIFAR-10-C style) by severity\n{what}"
        result.written.append(save(fig, out_dir / f"{stem}.png", title))
        result.written.append(write_csv(out_dir / f"{stem}.csv", CSV_HEADER, csv_rows))
        result.written.append(md_path)
    return result
