"""Result records -> the paper's tables (Tables 2 and 3 of Huang et al. 2020), as Markdown, CSV and LaTeX.

Pure Python plus numpy (for the packed per-example flags); never imports torch, so reports are cheap.

Layout of one :class:`Table` (one per dataset, protocol and eps):

- rows: ``CNN`` (``model_kwargs["cycles"] == 0``), ``CNN-F (last)``, ``CNN-F (avg)`` (by readout), plus
  disambiguated variants (other models, training modes, trained cycles, or test-time ``T=k``);
- ``Table.columns``: the *measured* columns in display order, ``Clean`` first, then the paper's attack
  columns, then any others (noise included). ``Min`` and ``Worst case`` are not in it: they are derived,
  stored in ``Table.cells`` under the names :data:`MIN` and :data:`WORST_CASE`, and listed by
  :meth:`Table.all_columns`. ``Table.attack_columns`` names the columns that Min and Worst case range over
  (every measured column except Clean and Noise).

Clean accuracy does not depend on eps, so clean records (attack ``none``) join every eps table of their
dataset and protocol (and make a table of their own only where that pair has no attack records).
Numbers stay fractions in the data; rendering shows percentages with two decimals.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnf_bench.bits import unpack_bits
from cnnf_bench.checks.base import UNRELIABLE_CHECKS
from cnnf_bench.checks.flags import RowFlags, row_flags
from cnnf_bench.strength import evaluation_strength

Record = Mapping[str, Any]

MIN = "Min"
WORST_CASE = "Worst case"
CLEAN = "Clean"
TRANSFER = "Transfer"
UNDEFINED = "-"
UNRELIABLE_MARK = "†"

DISPLAY_NAMES: dict[str, str] = {
    "none": "Clean",
    "fgsm": "FGSM",
    "pgd": "PGD",
    "spsa": "SPSA",
    "transfer": "Transfer",
    "square": "Square",
    "apgd-ce": "APGD-CE",
    "apgd-dlr": "APGD-DLR",
    "noise": "Noise",
}
#: attacks that are not attacks for Min / Worst case
NON_ATTACKS = frozenset({"none", "noise"})
#: attacks whose column ignores the target (view)
VIEWLESS = frozenset({"none", "noise", "transfer"})
#: the paper's column order (attack, target); transfer with any target
PAPER_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("none", None),
    ("pgd", "first"),
    ("pgd", "e2e"),
    ("spsa", "first"),
    ("spsa", "e2e"),
    ("transfer", None),
)
ATTACK_ORDER = ("fgsm", "pgd", "spsa", "square", "apgd-ce", "apgd-dlr")
TARGET_ORDER = ("-", "first", "e2e", "e2e-avg", "bpda")
READOUT_ORDER = ("last", "avg")


@dataclass(frozen=True)
class Cell:
    """One table entry: mean and sample std (ddof=1) over training runs; fractions, not percentages.

    ``std`` is None with fewer than two runs (never a fake 0). ``source_column`` is set on Min cells only
    (the column achieving the row minimum). ``train_seeds`` and ``run_values`` list the runs behind the
    mean, for display and audit.
    """

    mean: float | None = None
    std: float | None = None
    n_runs: int = 0
    n_examples: int = 0
    source_column: str | None = None
    train_seeds: tuple[int | None, ...] = ()
    run_values: tuple[float, ...] = ()

    @property
    def defined(self) -> bool:
        """Whether the cell holds a number (an undefined cell renders as "-")."""
        return self.mean is not None


@dataclass
class Table:
    """One of the paper's tables for a (dataset, protocol, eps) group.

    ``columns`` are the measured columns (Clean first, no Min / Worst case); ``attack_columns`` the subset
    that Min and Worst case range over; ``cells`` holds every (row, column) of :meth:`all_columns`,
    undefined ones included.
    """

    dataset: str
    protocol: str
    eps: float
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    notes: list[str] = field(default_factory=list)
    attack_columns: list[str] = field(default_factory=list)
    #: per row: stored check verdicts and C10/C11 on the row's own columns (see cnnf_bench.checks.flags)
    flags: dict[str, RowFlags] = field(default_factory=dict)
    #: how strong the attacks were, from the records' parameters (see cnnf_bench.strength)
    strength: str = ""

    def all_columns(self) -> list[str]:
        """Measured columns followed by the derived Min and Worst case columns (the rendering order)."""
        return [*self.columns, MIN, WORST_CASE]

    def cell(self, row: str, column: str) -> Cell:
        """The cell at (row, column); an undefined cell if absent."""
        return self.cells.get((row, column), Cell())

    def unreliable(self, row: str) -> bool:
        """Whether a failed C6, C10, C11 or C13 marks the row's robust numbers as potentially unreliable."""
        flags = self.flags.get(row)
        return flags is not None and flags.unreliable

    def row_label(self, row: str) -> str:
        """The row name, with the "potentially unreliable" mark when flagged."""
        return f"{row} {UNRELIABLE_MARK}" if self.unreliable(row) else row


