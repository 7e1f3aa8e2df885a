"""Result records -> :class:`~cnnf_bench.report.model.Table` objects (Tables 2 and 3 of Huang et al. 2020).

The comparability rule: records combine into one cell only when dataset, protocol, eps, attack settings,
view, readout (the row) and the evaluation images (subset seed and n) agree; training runs are what a
cell's mean and std range over (attack seeds of one run are averaged first). The per-example Worst case
of a row ANDs per-example flags only of records on the same images: one image family (subset seed),
over the images every included record covers (the sets are prefixes of one permutation, so they nest),
and counts an image only when it is correct clean *and* under every attack.

Clean accuracy does not depend on eps, so clean records (attack ``none``) join every eps table of their
dataset and protocol (and make a table of their own only where that pair has no attack records).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnf_bench.bits import unpack_bits
from cnnf_bench.checks.flags import RowFlags, comparability_flags, row_flags
from cnnf_bench.report.deployed import merge_deployed
from cnnf_bench.report.distance import distance_cells
from cnnf_bench.report.layout import (
    ColumnKey,
    RowKey,
    column_key,
    column_layout,
    display_name,
    model_settings,
    row_key,
    row_labels,
    row_order,
)
from cnnf_bench.report.model import CLEAN, MIN, WORST_CASE, Cell, Record, Table
from cnnf_bench.report.records import images, usable_checks, usable_records
from cnnf_bench.strength import evaluation_strength


def _run_id(record: Record) -> str:
    return str(record["checkpoint"]["sha256"])


def _seed(records: Sequence[Record]) -> int | None:
    seed = records[0].get("train_seed")
    return seed if isinstance(seed, int) else None


def _run_sort(item: tuple[str, Sequence[Record]]) -> tuple[Any, ...]:
    seed = _seed(item[1])
    return (seed is None, seed if seed is not None else 0, item[0])


def _run_name(run_id: str, records: Sequence[Record]) -> str:
    seed = _seed(records)
    return f"train seed {seed} ({run_id[:8]})" if seed is not None else f"run {run_id[:8]}"


def _by_run(records: Sequence[Record]) -> dict[str, list[Record]]:
    runs: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        runs[_run_id(record)].append(record)
    return runs


def _summarise(values: Sequence[float], seeds: Sequence[int | None], n_examples: int) -> Cell:
    """Mean and sample std over runs; the std is undefined (None) for a single run."""
    if not values:
        return Cell()
    std = statistics.stdev(values) if len(values) >= 2 else None
    return Cell(
        mean=statistics.fmean(values),
        std=std,
        n_runs=len(values),
        n_examples=n_examples,
        train_seeds=tuple(seeds),
        run_values=tuple(values),
    )


def accuracy_cell(records: Sequence[Record]) -> Cell:
    """Per training run: n_correct / n averaged over attack seeds; then mean ± sample std over runs.

    The records of one cell share their evaluation images (the column key holds them), so every run's
    value is on the same ``n`` images.
    """
    values, seeds = [], []
    for _, run_records in sorted(_by_run(records).items(), key=_run_sort):
        values.append(statistics.fmean(int(r["n_correct"]) / int(r["n"]) for r in run_records))
        seeds.append(_seed(run_records))
    return _summarise(values, seeds, min((int(r["n"]) for r in records), default=0))


def min_cell(row_cells: Mapping[str, Cell], attack_columns: Sequence[str]) -> Cell:
    """The paper's Min: the smallest attack-column mean of the row, with that column's std (first on ties)."""
    candidates = [(c, row_cells[c]) for c in attack_columns if c in row_cells and row_cells[c].mean is not None]
    if not candidates:
        return Cell()
    column, cell = min(candidates, key=lambda item: item[1].mean or 0.0)  # min() keeps the first of ties
    return Cell(
        mean=cell.mean,
        std=cell.std,
        n_runs=cell.n_runs,
        n_examples=cell.n_examples,
        source_column=column,
        train_seeds=cell.train_seeds,
        run_values=cell.run_values,
    )


@dataclass
class WorstCase:
    """A row's Worst case, what it stands on and what it had to leave out (for notes and check C19)."""

    cell: Cell = field(default_factory=Cell)
    #: the records ANDed, over every included run
    records: list[Record] = field(default_factory=list)
    #: why columns or runs were left out, and where the images shrank (phrases about the row)
    remarks: list[str] = field(default_factory=list)
    #: columns left out because they ran on other images
    left_out: list[str] = field(default_factory=list)
    #: where the images shrank: (what, value) of the worst case over the larger set without the smaller columns
    wide: tuple[str, str] | None = None


