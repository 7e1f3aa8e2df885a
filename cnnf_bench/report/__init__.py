"""Result records -> the paper's tables (Tables 2 and 3 of Huang et al. 2020), as Markdown, LaTeX, CSV and JSON.

Pure Python plus numpy (for the packed per-example flags); never imports torch, so reports are cheap.

- :mod:`~cnnf_bench.report.records`: which stored records are usable (schema, field types) and what
  identifies their images;
- :mod:`~cnnf_bench.report.layout`: rows and columns (records share a column only when comparable);
- :mod:`~cnnf_bench.report.aggregate`: cells, Min and the per-example Worst case (:func:`build_tables`);
- :mod:`~cnnf_bench.report.render`: text formats (Markdown, LaTeX);
- :mod:`~cnnf_bench.report.export`: data formats (tidy CSV, JSON with a model card per row).

Layout of one :class:`Table` (one per dataset, protocol and eps): rows ``CNN``, ``CNN-F (last)``,
``CNN-F (avg)`` (plus disambiguated variants); ``Table.columns`` the measured columns in display order,
``Clean`` first, then the paper's attack columns, then any others (noise included). ``Min`` and ``Worst
case`` are derived, stored in ``Table.cells`` under :data:`MIN` and :data:`WORST_CASE` and listed by
:meth:`Table.all_columns`; ``Table.attack_columns`` names the columns they range over.
"""

from cnnf_bench.report.aggregate import build_tables
from cnnf_bench.report.export import CSV_HEADER, table_json, to_csv, to_json
from cnnf_bench.report.layout import DISPLAY_NAMES, NON_ATTACKS, VIEWLESS, display_name
from cnnf_bench.report.model import CLEAN, MIN, TRANSFER, UNDEFINED, UNRELIABLE_MARK, WORST_CASE, Cell, Table
from cnnf_bench.report.records import usable_checks, usable_records
from cnnf_bench.report.render import (
    caption,
    flag_lines,
    flags_legend,
    format_cell,
    format_eps,
    latex_escape,
    majority_runs,
    minimum_norm_only,
    table_title,
    to_latex,
    to_markdown,
)

__all__ = [
    "CLEAN",
    "CSV_HEADER",
    "DISPLAY_NAMES",
    "MIN",
    "NON_ATTACKS",
    "TRANSFER",
    "UNDEFINED",
    "UNRELIABLE_MARK",
    "VIEWLESS",
    "WORST_CASE",
    "Cell",
    "Table",
    "build_tables",
    "caption",
    "display_name",
    "flag_lines",
    "flags_legend",
    "format_cell",
    "format_eps",
    "latex_escape",
    "majority_runs",
    "minimum_norm_only",
    "table_json",
    "table_title",
    "to_csv",
    "to_json",
    "to_latex",
    "to_markdown",
    "usable_checks",
    "usable_records",
]