# --------------------------------------------------------------------------------------------- building


@dataclass(frozen=True)
class _RowKey:
    cnn: bool
    model: str
    train_mode: str
    trained_cycles: int
    test_cycles: int
    readout: str | None  # None for CNN rows: the readout is irrelevant without feedback
    #: the other model settings (eta, ind, ...) as canonical JSON; "" for CNN rows (no feedback to set)
    settings: str = ""


@dataclass(frozen=True)
class _ColumnKey:
    base: str  # label without the params suffix
    variant: str  # canonical JSON of what distinguishes records under the same base label


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _trained_cycles(record: Record) -> int:
    kwargs: Mapping[str, Any] = record.get("model_kwargs") or {}
    cycles = kwargs.get("cycles", record.get("cycles"))
    return int(cycles) if cycles is not None else 0


#: model settings that a row key holds in its own fields
_ROW_FIELDS = ("cycles", "readout")
#: model settings that only matter with feedback cycles
_FEEDBACK_SETTINGS = ("eta", "ind", "readout")


def _row_key(record: Record) -> _RowKey:
    trained = _trained_cycles(record)
    cnn = trained == 0
    kwargs: Mapping[str, Any] = record.get("model_kwargs") or {}
    settings = "" if cnn else _canonical({k: v for k, v in kwargs.items() if k not in _ROW_FIELDS})
    return _RowKey(
        cnn=cnn,
        model=str(record["model"]),
        train_mode=str(record.get("train_mode") or ""),
        trained_cycles=trained,
        test_cycles=int(record.get("cycles", trained)),
        readout=None if cnn else str(record.get("readout")),
        settings=settings,
    )


def display_name(attack: str) -> str:
    """Display name of an attack (unknown names upper-cased)."""
    return DISPLAY_NAMES.get(attack, attack.upper())


def _base_label(attack: str, target: str) -> str:
    name = display_name(attack)
    if attack in VIEWLESS or target in ("-", ""):
        return name
    return f"{name} ({target})"


def _variant(record: Record) -> dict[str, Any]:
    """What separates records sharing a base label: params (eps ignored for clean), plus transfer source."""
    attack = str(record["attack"])
    variant = dict(record.get("params") or {})
    if attack == "none":
        variant.pop("eps", None)
    if attack == "transfer":
        variant["target"] = record.get("target")
        source = record.get("source") or {}
        # the source *model name*, not its checkpoint: each training seed may use its own source run
        variant["source"] = source.get("model") if isinstance(source, Mapping) else source
    return variant


def _column_key(record: Record) -> _ColumnKey:
    return _ColumnKey(_base_label(str(record["attack"]), str(record.get("target", "-"))), _canonical(_variant(record)))


def _order_index(value: str, order: Sequence[str]) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), value)


def _base_order(attack: str, target: str) -> tuple[Any, ...]:
    """The paper's attacks first (Clean, PGD, SPSA, Transfer), each with its views in TARGET_ORDER (first,
    e2e, e2e-avg, bpda), then the other attacks in ATTACK_ORDER, then Noise (not an attack)."""
    paper = tuple(dict.fromkeys(a for a, _ in PAPER_COLUMNS))
    if attack in paper:
        return (0, (paper.index(attack), ""), _order_index(target, TARGET_ORDER))
    if attack == "noise":  # not an attack: after every attack column
        return (2, (0, ""), (0, ""))
    return (1, _order_index(attack, ATTACK_ORDER), _order_index(target, TARGET_ORDER))


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _value_order(value: Any) -> tuple[int, float, str]:
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return (1, float(value), "")
    return (2, 0.0, _value_text(value))


