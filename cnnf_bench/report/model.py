"""What a report table is: cells (mean and sample std over training runs) in rows and columns.

Torch-free data classes and the names of the derived columns; building them is
:mod:`cnnf_bench.report.aggregate`, showing them :mod:`cnnf_bench.report.render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnnf_bench.checks.flags import RowFlags

Record = Mapping[str, Any]

MIN = "Min"
WORST_CASE = "Worst case"
CLEAN = "Clean"
TRANSFER = "Transfer"
UNDEFINED = "-"
UNRELIABLE_MARK = "†"


@dataclass(frozen=True)
class Cell:
    """One table entry: mean and sample std (ddof=1) over training runs; fractions, not percentages.

    ``std`` is None with fewer than two runs (never a fake 0). ``n_examples`` is the number of images
    behind every run's value (a cell never mixes image sets). ``source_column`` is set on Min cells only
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


@dataclass(frozen=True)
class Distance:
    """A cell's median L2 distance (minimum-norm attacks, :mod:`cnnf_bench.report.distance`): mean and sample
    std over runs (None: one run), or not reached in some run."""

    mean: float | None
    std: float | None
    n_runs: int
    n_examples: int
    train_seeds: tuple[int | None, ...]
    #: runs whose median was not reached (under half of their images broken); then ``mean`` is None
    not_reached: int = 0
    l2_budget: float | None = None


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
    #: per row: stored check verdicts and C10/C11/C19 on the row's own columns (see cnnf_bench.checks.flags)
    flags: dict[str, RowFlags] = field(default_factory=dict)
    #: how strong the attacks were, from the records' parameters (see cnnf_bench.strength)
    strength: str = ""
    #: per row: the records behind it (every column's), for the model card of the JSON report
    row_records: dict[str, list[Record]] = field(default_factory=dict)
    #: (row, attack column) -> the median L2 of a minimum-norm attack's cell, where its records have one
    distances: dict[tuple[str, str], Distance] = field(default_factory=dict)

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
