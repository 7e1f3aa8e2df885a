"""Report tables as data: a tidy CSV and JSON, carrying everything the text tables show.

Both formats hold the same content as the Markdown and LaTeX tables: every cell's value and sample std
in percent, rounded as displayed, the number of training runs and of images and the training seeds
behind it, the † "potentially unreliable" mark, each row's flags, the table's caption, notes, limits
and evaluation strength. The JSON adds a model card per row (:mod:`cnnf_bench.report.card`).

CSV layout (one header, one line per item; ``kind`` says what a line is):

- ``cell``: ``row``, ``column`` (Min and Worst case included), ``value`` and ``std`` in percent with
  two decimals (empty when undefined or a single run), ``text`` as displayed, ``n_runs``,
  ``n_examples``, ``train_seeds`` (``;``-separated), ``unreliable`` (``†`` or empty), ``min_source``
  (``1`` on the cell the row minimum comes from);
- ``median_l2``: a minimum-norm attack's median L2 distance (:mod:`cnnf_bench.report.distance`):
  ``row``, ``column`` (the attack's column), ``value`` and ``std`` in L2 units with three decimals
  (empty when not reached or a single run), ``text`` as displayed, ``n_runs``, ``n_examples``,
  ``train_seeds``, ``unreliable``;
- ``flags``: ``row``, ``unreliable``, ``text``: the row's line of the Flags section;
- ``caption``, ``strength``, ``note``, ``legend``: ``text`` only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from cnnf_bench.report.distance import distance_columns, format_distance
from cnnf_bench.report.model import CLEAN, MIN, UNRELIABLE_MARK, WORST_CASE, Cell, Distance, Table
from cnnf_bench.report.render import caption, flag_lines, flags_legend, format_eps, majority_runs, rendered_cell

CSV_HEADER = (
    "dataset",
    "protocol",
    "eps",
    "kind",
    "row",
    "column",
    "value",
    "std",
    "text",
    "n_runs",
    "n_examples",
    "train_seeds",
    "unreliable",
    "min_source",
)


def percent(value: float | None) -> str:
    """A fraction as the percentage the tables display (two decimals), empty when undefined."""
    return "" if value is None else f"{100 * value:.2f}"


def _l2(value: float | None) -> str:
    """An L2 distance as displayed (three decimals), empty when undefined."""
    return "" if value is None else f"{value:.3f}"


def _distance_json(distance: Distance) -> dict[str, Any]:
    return {
        "value": None if distance.mean is None else round(distance.mean, 3),
        "std": None if distance.std is None else round(distance.std, 3),
        "text": format_distance(distance),
        "n_runs": distance.n_runs,
        "n_examples": distance.n_examples,
        "train_seeds": list(distance.train_seeds),
        "runs_not_reached": distance.not_reached,
        "l2_budget": distance.l2_budget,
    }


def _seeds(cell: Cell) -> list[int | None]:
    return list(cell.train_seeds)


def to_csv(tables: Sequence[Table]) -> str:
    """The tidy CSV described in the module docstring."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for table in tables:
        head = [table.dataset, table.protocol, format_eps(table.eps)]

        def line(kind: str, text: str, row: str = "", unreliable: str = "") -> None:
            writer.writerow([*head, kind, row, "", "", "", text, "", "", "", unreliable, ""])  # noqa: B023

        line("caption", caption(table))
        if table.strength:
            line("strength", f"Evaluation strength: {table.strength}.")
        majority = majority_runs(table)
        for row in table.rows:
            mark = UNRELIABLE_MARK if table.unreliable(row) else ""
            source = table.cell(row, MIN).source_column
            for column in table.all_columns():
                cell = table.cell(row, column)
                writer.writerow(
                    [
                        *head,
                        "cell",
                        row,
                        column,
                        percent(cell.mean),
                        percent(cell.std),
                        rendered_cell(table, row, column, majority),
                        cell.n_runs,
                        cell.n_examples,
                        ";".join("" if s is None else str(s) for s in cell.train_seeds),
                        mark,
                        "1" if column == source else "",
                    ]
                )
                distance = table.distances.get((row, column))
                if distance is not None:
                    writer.writerow(
                        [
                            *head,
                            "median_l2",
                            row,
                            column,
                            _l2(distance.mean),
                            _l2(distance.std),
                            format_distance(distance),
                            distance.n_runs,
                            distance.n_examples,
                            ";".join("" if s is None else str(s) for s in distance.train_seeds),
                            mark,
                            "",
                        ]
                    )
        for row, text in zip(table.rows, flag_lines(table), strict=True):
            line("flags", text, row, UNRELIABLE_MARK if table.unreliable(row) else "")
        for note in table.notes:
            line("note", note)
        if any(table.unreliable(row) for row in table.rows):
            line("legend", flags_legend())
    return buffer.getvalue()


def _cell_json(table: Table, row: str, column: str, majority: int | None) -> dict[str, Any]:
    cell = table.cell(row, column)
    out: dict[str, Any] = {
        "value": None if cell.mean is None else round(100 * cell.mean, 2),
        "std": None if cell.std is None else round(100 * cell.std, 2),
        "text": rendered_cell(table, row, column, majority),
        "n_runs": cell.n_runs,
        "n_examples": cell.n_examples,
        "train_seeds": _seeds(cell),
    }
    if column == MIN:
        out["column"] = cell.source_column
    distance = table.distances.get((row, column))
    if distance is not None:
        out["median_l2"] = _distance_json(distance)
    return out


def table_json(table: Table, cards: bool = True) -> dict[str, Any]:
    """One table as a JSON-ready dict: one object per row (clean, attacks, Min, worst case, flags, card)."""
    from cnnf_bench.report.card import model_card

    majority = majority_runs(table)
    rows = []
    for row in table.rows:
        flags = table.flags.get(row)
        entry: dict[str, Any] = {
            "row": row,
            "unreliable": table.unreliable(row),
            "mark": UNRELIABLE_MARK if table.unreliable(row) else "",
            "clean": _cell_json(table, row, CLEAN, majority) if CLEAN in table.columns else None,
            "attacks": {c: _cell_json(table, row, c, majority) for c in table.columns if c != CLEAN},
            "min": _cell_json(table, row, MIN, majority),
            "worst_case": _cell_json(table, row, WORST_CASE, majority),
            "flags": [
                {"check": f.check, "verdict": f.verdict.value, "origin": f.origin, "text": f.text}
                for f in (flags.flags if flags else ())
            ],
            "stored_checks": flags.stored if flags else 0,
        }
        if cards:
            entry["model_card"] = model_card(table.row_records.get(row, []), table.dataset, table.eps)
        rows.append(entry)
    return {
        "dataset": table.dataset,
        "protocol": table.protocol,
        "eps": table.eps,
        "eps_text": format_eps(table.eps),
        "units": "accuracy in percent; eps in [0, 1] pixel units",
        "caption": caption(table),
        "strength": table.strength,
        "attack_columns": list(table.attack_columns),
        "median_l2_columns": list(distance_columns(table)),
        "rows": rows,
        "flags": flag_lines(table),
        "notes": list(table.notes),
        "legend": flags_legend() if any(table.unreliable(r) for r in table.rows) else None,
    }


def to_json(tables: Sequence[Table]) -> str:
    """Every table with its rows and model cards, plus where and with what the report was made."""
    from cnnf_bench.report.card import report_environment

    document = {
        "format": "cnnf-bench-report",
        "version": 1,
        "generated_by": report_environment(),
        "tables": [table_json(t) for t in tables],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
