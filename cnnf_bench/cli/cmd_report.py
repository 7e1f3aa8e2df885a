"""``cnnf-bench report``: the paper's tables from the results store."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnf_bench.cli.app import app, console, handle_errors, pick
from cnnf_bench.cli.cmd_evaluate import DEFAULT_RESULTS
from cnnf_bench.cli.options import StoreOpt


class Format(str, Enum):
    """Output format of ``report``."""

    markdown = "markdown"
    csv = "csv"
    latex = "latex"


def render(tables: list, fmt: Format) -> str:  # type: ignore[type-arg]
    """The tables as Markdown, CSV or LaTeX text."""
    from cnnf_bench.report import to_csv, to_latex, to_markdown

    return {Format.markdown: to_markdown, Format.csv: to_csv, Format.latex: to_latex}[fmt](tables)


@app.command()
@handle_errors
def report(
    results: StoreOpt = DEFAULT_RESULTS,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="markdown, csv or latex.")] = Format.markdown,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report here (else the terminal).")] = None,
    checks_store: Annotated[
        Path | None,
        typer.Option(
            "--checks-store", help="Check verdicts (default: checks.jsonl beside --results).", show_default=False
        ),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge", help="--results is a folder of shards: also append its records to <folder>.jsonl (one file)."
        ),
    ] = False,
    old_checks: Annotated[Path | None, typer.Option("--checks", hidden=True)] = None,
) -> None:
    """Emit the paper's tables (Clean, per-attack, Min, per-example Worst case; mean ± std over seeds)."""
    from rich.markup import escape

    from cnnf_bench.cli.render import print_wide, report_tables
    from cnnf_bench.errors import ResultsError, UsageError
    from cnnf_bench.fileio import atomic_write_bytes, ensure_folder
    from cnnf_bench.report import build_tables, usable_checks, usable_records
    from cnnf_bench.shards import is_sharded, merge_shards, open_checks, open_results

    checks = pick(checks_store, old_checks, "--checks FILE", "--checks-store FILE")
    if out is not None and out.is_dir():
        raise UsageError(f"--out {out} is a folder; give the path of the file to write")
    if not results.exists():
        raise ResultsError(f"no results store at {results}; run `cnnf-bench evaluate` or `cnnf-bench run` first")
    if merge and not is_sharded(results):
        raise UsageError(f"--merge needs a folder of result shards, and {results} is a file")
    store = open_results(results)
    stored = store.latest()
    warnings = list(store.warnings)
    records, skipped = usable_records(stored)
    warnings += [f"{results}: {line}" for line in skipped]
    verdict_store = open_checks(results, checks)
    verdicts, skipped_checks = usable_checks(verdict_store.latest())
    warnings += verdict_store.warnings + [f"{verdict_store.path}: {line}" for line in skipped_checks]
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if not records:
        what = "holds no records" if not stored and not store.warnings else "holds no record this report can use"
        raise ResultsError(f"results store {results} {what}; nothing to report")
    if merge:
        merged = merge_shards(results)
        console.print(
            f"merged {merged.written} new record(s) into {merged.target} ({merged.present} already there) and "
            f"{merged.checks_written} verdict(s) into {merged.checks_target}",
            highlight=False,
        )
    tables = build_tables(records, verdicts)
    if out is not None:
        ensure_folder(out.parent if str(out.parent) else Path(), "report folder")
        atomic_write_bytes(out, render(tables, fmt).encode())
    if fmt is Format.markdown or out is not None:
        for item in report_tables(tables):
            print_wide(console, item) if not isinstance(item, str) else console.print(item)
        if out is not None:
            console.print(f"written to {out}")
    else:
        typer.echo(render(tables, fmt), nl=False)