def _column_labels(records: Sequence[Record]) -> tuple[dict[_ColumnKey, str], list[str], set[str]]:
    """Labels of every column key (params-split where needed), the column order, and the Min/Worst columns."""
    variants: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    order: dict[str, tuple[Any, ...]] = {}
    attack_bases: set[str] = set()
    for record in records:
        key = _column_key(record)
        attack, target = str(record["attack"]), str(record.get("target", "-"))
        variants[key.base][key.variant] = _variant(record)
        order[key.base] = _base_order(attack, target)
        if attack not in NON_ATTACKS:
            attack_bases.add(key.base)
    labels: dict[_ColumnKey, str] = {}
    ordered: list[str] = []
    attack_labels: set[str] = set()
    for base in sorted(variants, key=lambda b: (order[b], b)):
        group = variants[base]
        if len(group) == 1:
            (variant,) = group
            labels[_ColumnKey(base, variant)] = base
            ordered.append(base)
        else:
            names = sorted({name for values in group.values() for name in values})
            missing = object()
            differing = [name for name in names if len({_canonical(v.get(name, missing)) for v in group.values()}) > 1]

            def sort_key(item: tuple[str, dict[str, Any]], differing: list[str] = differing) -> tuple[Any, ...]:
                values = item[1]
                return tuple((0, 0.0, "") if n not in values else _value_order(values[n]) for n in differing)

            for variant, values in sorted(group.items(), key=sort_key):
                suffix = ", ".join(f"{n}={_value_text(values[n]) if n in values else '-'}" for n in differing)
                label = f"{base} [{suffix}]"
                labels[_ColumnKey(base, variant)] = label
                ordered.append(label)
        if base in attack_bases:
            attack_labels.update(label for key, label in labels.items() if key.base == base)
    return labels, ordered, attack_labels


def _row_labels(keys: Iterable[_RowKey]) -> dict[_RowKey, str]:
    """Paper row names, disambiguated only where a row kind holds several models / modes / trainings."""
    keys = list(keys)
    by_kind: dict[tuple[bool, str | None], list[_RowKey]] = defaultdict(list)
    for key in keys:
        by_kind[(key.cnn, key.readout)].append(key)
    labels: dict[_RowKey, str] = {}
    for kind_keys in by_kind.values():
        many_models = len({k.model for k in kind_keys}) > 1
        many_modes = len({k.train_mode for k in kind_keys}) > 1
        many_trained = len({k.trained_cycles for k in kind_keys}) > 1
        settings = {k.settings: json.loads(k.settings) if k.settings else {} for k in kind_keys}
        names = sorted({name for values in settings.values() for name in values})
        differing = [n for n in names if len({_canonical(v.get(n)) for v in settings.values()}) > 1]
        for key in kind_keys:
            inner = [] if key.cnn else [str(key.readout)]
            if key.test_cycles != key.trained_cycles:
                inner.append(f"T={key.test_cycles}")
            label = "CNN" if key.cnn else "CNN-F"
            if inner:
                label += f" ({', '.join(inner)})"
            extra = []
            if many_models:
                extra.append(key.model)
            if many_modes:
                extra.append(key.train_mode or "unknown training")
            if many_trained:
                extra.append(f"trained T={key.trained_cycles}")
            extra.extend(f"{n}={_value_text(settings[key.settings].get(n, '-'))}" for n in differing)
            if extra:
                label += f" ({', '.join(extra)})"
            labels[key] = label
    return labels


def _row_order(key: _RowKey) -> tuple[Any, ...]:
    readout = (0, "") if key.cnn else (1, *_order_index(str(key.readout), READOUT_ORDER))
    return (readout, key.model, key.train_mode, key.trained_cycles, key.test_cycles, key.settings)


def _run_id(record: Record) -> str:
    return str(record["checkpoint"]["sha256"])


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


def _by_run(records: Sequence[Record]) -> dict[str, list[Record]]:
    runs: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        runs[_run_id(record)].append(record)
    return runs


def _seed(records: Sequence[Record]) -> int | None:
    seed = records[0].get("train_seed")
    return None if seed is None else int(seed)


def _run_sort(item: tuple[str, list[Record]]) -> tuple[Any, ...]:
    seed = _seed(item[1])
    return (seed is None, seed if seed is not None else 0, item[0])


def _accuracy_cell(records: Sequence[Record]) -> Cell:
    """Per training run: n_correct / n averaged over attack seeds; then mean ± sample std over runs."""
    values, seeds = [], []
    for _, run_records in sorted(_by_run(records).items(), key=_run_sort):
        values.append(statistics.fmean(int(r["n_correct"]) / int(r["n"]) for r in run_records))
        seeds.append(_seed(run_records))
    return _summarise(values, seeds, min((int(r["n"]) for r in records), default=0))


