"""The main result as a figure: accuracy per attack column per model, error bars over training seeds.

One figure per report table (dataset, protocol, eps), built from the same :class:`~cnnf_bench.report.Table`
the ``report`` command prints, so the bars are the table's numbers: for each column (Clean, each attack,
Min, Worst case) a group of bars, one per row (CNN, CNN-F (last), CNN-F (avg), ...), the height the mean
over training seeds and the error bar the sample std. Min and Worst case are hatched and set apart by a
line; a row marked potentially unreliable keeps its † in the legend. The CSV beside it holds the numbers
(the report's tidy CSV for that table).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cnnf_bench.plots.data import Record
from cnnf_bench.plots.figure import PlotResult, new_figure, save, series_style, slug, unique_stem
from cnnf_bench.report import MIN, WORST_CASE, build_tables, format_eps, minimum_norm_only, table_title, to_csv
from cnnf_bench.report.render import caption


def main_table(records: Sequence[Record], out_dir: Path, taken: set[str] | None = None) -> PlotResult:
    """One bar chart (+ CSV and caption) per report table that has at least one attack column."""
    taken = set() if taken is None else taken
    result = PlotResult()
    tables = [t for t in build_tables(records) if t.attack_columns]
    if not tables:
        result.notes.append("main table: skipped (no attack records to tabulate)")
        return result
    for table in tables:
        columns = table.all_columns()
        width = 0.8 / max(1, len(table.rows))
        fig, (ax,) = new_figure(1, size=(max(6.0, 1.1 * len(columns) + 1.5), 4.2))
        for i, row in enumerate(table.rows):
            colour, _ = series_style(i)
            cells = [table.cell(row, c) for c in columns]
            means = np.array([np.nan if c.mean is None else 100 * c.mean for c in cells])
            stds = np.array([0.0 if c.std is None else 100 * c.std for c in cells])
            x = np.arange(len(columns)) + (i - (len(table.rows) - 1) / 2) * width
            bars = ax.bar(x, means, width, yerr=stds, capsize=2, color=colour, label=table.row_label(row))
            for bar, column in zip(bars, columns, strict=True):
                if column in (MIN, WORST_CASE):
                    bar.set_hatch("//" if column == MIN else "xx")
                    bar.set_edgecolor("white")
        ax.axvline(len(table.columns) - 0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("accuracy (%), mean ± std over seeds")
        eps = format_eps(table.eps)
        threat = "L2, minimum-norm" if minimum_norm_only(table) else f"L-inf, eps {eps} in [0, 1] units"
        ax.set_xlabel(f"attack ({threat}); Min // and Worst case xx")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small", loc="upper right")
        title = f"{table_title(table)}: accuracy under attack\n{caption(table)}"
        if table.strength:
            title += f"\nEvaluation strength: {table.strength}."
        stem = unique_stem(
            out_dir, f"main_table-{slug(table.dataset)}-{slug(table.protocol)}-eps{format_eps(table.eps)}", taken
        )
        result.written.append(save(fig, out_dir / f"{stem}.png", title))
        csv_path = out_dir / f"{stem}.csv"
        csv_path.write_text(to_csv([table]))
        result.written.append(csv_path)
    return result
