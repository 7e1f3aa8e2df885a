"""``cnnf-bench report``: the paper's tables from the results store."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnf_bench.cli.app import Verbosity, app, console, handle_errors, info, pick
from cnnf_bench.cli.cmd_evaluate import DEFAULT_RESULTS
from cnnf_bench.cli.options import StoreOpt


class Format(str, Enum):
    """Output format of ``report``."""

    terminal = "terminal"
    markdown = "markdown"
    csv = "csv"
    latex = "latex"
    json = "json"


#: the format a file suffix means when --out is given without --format
SUFFIX_FORMAT = {".md": Format.markdown, ".csv": Format.csv, ".tex": Format.latex, ".json": Format.json}


def render(tables: list, fmt: Format) -> str:  # type: ignore[type-arg]
    """The tables as Markdown, CSV, LaTeX or JSON text."""
    from cnnf_bench.report import to_csv, to_json, to_latex, to_markdown

    writers = {Format.markdown: to_markdown, Format.csv: to_csv, Format.latex: to_latex, Format.json: to_json}
    return writers[fmt](tables)


def pick_format(fmt: Format | None, out: Path | None) -> Format:
    """The format asked for; else the one --out's suffix names (Markdown for others); else the terminal table."""
    if fmt is not None:
        return fmt
    if out is None:
        return Format.terminal
    return SUFFIX_FORMAT.get(out.suffix.lower(), Format.markdown)


@app.command()
@handle_errors
def report(
    results: StoreOpt = DEFAULT_RESULTS,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="terminal (a rich table; the default without --out), markdown, csv (tidy, in %), latex (needs "
            "booktabs) or json (one object per row, with a model card). With --out: from its suffix "
            "(.md .csv .tex .json), else markdown.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report to this file (else print it).")
    ] = None,
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
    """Emit the paper's tables (Clean, per-attack, Min, per-example Worst case; mean ± std over seeds).

    Every format carries the same numbers, marks, flags, notes, limits and evaluation strength.
    """
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
    chosen = pick_format(fmt, out)
    if out is not None:
        if chosen is Format.terminal:
            raise UsageError("--format terminal prints to the terminal; give another format with --out")
        ensure_folder(out.parent if str(out.parent) else Path(), "report folder")
        atomic_write_bytes(out, render(tables, chosen).encode())
    if chosen is Format.terminal or out is not None:
        if not (out is not None and Verbosity.quiet):
            for item in report_tables(tables):
                print_wide(console, item) if not isinstance(item, str) else console.print(item)
        if out is not None:
            info(f"{chosen.value} written to {escape(str(out))}", highlight=False)
    else:
        typer.echo(render(tables, chosen), nl=False)