def _min_cell(row_cells: Mapping[str, Cell], attack_columns: Sequence[str]) -> Cell:
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


def _short_run(run_id: str, records: Sequence[Record]) -> str:
    seed = _seed(records)
    return f"train seed {seed} ({run_id[:8]})" if seed is not None else f"run {run_id[:8]}"


def _worst_case_cell(row: str, records_by_column: Mapping[str, Sequence[Record]], notes: list[str]) -> Cell:
    """C18: per run, mean over examples of "correct under every attack run on that example"; then over runs.

    The examples are those of the run's largest subset; an attack run on a smaller subset (a prefix of
    the same permutation, e.g. SPSA) constrains only the examples it covered. The value is therefore an
    upper bound on robust accuracy that never exceeds any full-subset column of the row.
    """
    per_run: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for column, records in records_by_column.items():
        for record in records:
            per_run[_run_id(record)][column].append(record)
    if not per_run:
        return Cell()
    all_columns = set().union(*(set(cols) for cols in per_run.values()))
    values, seeds, prefixes = [], [], []
    ordered = sorted(per_run.items(), key=lambda item: _run_sort((item[0], [r for rs in item[1].values() for r in rs])))
    for run_id, columns in ordered:
        run_records = [r for rs in columns.values() for r in rs]
        name = _short_run(run_id, run_records)
        missing = sorted(all_columns - set(columns))
        if missing:
            notes.append(f"{WORST_CASE} of {row}: {name} lacks {', '.join(missing)}; computed over its other attacks.")
        if any(not r.get("correct") for r in run_records):
            notes.append(f"{WORST_CASE} of {row}: {name} has records without per-example flags; run left out.")
            continue
        m = max(int(r["n"]) for r in run_records)
        survived = np.ones(m, dtype=bool)
        for record in run_records:
            flags = unpack_bits(str(record["correct"]), int(record["n"]))
            if int(flags.sum()) != int(record["n_correct"]):
                notes.append(
                    f"{row}, {name}: a {display_name(str(record['attack']))} record's flags count "
                    f"{int(flags.sum())} correct but n_correct is {record['n_correct']}."
                )
            survived[: flags.shape[0]] &= flags
        values.append(float(survived.mean()) if m else 0.0)
        seeds.append(_seed(run_records))
        prefixes.append(m)
    return _summarise(values, seeds, max(prefixes, default=0))


def _group_records(records: Sequence[Record]) -> dict[tuple[str, str, float], list[Record]]:
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


