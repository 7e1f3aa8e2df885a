"""Report tables as text: Markdown and LaTeX, with captions that say what the numbers are.

Rendering only reads :class:`~cnnf_bench.report.model.Table` objects; numbers stay fractions in the
tables and become percentages with two decimals here. Every format carries the same content (values,
± std, runs, images, marks, flags, notes, limits, evaluation strength); CSV and JSON are in
:mod:`cnnf_bench.report.export`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from cnnf_bench.checks.base import UNRELIABLE_CHECKS
from cnnf_bench.checks.flags import RowFlags
from cnnf_bench.report.distance import distance_caption, format_distance, shown_columns
from cnnf_bench.report.model import CLEAN, MIN, UNDEFINED, UNRELIABLE_MARK, WORST_CASE, Cell, Table


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
    if any(c.n_runs != runs for c in _defined(table, columns)):
        what += '; a cell marked "(n=K)" rests on K training runs instead (mean ± sample std when K >= 2)'
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
        f"{what}{n_text}; a cell averages only runs on the same images and settings. {MIN} is the row "
        f"minimum over the attack columns (the paper's definition); {WORST_CASE} is the per-example worst "
        f'case: the fraction of images "correct clean and under every attack of the row", on the images all '
        "of them ran on."
    )
    excluded = [c for c in table.columns if c not in table.attack_columns and c != CLEAN]
    if excluded:
        text += f" {', '.join(excluded)} {'is' if len(excluded) == 1 else 'are'} not counted in {MIN} or {WORST_CASE}."
    distances = distance_caption(table)
    return f"{text} {distances}" if distances else text


def rendered_cell(table: Table, row: str, column: str, majority: int | None, plus_minus: str = "±") -> str:
    """A cell's text, marked "(n=K)" when it rests on another number of runs than most cells."""
    cell = table.cell(row, column)
    text = format_cell(cell, plus_minus)
    if cell.defined and majority is not None and cell.n_runs != majority:
        text += f" (n={cell.n_runs})"
    return text


def shown_cell(table: Table, row: str, column: str, distance: bool, majority: int | None, plus_minus: str = "±") -> str:
    """The text of a shown column's cell: the accuracy (:func:`rendered_cell`) or the median L2."""
    if distance:
        return format_distance(table.distances.get((row, column)), plus_minus)
    return rendered_cell(table, row, column, majority, plus_minus)


def minimum_norm_only(table: Table) -> bool:
    """Whether the table holds only minimum-norm L2 attacks (C&W-L2, DeepFool, HopSkipJump): their eps of
    1 is "no L-inf budget" (the whole [0, 1] range), not a threat model worth a title."""
    return bool(table.distances) and table.eps >= 1.0


def table_title(table: Table) -> str:
    """The heading text of a table: dataset, protocol and eps (or the L2 attacks' lack of one)."""
    if minimum_norm_only(table):
        return f"{table.dataset}, protocol {table.protocol}, minimum-norm L2 attacks (no L-inf budget)"
    return f"{table.dataset}, protocol {table.protocol}, eps = {format_eps(table.eps)}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(tables: Sequence[Table]) -> str:
    """Each table as a heading, a caption, a pipe table (Clean, attacks, Min, Worst case) and its notes."""
    parts = []
    for table in tables:
        majority = majority_runs(table)
        columns = shown_columns(table)
        lines = [f"### {table_title(table)}", "", caption(table), ""]
        if table.strength:
            lines.extend([f"Evaluation strength: {table.strength}.", ""])
        lines.append("| | " + " | ".join(_md_escape(header) for header, _, _ in columns) + " |")
        lines.append("|---|" + "---|" * len(columns))
        for row in table.rows:
            source = table.cell(row, MIN).source_column
            values = []
            for _, column, distance in columns:
                text = shown_cell(table, row, column, distance, majority)
                values.append(f"**{text}**" if column == source and not distance else text)
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
    "±": r"$\pm$",
    "†": r"$^\dagger$",
    "×": r"$\times$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "≈": r"$\approx$",
    "–": "--",
    "—": "---",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (and the few non-ASCII signs the report uses) in any text."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex_text(text: str) -> str:
    """Escaped text with `code` spans (commands, file names) set in \\texttt."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backquote: no code spans
        return latex_escape(text).replace("`", "'")
    return "".join(latex_escape(p) if i % 2 == 0 else r"\texttt{" + latex_escape(p) + "}" for i, p in enumerate(parts))


def _latex_label(table: Table) -> str:
    eps = format_eps(table.eps).replace("/", "-")
    return f"tab:cnnf-{table.dataset}-{table.protocol}-eps{eps}".replace("_", "-")


def to_latex(tables: Sequence[Table]) -> str:
    """A ``table`` per report table: caption, booktabs tabular (needs ``\\usepackage{booktabs}``), the row
    minimum in bold as in the paper, † on unreliable rows, then strength, notes, flags and the legend."""
    parts = []
    for table in tables:
        majority = majority_runs(table)
        columns = shown_columns(table)
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            r"\caption{" + latex_text(f"{table_title(table)}. {caption(table)}") + "}",
            r"\label{" + _latex_label(table) + "}",
            r"\begin{tabular}{l" + "c" * len(columns) + "}",
            r"\toprule",
            " & " + " & ".join(latex_escape(header) for header, _, _ in columns) + r" \\",
            r"\midrule",
        ]
        for row in table.rows:
            source = table.cell(row, MIN).source_column
            values = []
            for _, column, distance in columns:
                text = shown_cell(table, row, column, distance, majority, plus_minus="$\\pm$")
                if text == UNDEFINED:
                    values.append("--")
                elif column == source and not distance:
                    values.append(r"\textbf{" + text + "}")
                else:
                    values.append(text)
            label = latex_escape(row) + (r"$^\dagger$" if table.unreliable(row) else "")
            lines.append(label + " & " + " & ".join(values) + r" \\")
        lines.extend(
            [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        )
        body = []
        if table.strength:
            body.append(f"Evaluation strength: {table.strength}.")
        body.extend(table.notes)
        body.extend(f"Flags: {line}" for line in flag_lines(table))
        if any(table.unreliable(row) for row in table.rows):
            body.append(flags_legend())
        lines.append((r"\\" + "\n").join(latex_text(item) for item in body))
        lines.extend([r"\end{minipage}", r"\end{table}"])
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + ("\n" if parts else "")