def _family_text(family: tuple[str, int | None]) -> str:
    split, seed = family
    return f"subset seed {seed}" if seed is not None else f"{split} images of unknown seed"


def worst_case(columns: Mapping[str, Sequence[Record]], keys: Mapping[str, ColumnKey]) -> WorstCase:
    """C18 on comparable records: per run, the fraction of images correct clean and under every attack.

    ``columns`` are the row's Clean and attack columns (Noise excluded). Only one image family is used
    (the one most columns ran on); within it the images are the ones every included record covers, the
    first ``n`` of the permutation for the smallest ``n``. A run that lacks one of the family's settings
    is left out rather than given a worst case over fewer attacks, which would not compare.
    """
    out = WorstCase()
    columns = {c: rs for c, rs in columns.items() if rs}
    if not columns:
        return out
    family_of = {c: images(rs[0]).family for c, rs in columns.items()}
    families: dict[tuple[str, int | None], list[str]] = defaultdict(list)
    for column, family in family_of.items():
        families[family].append(column)

    def preference(family: tuple[str, int | None]) -> tuple[Any, ...]:
        cols = families[family]
        has_clean = any(columns[c][0]["attack"] == "none" for c in cols)
        return (-len(cols), not has_clean, family[1] is None, family[1] or 0, family[0])

    chosen = min(families, key=preference)
    for family, cols in families.items():
        if family != chosen:
            out.left_out.extend(cols)
            out.remarks.append(
                f"leaves out {', '.join(cols)}: {'they' if len(cols) > 1 else 'it'} ran on other images "
                f"({_family_text(family)}) than the rest ({_family_text(chosen)})"
            )
    used = {c: rs for c, rs in columns.items() if family_of[c] == chosen}
    if not any(rs[0]["attack"] == "none" for rs in used.values()):
        out.remarks.append("no Clean record on its images, so an image counts when it survives every attack")
    setting_label: dict[tuple[str, str], str] = {}
    per_run: dict[str, dict[tuple[str, str], list[Record]]] = defaultdict(lambda: defaultdict(list))
    for column, records in used.items():
        setting = keys[column].setting
        setting_label.setdefault(setting, column)
        for record in records:
            per_run[_run_id(record)][setting].append(record)
    included: list[tuple[str, list[Record]]] = []
    for run_id, settings in sorted(per_run.items(), key=lambda kv: _run_sort((kv[0], _flat(kv[1])))):
        run_records = _flat(settings)
        name = _run_name(run_id, run_records)
        missing = [setting_label[s] for s in setting_label if s not in settings]
        if missing:
            out.remarks.append(f"{name} lacks {', '.join(missing)}; left out (fewer attacks would not compare)")
        elif any(not r.get("correct") for r in run_records):
            out.remarks.append(f"{name} has records without per-example flags; left out")
        else:
            included.append((name, run_records))
    if not included:
        return out
    sizes = {int(r["n"]) for _, rs in included for r in rs}
    m, largest = min(sizes), max(sizes)
    values = []
    for name, run_records in included:
        survived = np.ones(m, dtype=bool)
        for record in run_records:
            flags = unpack_bits(str(record["correct"]), int(record["n"]))
            if int(flags.sum()) != int(record["n_correct"]):
                out.remarks.append(
                    f"{name}: a {display_name(str(record['attack']))} record's flags count {int(flags.sum())} "
                    f"correct but n_correct is {record['n_correct']}"
                )
            survived &= flags[:m]
        values.append(float(survived.mean()))
        out.records.extend(run_records)
    seeds = [_seed(rs) for _, rs in included]
    out.cell = _summarise(values, seeds, m)
    if m < largest:
        small = [c for c, rs in used.items() if any(int(r["n"]) < largest for r in rs)]
        limiting = [c for c in small if any(int(r["n"]) == m for r in used[c])]
        remark = (
            f"on the {m} images every included record covers ({', '.join(limiting)} ran on {m}; "
            f"the others on up to {largest})"
        )
        out.remarks.append(remark)
        wide = _wide_worst(included, used, small)
        if wide is not None:
            what = f"{WORST_CASE} over the {largest} images, without {', '.join(small)}"
            out.wide = (what, _percent(_summarise(wide, seeds, 0)))
    return out