def _build_table(
    dataset: str, protocol: str, eps: float, records: Sequence[Record], checks: Sequence[Record] = ()
) -> Table:
    notes: list[str] = []
    column_labels, columns, attack_label_set = _column_labels(records)
    if CLEAN not in columns and not any(c.startswith(f"{CLEAN} [") for c in columns):
        columns.insert(0, CLEAN)
    attack_columns = [c for c in columns if c in attack_label_set]

    by_row: dict[_RowKey, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    kwargs_by_row: dict[_RowKey, set[str]] = defaultdict(set)
    for record in records:
        key = _row_key(record)
        by_row[key][column_labels[_column_key(record)]].append(record)
        kwargs = dict(record.get("model_kwargs") or {})
        if key.cnn:  # settings of the feedback mean nothing without cycles
            kwargs = {k: v for k, v in kwargs.items() if k not in _FEEDBACK_SETTINGS}
        kwargs_by_row[key].add(_canonical(kwargs))
    row_labels = _row_labels(by_row)
    row_keys = sorted(by_row, key=_row_order)
    rows = [row_labels[key] for key in row_keys]

    cells: dict[tuple[str, str], Cell] = {}
    flags: dict[str, RowFlags] = {}
    for key in row_keys:
        row = row_labels[key]
        if len(kwargs_by_row[key]) > 1:
            notes.append(f"{row} mixes model settings: {'; '.join(sorted(kwargs_by_row[key]))}.")
        row_records = by_row[key]
        row_cells = {column: _accuracy_cell(row_records.get(column, [])) for column in columns}
        for column, cell in row_cells.items():
            cells[(row, column)] = cell
        cells[(row, MIN)] = _min_cell(row_cells, attack_columns)
        attack_records = {c: row_records[c] for c in attack_columns if row_records.get(c)}
        cells[(row, WORST_CASE)] = _worst_case_cell(row, attack_records, notes)
        flags[row] = row_flags(attack_records, checks, key.cnn, [r for rs in row_records.values() for r in rs])
    for limit in sorted({str(note) for r in records for note in (r.get("extras") or {}).get("limits", [])}):
        notes.append(f"Limit: {limit}.")
    strength = evaluation_strength(records)
    return Table(dataset, protocol, eps, rows, columns, cells, notes, attack_columns, flags, strength)


def build_tables(records: Sequence[Record], checks: Sequence[Record] = ()) -> list[Table]:
    """The paper's tables from deduplicated result records, one per (dataset, protocol, eps), sorted.

    ``checks`` are stored check verdicts (``cnnf-bench check``); with or without them, each row is also
    checked for C10 and C11 on its own columns. Rows with a failed C6, C10, C11 or C13 are marked.
    """
    groups = _group_records(records)
    return [_build_table(*key, groups[key], checks) for key in sorted(groups)]


def flag_lines(table: Table) -> list[str]:
    """The "Flags" section of a table: per row, its warned/failed checks (plain text, one line per row)."""
    lines = []
    for row in table.rows:
        flags = table.flags.get(row, RowFlags())
        if flags.flags:
            head = f"{row}: "
            if flags.unreliable:
                head += f"potentially unreliable (failed {', '.join(flags.failed_unreliable())}). "
            items = [
                f"{f.check} {f.verdict.value}{' (table)' if f.origin == 'table' else ''}, {f.text}" for f in flags.flags
            ]
            lines.append(head + "; ".join(items) + ".")
        else:
            stored = f"{flags.stored} stored checks passed" if flags.stored else "no stored checks (`cnnf-bench check`)"
            columns = "/".join(flags.on_columns)
            on_columns = (
                f"{columns} {'hold' if len(flags.on_columns) > 1 else 'holds'} on the columns" if columns else ""
            )
            lines.append(f"{row}: no warnings; " + "; ".join(p for p in (stored, on_columns) if p) + ".")
    return lines


def flags_legend() -> str:
    """What the unreliable mark and the Flags section mean."""
    return (
        f"{UNRELIABLE_MARK} potentially unreliable: a failed {', '.join(UNRELIABLE_CHECKS)} "
        "(stored by `cnnf-bench check`, or C10/C11 evaluated on the table's own columns); see docs/checks.md."
    )


# -------------------------------------------------------------------------------------------- rendering


def format_eps(eps: float) -> str:
    """Short eps text: the decimal when it is exact at 6 digits, else k/255 when it is one (e.g. 8/255)."""
    short = f"{eps:.6g}"
    if float(short) == eps:
        return short
    k = round(eps * 255)
    if math.isclose(eps * 255, k, abs_tol=1e-6):
        return f"{k}/255"
    return short


def format_cell(cell: Cell, plus_minus: str = "±") -> str:
    """Percentages with two decimals, "mean ± std"; no "±" for a single run; "-" when undefined."""
    if cell.mean is None:
        return UNDEFINED
    text = f"{100 * cell.mean:.2f}"
    if cell.std is not None:
        text += f" {plus_minus} {100 * cell.std:.2f}"
    return text


def _majority(values: Iterable[int]) -> int | None:
    counts = Counter(values)
    if not counts:
        return None
    return max(counts.items(), key=lambda item: (item[1], item[0]))[0]


def _defined(table: Table, columns: Sequence[str]) -> list[Cell]:
    return [c for row in table.rows for col in columns if (c := table.cell(row, col)).defined]


def majority_runs(table: Table) -> int | None:
    """The most common number of training runs behind the table's cells (cells that differ get "(n=K)")."""
    return _majority(c.n_runs for c in _defined(table, [*table.columns, WORST_CASE]))


def caption(table: Table) -> str:
    """What the numbers are: accuracy in %, mean ± sample std over N seeds, n per column, Min vs Worst case."""
    runs = majority_runs(table)
    if runs is None:
        return "No results."
    if runs >= 2:
        what = f"Accuracy (%) under attack, mean ± sample std over {runs} training seeds"
    else:
        what = "Accuracy (%) under attack, one training seed (no std)"
    columns = [*table.columns, WORST_CASE]
    n_major = _majority(c.n_examples for c in _defined(table, columns))
    differing = []
    for column in columns:
        ns = sorted({c.n_examples for c in _defined(table, [column])})
        if ns and ns != [n_major]:
            differing.append(f"{column}: {'/'.join(str(n) for n in ns)}")
    n_text = f"; n = {n_major} test images"
    if differing:
        n_text += f" ({'; '.join(differing)})"
    text = (
        f"{what}{n_text}. {MIN} is the row minimum over the attack columns (the paper's definition); "
        f'{WORST_CASE} is the per-example worst case over all attacks (mean over examples of "correct under '
        f'every attack run on it"; an attack run on fewer images constrains only those).'
    )
    excluded = [c for c in table.columns if c not in table.attack_columns and c != CLEAN]
    if excluded:
        text += f" {', '.join(excluded)} {'is' if len(excluded) == 1 else 'are'} not counted in {MIN} or {WORST_CASE}."
    return text


def _rendered(table: Table, row: str, column: str, majority: int | None, plus_minus: str = "±") -> str:
    cell = table.cell(row, column)
    text = format_cell(cell, plus_minus)
    if cell.defined and majority is not None and cell.n_runs != majority:
        text += f" (n={cell.n_runs})"
    return text


def table_title(table: Table) -> str:
    """The heading text of a table: dataset, protocol and eps."""
    return f"{table.dataset}, protocol {table.protocol}, eps = {format_eps(table.eps)}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(tables: Sequence[Table]) -> str:
    """Each table as a heading, a caption, a pipe table (Clean, attacks, Min, Worst case) and its notes."""
    parts = []
    for table in tables:
        majority = majority_runs(table)
        columns = table.all_columns()
        lines = [f"### {table_title(table)}", "", caption(table), ""]
        if table.strength:
            lines.extend([f"Evaluation strength: {table.strength}.", ""])
        lines.append("| | " + " | ".join(_md_escape(c) for c in columns) + " |")
        lines.append("|---|" + "---|" * len(columns))
        for row in table.rows:
            source = table.cell(row, MIN).source_column
            values = []
            for column in columns:
                text = _rendered(table, row, column, majority)
                values.append(f"**{text}**" if column == source else text)
            lines.append(f"| {_md_escape(table.row_label(row))} | " + " | ".join(values) + " |")
        if table.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in table.notes)
        lines.extend(["", "**Flags**", ""])
        lines.extend(f"- {_md_escape(line)}" for line in flag_lines(table))
        if any(table.unreliable(row) for row in table.rows):
            lines.extend(["", flags_legend()])
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + ("\n" if parts else "")


