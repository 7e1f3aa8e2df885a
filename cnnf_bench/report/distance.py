"""The median L2 distance of minimum-norm attacks (C&W-L2, DeepFool, HopSkipJump): a second value of a cell.

A minimum-norm attack finds, per image, the smallest perturbation that fools the model; its column's
accuracy is taken at an L2 budget, and its record also keeps the median L2 distance of what it found
(``extras.median_l2``; null when under half of the images were broken, so the median is not reached).
That distance is the number FPD-style papers compare, so the report shows it as a value of its own:
per training run the median (averaged over attack seeds), then mean ± sample std over runs, in L2 units
of [0, 1] pixels. Text formats show it in a column ``<attack column> median L2`` right after the
accuracy column; CSV has ``median_l2`` lines and JSON a ``median_l2`` object in the attack's cell. It
is not an accuracy: Min and Worst case never range over it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

from cnnf_bench.report.model import UNDEFINED, Distance, Record, Table

#: the suffix of a distance column's header
MEDIAN_L2 = "median L2"
#: the text of a distance a run did not reach (under half of its images broken)
NOT_REACHED = "not reached"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def distance_cell(records: Sequence[Record]) -> Distance | None:
    """The median L2 of a cell's records, or None when none of them recorded one."""
    runs: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        extras = record.get("extras") or {}
        if "median_l2" in extras:
            runs[str(record["checkpoint"]["sha256"])].append(record)
    if not runs:
        return None
    values: list[float] = []
    seeds: list[int | None] = []
    missed = 0
    for run in sorted(runs.values(), key=lambda rs: (rs[0].get("train_seed") is None, rs[0].get("train_seed") or 0)):
        medians = [_number((r.get("extras") or {}).get("median_l2")) for r in run]
        seed = run[0].get("train_seed")
        seeds.append(seed if isinstance(seed, int) else None)
        if any(m is None for m in medians):
            missed += 1
        else:
            values.append(statistics.fmean(m for m in medians if m is not None))
    budgets = {_number((r.get("extras") or {}).get("l2_budget")) for rs in runs.values() for r in rs}
    reached = not missed
    return Distance(
        mean=statistics.fmean(values) if reached else None,
        std=statistics.stdev(values) if reached and len(values) >= 2 else None,
        n_runs=len(runs),
        n_examples=min(int(r["n"]) for rs in runs.values() for r in rs),
        train_seeds=tuple(seeds),
        not_reached=missed,
        l2_budget=budgets.pop() if len(budgets) == 1 else None,
    )


def distance_cells(rows: dict[str, dict[str, list[Record]]], columns: Sequence[str]) -> dict[tuple[str, str], Distance]:
    """(row, column) -> median L2 for every attack cell whose records carry one."""
    out = {}
    for row, by_column in rows.items():
        for column in columns:
            found = distance_cell(by_column.get(column, []))
            if found is not None:
                out[(row, column)] = found
    return out


def format_distance(distance: Distance | None, plus_minus: str = "±") -> str:
    """Three decimals, "mean ± std" over runs; "not reached" (with how many runs when not all); "-" absent."""
    if distance is None:
        return UNDEFINED
    if distance.mean is None:
        some = f" in {distance.not_reached} of {distance.n_runs} runs" if distance.not_reached < distance.n_runs else ""
        return NOT_REACHED + some
    text = f"{distance.mean:.3f}"
    return text + (f" {plus_minus} {distance.std:.3f}" if distance.std is not None else "")


def distance_columns(table: Table) -> dict[str, str]:
    """Attack column -> the header of its median L2 column, for the columns that have one in some row."""
    having = {column for _, column in table.distances}
    return {column: f"{column} {MEDIAN_L2}" for column in table.columns if column in having}


def shown_columns(table: Table) -> list[tuple[str, str, bool]]:
    """The columns a text table shows, in order: (header, table column, is it a median L2 column)."""
    extra = distance_columns(table)
    out: list[tuple[str, str, bool]] = []
    for column in table.all_columns():
        out.append((column, column, False))
        if column in extra:
            out.append((extra[column], column, True))
    return out


def distance_caption(table: Table) -> str:
    """What the median L2 columns are (empty when the table has none)."""
    extra = distance_columns(table)
    if not extra:
        return ""
    budgets = sorted({d.l2_budget for d in table.distances.values() if d.l2_budget is not None})
    at = f" (accuracy at L2 <= {'/'.join(f'{b:g}' for b in budgets)})" if budgets else ""
    return (
        f"{', '.join(extra.values())}: the median L2 distance ([0, 1] pixel units) of the minimum-norm attack's "
        f"adversarial examples{at}, mean ± sample std over runs; {NOT_REACHED} where under half of the images "
        f"were broken; not counted in Min or Worst case."
    )