def _flags(record: Record) -> np.ndarray:
    return unpack_bits(str(record["correct"]), int(record["n"]))


def _wide_worst(
    included: Sequence[tuple[str, Sequence[Record]]], used: Mapping[str, Sequence[Record]], small: Sequence[str]
) -> list[float] | None:
    """Per run, the worst case over the larger image set without the columns run on fewer images (every
    record left is on that set), or None when no run has such columns."""
    keep = {id(r) for column, records in used.items() if column not in small for r in records}
    values = []
    for _, run_records in included:
        flags = [_flags(r) for r in run_records if id(r) in keep]
        if not flags:
            return None
        values.append(float(np.logical_and.reduce(flags).mean()))
    return values


def _percent(cell: Cell) -> str:
    """A cell as note text (percentages, "mean ± std" or a single run's value)."""
    text = f"{100 * (cell.mean or 0.0):.2f}"
    return text + (f" ± {100 * cell.std:.2f}" if cell.std is not None else "")


def _flat(settings: Mapping[Any, Sequence[Record]]) -> list[Record]:
    return [r for rs in settings.values() for r in rs]


def group_records(records: Sequence[Record]) -> dict[tuple[str, str, float], list[Record]]:
    """(dataset, protocol, eps) -> records; clean records join every eps of their dataset and protocol."""
    groups: dict[tuple[str, str, float], list[Record]] = defaultdict(list)
    clean: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for record in records:
        pair = (str(record["dataset"]), str(record["protocol"]))
        if record["attack"] == "none":
            clean[pair].append(record)
        else:
            groups[(*pair, float(record["eps"]))].append(record)
    for pair, clean_records in clean.items():
        eps_values = [key for key in groups if key[:2] == pair]
        if eps_values:
            for key in eps_values:
                groups[key].extend(clean_records)
        else:
            for record in clean_records:
                groups[(*pair, float(record["eps"]))].append(record)
    return groups