CSV_HEADER = ("dataset", "protocol", "eps", "row", "column", "mean", "std", "n_runs", "n_examples")


def to_csv(tables: Sequence[Table]) -> str:
    """Long format, one line per cell (Min and Worst case included); fractions at full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for table in tables:
        for row in table.rows:
            for column in table.all_columns():
                cell = table.cell(row, column)
                writer.writerow(
                    [
                        table.dataset,
                        table.protocol,
                        repr(table.eps),
                        row,
                        column,
                        "" if cell.mean is None else repr(cell.mean),
                        "" if cell.std is None else repr(cell.std),
                        cell.n_runs,
                        cell.n_examples,
                    ]
                )
    return buffer.getvalue()


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in a label."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(tables: Sequence[Table]) -> str:
    """A booktabs tabular per table, percentages, the row minimum (Min's source cell) in bold as in the paper."""
    parts = []
    for table in tables:
        majority = majority_runs(table)
        columns = table.all_columns()
        lines = [f"% {table_title(table)}", f"% {caption(table)}"]
        if table.strength:
            lines.append(f"% Evaluation strength: {table.strength}.")
        lines.extend(f"% Flags: {line}" for line in flag_lines(table))
        lines.append(r"\begin{tabular}{l" + "c" * len(columns) + "}")
        lines.append(r"\toprule")
        lines.append(" & " + " & ".join(latex_escape(c) for c in columns) + r" \\")
        lines.append(r"\midrule")
        for row in table.rows:
            source = table.cell(row, MIN).source_column
            values = []
            for column in columns:
                text = _rendered(table, row, column, majority, plus_minus="$\\pm$")
                if text == UNDEFINED:
                    values.append("--")
                elif column == source:
                    values.append(r"\textbf{" + text + "}")
                else:
                    values.append(text)
            label = latex_escape(row) + (r"$^\dagger$" if table.unreliable(row) else "")
            lines.append(label + " & " + " & ".join(values) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + ("\n" if parts else "")
