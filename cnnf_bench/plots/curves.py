"""Figure 5 of Huang et al. (2020) from the store: robust accuracy against eps (a: FGSM, b: PGD-40),
against the number of training iterations k of CNN-F-k (c), and against test-time iterations (d).

Each point is the mean over training seeds (error bar: sample std) of a run's accuracy, where a run
attacked through several views counts an example as robust only if it survives every view (the paper
reports "the stronger attack"). Clean accuracy (attack ``none``) is the eps-0 point and the "clean"
line. One figure per dataset and attack family (an attack with all its parameters but eps).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnf_bench.plots.data import (
    Record,
    SeriesKey,
    Stat,
    accuracy,
    deployed,
    eval_cycles,
    n_text,
    ordered_views,
    params_text,
    seeds_text,
    series_key,
    series_labels,
    targets_text,
)
from cnnf_bench.plots.families import Family, attack_families
from cnnf_bench.plots.figure import (
    PlotResult,
    integer_ticks,
    new_figure,
    percent,
    save,
    series_style,
    slug,
    unique_stem,
    write_csv,
)

CSV_HEADER = (
    "figure",
    "dataset",
    "line",
    "model",
    "train_mode",
    "trained_cycles",
    "eval_cycles",
    "eta",
    "readout",
    "attack",
    "params",
    "eps",
    "x",
    "mean",
    "std",
    "n_runs",
    "seeds",
    "n",
    "run_values",
)
EPS_UNITS = "eps: L-inf budget in [0, 1] pixel units"


@dataclass
class Point:
    """One plotted point and the context written to the CSV."""

    x: float
    stat: Stat
    key: SeriesKey
    eval_cycles: int
    eps: float | None  # None: clean accuracy


@dataclass
class Line:
    """A labelled line of points."""

    label: str
    points: list[Point] = field(default_factory=list)


def clean_records(records: Sequence[Record], dataset: str) -> list[Record]:
    """Records of the clean "attack" on ``dataset``."""
    return [r for r in records if r.get("attack") == "none" and r.get("dataset") == dataset]


def _select(records: Sequence[Record], predicate: Callable[[Record], bool]) -> list[Record]:
    return [r for r in records if predicate(r)]


def _title(head: str, family_: Family, records: Sequence[Record]) -> str:
    params = params_text(family_.params)
    views = targets_text(r for r in records if r.get("attack") != "none")
    detail = "; ".join(p for p in (params, views) if p)
    return (
        f"{head}\n{family_.label}" + (f" ({detail})" if detail else "") + "\n"
        f"{n_text(int(r['n']) for r in records)} test images per run, training "
        f"{seeds_text(r.get('train_seed') for r in records)}; mean ± std over seeds; {EPS_UNITS}"
    )


def _draw(lines: Sequence[Line], xlabel: str, path: Path, title: str, integer_x: bool = False) -> Path:
    fig, (ax,) = new_figure(1, size=(7.0, 4.6))
    for i, line in enumerate(lines):
        xs = [p.x for p in line.points]
        ys = [percent(p.stat.mean) for p in line.points]
        errs = [percent(p.stat.std) for p in line.points]
        style = "--" if line.label == "clean" else "-"
        color, marker = series_style(i)
        ax.errorbar(xs, ys, yerr=errs, marker=marker, ms=4, capsize=3, ls=style, label=line.label, color=color)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    if integer_x:
        integer_ticks(ax)
    ax.legend(fontsize="small", loc="best")
    return save(fig, path, title)


def _csv_rows(figure: str, family_: Family, lines: Sequence[Line]) -> list[list[Any]]:
    rows = []
    for line in lines:
        for p in line.points:
            rows.append(
                [
                    figure,
                    p.key.dataset,
                    line.label,
                    p.key.model,
                    p.key.train_mode,
                    p.key.trained_cycles,
                    p.eval_cycles,
                    p.key.eta,
                    p.key.readout,
                    "none" if p.eps is None else family_.attack,
                    "" if p.eps is None else json.dumps(family_.params, sort_keys=True),
                    p.eps,
                    p.x,
                    p.stat.mean,
                    p.stat.std,
                    p.stat.n_runs,
                    " ".join(str(s) for s in p.stat.seeds),
                    p.stat.n,
                    " ".join(repr(v) for v in p.stat.values),
                ]
            )
    return rows


def _write(
    out_dir: Path, stem: str, taken: set[str], figure: str, family_: Family, lines: list[Line], xlabel: str, title: str
) -> list[Path]:
    name = unique_stem(out_dir, stem, taken)
    png = _draw(lines, xlabel, out_dir / f"{name}.png", title, integer_x=figure != "accuracy_vs_eps")
    csv = write_csv(out_dir / f"{name}.csv", CSV_HEADER, _csv_rows(figure, family_, lines))
    return [png, csv]


def _mark_views(lines: Sequence[Line], keys: Sequence[SeriesKey], records: Sequence[Record]) -> None:
    """Add "[first+e2e]"-style view lists to the labels when the lines were attacked through different views."""
    views = {
        key: "+".join(ordered_views(str(r.get("target")) for r in records if series_key(r) == key)) for key in keys
    }
    if len(set(views.values())) > 1:
        for line, key in zip(lines, keys, strict=True):
            line.label += f" [{views[key]}]"


def accuracy_vs_eps(records: Sequence[Record], out_dir: Path, taken: set[str] | None = None) -> PlotResult:
    """Figure 5 (a, b): accuracy against eps, one line per deployed model, eps 0 = clean accuracy."""
    taken = set() if taken is None else taken
    result = PlotResult()
    for fam in attack_families(records):
        if len(fam.eps_values()) < 2:
            continue
        mine = _select(fam.records, deployed)
        clean = _select(clean_records(records, fam.dataset), deployed)
        keys = sorted({series_key(r) for r in mine})
        labels = series_labels(keys)
        lines = []
        for key in keys:
            line = Line(labels[key])
            base = accuracy([r for r in clean if series_key(r) == key])
            if base is not None:
                line.points.append(Point(0.0, base, key, key.trained_cycles, None))
            for eps in fam.eps_values():
                stat = accuracy([r for r in mine if series_key(r) == key and float(r["eps"]) == eps])
                if stat is not None:
                    line.points.append(Point(eps, stat, key, key.trained_cycles, eps))
            lines.append(line)
        _mark_views(lines, keys, mine)
        title = _title(f"{fam.dataset}: accuracy against eps (eps 0: clean)", fam, mine)
        stem = f"accuracy_vs_eps-{fam.dataset}-{slug(fam.label)}"
        result.written += _write(out_dir, stem, taken, "accuracy_vs_eps", fam, lines, "eps ([0, 1] pixel units)", title)
    if not result.written:
        result.notes.append("accuracy vs eps: skipped (no attack in the store was run at two or more eps values)")
    return result


#: one point of an iterations figure: (x, eps or None for clean) -> (series, test cycles, its records)
Settings = dict[tuple[float, float | None], tuple[SeriesKey, int, list[Record]]]


def _eps_lines(settings: Settings) -> tuple[list[Line], list[Record]]:
    """Lines "clean", "eps 0.05", ... over x, and the records they use.

    A line keeps only the views that were run at every one of its points, so that it compares like with
    like (a CPU suite may attack one model end to end as well), and needs two points to be a line.
    """
    by_eps: dict[float | None, dict[float, tuple[SeriesKey, int, list[Record]]]] = defaultdict(dict)
    for (x, eps), item in settings.items():
        by_eps[eps][x] = item
    lines, used = [], []
    for eps in sorted(by_eps, key=lambda e: -1.0 if e is None else e):
        items = by_eps[eps]
        common = set.intersection(*({str(r.get("target", "-")) for r in rs} for _, _, rs in items.values()))
        if len(items) < 2 or not common:
            continue
        line = Line("clean" if eps is None else f"eps {eps:g}")
        for x in sorted(items):
            key, cycles, rs = items[x]
            kept = [r for r in rs if str(r.get("target", "-")) in common]
            stat = accuracy(kept)
            assert stat is not None
            line.points.append(Point(x, stat, key, cycles, eps))
            used += kept
        lines.append(line)
    return lines, used


def _trained_group(key: SeriesKey) -> tuple[str, str, float, str]:
    """A series without its trained cycles: the CNN-F-k of one figure (c)."""
    return (key.model, key.train_mode, key.eta, key.readout)


def accuracy_vs_train_iterations(records: Sequence[Record], out_dir: Path, taken: set[str] | None = None) -> PlotResult:
    """Figure 5 (c): accuracy of CNN-F-k against the k it was trained with, one line per eps (and clean).

    k = 0 is the plain CNN of the same dataset and training mode when the store holds exactly one such
    model (the CNN is CNN-F trained and run with no feedback iteration).
    """
    taken = set() if taken is None else taken
    result = PlotResult()
    for fam in attack_families(records):
        mine = _select(fam.records, deployed)
        clean = _select(clean_records(records, fam.dataset), deployed)
        groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
        for r in mine:
            key = series_key(r)
            if not key.cnn:
                groups[_trained_group(key)].append(r)
        for (model, mode, eta, readout), group in sorted(groups.items()):
            if len({series_key(r).trained_cycles for r in group}) < 2:
                continue
            cnn_models = {r["model"] for r in mine if series_key(r).cnn and series_key(r).train_mode == mode}
            cnn = [r for r in mine if series_key(r).cnn and series_key(r).train_mode == mode]
            cnn_clean = [r for r in clean if series_key(r).cnn and series_key(r).train_mode == mode]
            if len(cnn_models) != 1:
                cnn, cnn_clean = [], []
            members = group + cnn
            group_clean = [r for r in clean if _trained_group(series_key(r)) == (model, mode, eta, readout)]
            group_clean += cnn_clean
            settings: Settings = {}
            for source, eps_of in ((members, lambda r: float(r["eps"])), (group_clean, lambda r: None)):
                for r in source:
                    key = series_key(r)
                    x = (float(key.trained_cycles), eps_of(r))
                    settings.setdefault(x, (key, key.trained_cycles, []))[2].append(r)
            k0 = f"; k=0: {next(iter(cnn_models))}" if cnn else ""
            head = (
                f"{fam.dataset}: accuracy of CNN-F-k against training iterations k "
                f"({model}, {mode} training, eta {eta:g}, readout {readout}{k0})"
            )
            stem = f"accuracy_vs_train_iterations-{fam.dataset}-{slug(fam.label)}-{slug(model)}-{mode}"
            lines, used = _eps_lines(settings)
            if not lines:
                continue
            title = _title(head, fam, used)
            xlabel = "training iterations k (CNN-F-k)"
            result.written += _write(out_dir, stem, taken, "accuracy_vs_train_iterations", fam, lines, xlabel, title)
    if not result.written:
        result.notes.append(
            "accuracy vs training iterations: skipped (no attack was run on CNN-F models trained with two or more "
            "different numbers of iterations)"
        )
    return result


def accuracy_vs_test_iterations(records: Sequence[Record], out_dir: Path, taken: set[str] | None = None) -> PlotResult:
    """Figure 5 (d): one trained CNN-F evaluated with 0, 1, ... feedback iterations, one line per eps."""
    taken = set() if taken is None else taken
    result = PlotResult()
    for fam in attack_families(records):
        clean = clean_records(records, fam.dataset)
        by_series: dict[SeriesKey, list[Record]] = defaultdict(list)
        for r in fam.records:
            by_series[series_key(r)].append(r)
        labels = series_labels(by_series)
        for key, group in sorted(by_series.items()):
            if key.cnn or len({eval_cycles(r) for r in group}) < 2:
                continue
            settings: Settings = {}
            for r in group:
                settings.setdefault((float(eval_cycles(r)), float(r["eps"])), (key, eval_cycles(r), []))[2].append(r)
            for r in clean:
                if series_key(r) == key:
                    settings.setdefault((float(eval_cycles(r)), None), (key, eval_cycles(r), []))[2].append(r)
            head = (
                f"{fam.dataset}: {labels[key]} ({key.model}, trained with {key.trained_cycles} iterations, "
                f"{key.train_mode} training) evaluated with different numbers of iterations"
            )
            stem = f"accuracy_vs_test_iterations-{fam.dataset}-{slug(fam.label)}-{slug(labels[key])}"
            lines, used = _eps_lines(settings)
            if not lines:
                continue
            title = _title(head, fam, used)
            xlabel = "test-time feedback iterations"
            result.written += _write(out_dir, stem, taken, "accuracy_vs_test_iterations", fam, lines, xlabel, title)
    if not result.written:
        result.notes.append(
            "accuracy vs test iterations: skipped (no CNN-F was attacked with two or more test-time cycles)"
        )
    return result