class _Notes:
    """Table notes; remarks about rows that read the same are merged into one line listing the rows."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.by_remark: dict[str, list[str]] = {}
        self.by_value: dict[str, list[str]] = {}

    def row(self, row: str, remark: str) -> None:
        if remark not in self.by_remark:
            self.by_remark[remark] = []
            self.lines.append(remark)
        self.by_remark[remark].append(row)

    def value(self, what: str, row: str, value: str) -> None:
        """A number per row, gathered into one line ("what: row value, row value.")."""
        if what not in self.by_value:
            self.by_value[what] = []
            self.lines.append(what)
        self.by_value[what].append(f"{row} {value}")

    def add(self, line: str) -> None:
        self.lines.append(line)

    def rendered(self) -> list[str]:
        out = []
        for line in self.lines:
            if line in self.by_remark:
                out.append(f"{WORST_CASE} of {', '.join(self.by_remark[line])}: {line}.")
            elif line in self.by_value:
                out.append(f"{line}: {', '.join(self.by_value[line])}.")
            else:
                out.append(line)
        return out


def _build_table(
    dataset: str, protocol: str, eps: float, records: Sequence[Record], checks: Sequence[Record] = ()
) -> Table:
    notes = _Notes()
    records, merged = merge_deployed(records)
    for note in merged:
        notes.add(note)
    layout = column_layout(records)
    for note in layout.notes:
        notes.add(note)
    columns = list(layout.ordered)
    if CLEAN not in columns and not any(c.startswith(f"{CLEAN} [") for c in columns):
        columns.insert(0, CLEAN)
    attack_columns = [c for c in columns if c in layout.attack_labels]
    key_of = {label: key for key, label in layout.labels.items()}

    by_row: dict[RowKey, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    settings_by_row: dict[RowKey, set[str]] = defaultdict(set)
    for record in records:
        key = row_key(record)
        by_row[key][layout.labels[column_key(record)]].append(record)
        settings_by_row[key].add(model_settings(record, key))
    labels = row_labels(by_row)
    row_keys = sorted(by_row, key=row_order)
    rows = [labels[key] for key in row_keys]

    cells: dict[tuple[str, str], Cell] = {}
    flags: dict[str, RowFlags] = {}
    for key in row_keys:
        row = labels[key]
        if len(settings_by_row[key]) > 1:
            notes.add(f"{row} mixes model settings: {'; '.join(sorted(settings_by_row[key]))}.")
        row_records = by_row[key]
        row_cells = {column: accuracy_cell(row_records.get(column, [])) for column in columns}
        for column, cell in row_cells.items():
            cells[(row, column)] = cell
        cells[(row, MIN)] = min_cell(row_cells, attack_columns)
        attack_records = {c: row_records[c] for c in attack_columns if row_records.get(c)}
        clean_records = {
            c: rs for c, rs in row_records.items() if c not in attack_records and rs and rs[0]["attack"] == "none"
        }
        worst = worst_case({**clean_records, **attack_records}, key_of)
        cells[(row, WORST_CASE)] = worst.cell
        for remark in worst.remarks:
            notes.row(row, remark)
        if worst.wide is not None:
            notes.value(worst.wide[0], row, worst.wide[1])
        derived = comparability_flags(dict(row_records), worst.records, worst.cell.n_examples, worst.left_out, key.cnn)
        flags[row] = row_flags(attack_records, checks, key.cnn, _flat(row_records), derived)
    for limit in sorted({str(note) for r in records for note in (r.get("extras") or {}).get("limits", [])}):
        notes.add(f"Limit: {limit}.")
    strength = evaluation_strength(records)
    behind = {labels[key]: _flat(by_row[key]) for key in row_keys}
    distances = distance_cells({labels[key]: by_row[key] for key in row_keys}, attack_columns)
    return Table(
        dataset,
        protocol,
        eps,
        rows,
        columns,
        cells,
        notes.rendered(),
        attack_columns,
        flags,
        strength,
        behind,
        distances,
    )


def build_tables(records: Sequence[Any], checks: Sequence[Any] = ()) -> list[Table]:
    """The paper's tables from result records, one per (dataset, protocol, eps), sorted.

    Records a report cannot use (another schema, wrong field types) are left out; call
    :func:`~cnnf_bench.report.records.usable_records` first to learn which and why. Of records that
    measured the same thing, the last counts. ``checks`` are stored check verdicts (``cnnf-bench
    check``); with or without them, each row is also checked for C10, C11 and C19 on its own columns.
    Rows with a failed C6, C10, C11 or C13 are marked.
    """
    usable, _ = usable_records(records)
    verdicts, _ = usable_checks(checks)
    groups = group_records(usable)
    return [_build_table(*key, groups[key], verdicts) for key in sorted(groups)]
