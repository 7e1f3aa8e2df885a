"""Rich rendering of check verdicts, and the check run shared by ``check``, ``evaluate --checks`` and ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

VERDICT_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def verdict_text(verdict: str) -> str:
    """A coloured verdict word."""
    return f"[{VERDICT_STYLE.get(verdict, '')}]{verdict.upper()}[/]"


def checks_table(results: list[Any], title: str) -> Any:
    """A rich table: id, name, verdict (coloured), measured value, threshold (advice is printed below)."""
    from rich.table import Table

    table = Table(title=title, expand=True)
    table.add_column("id", no_wrap=True)
    table.add_column("check", ratio=2)
    table.add_column("verdict", no_wrap=True)
    table.add_column("value", ratio=5)
    table.add_column("threshold", ratio=3)
    for r in results:
        table.add_row(r.check, escape(r.name), verdict_text(r.verdict.value), escape(r.value_text), escape(r.threshold))
    return table


def advice_lines(results: list[Any]) -> list[str]:
    """One markup line of advice per warned or failed check."""
    return [f"{verdict_text(r.verdict.value)} {r.check}: {escape(r.advice)}" for r in results if r.flagged]


def summary_line(results: list[Any]) -> str:
    """One markup line: counts per verdict, the flagged ids, and whether the numbers can be trusted."""
    from cnnf_bench.checks.base import UNRELIABLE_CHECKS, Verdict

    def ids(verdict: Verdict) -> list[str]:
        return [r.check for r in results if r.verdict is verdict]

    failed, warned = ids(Verdict.FAIL), ids(Verdict.WARN)
    parts = [f"{len(ids(Verdict.PASS))} passed"]
    if warned:
        parts.append(f"[yellow]{len(warned)} warned ({', '.join(warned)})[/]")
    if failed:
        parts.append(f"[bold red]{len(failed)} failed ({', '.join(failed)})[/]")
    if ids(Verdict.SKIP):
        parts.append(f"{len(ids(Verdict.SKIP))} skipped")
    text = ", ".join(parts) + "."
    unreliable = [c for c in failed if c in UNRELIABLE_CHECKS]
    if unreliable:
        text += (
            f" [bold red]The robust accuracies of this checkpoint are potentially unreliable "
            f"(failed {', '.join(unreliable)}).[/]"
        )
    elif failed:
        text += " [bold red]Some checks failed:[/] read the advice above before trusting the numbers."
    elif warned:
        text += " Warnings mean the evaluation could be stronger (see the advice above)."
    return text + " (See docs/checks.md; the exit code stays 0, a diagnosis, unless `check --strict`.)"


def run_and_show(
    console: Console,
    checkpoint: Path,
    settings: Any,
    readouts: list[str | None],
    checks_store: Path,
    device: Any,
    data_dir: Path | None,
    only: list[str] | None = None,
    force: bool = False,
) -> list[Any]:
    """Check one checkpoint for each readout, printing progress, the verdict table and a summary."""
    from cnnf_bench.checks.context import CheckEvent
    from cnnf_bench.checks.runner import check_checkpoint
    from cnnf_bench.results import ResultsStore

    store = ResultsStore(checks_store)

    def progress(event: CheckEvent) -> None:
        if event.kind == "run":
            info = event.info
            console.print(
                f"  [dim]{escape(event.label)}: {100 * info['accuracy']:.1f}% on {info['n']} images, "
                f"{info['seconds']:.1f} s[/]",
                highlight=False,
            )
        elif event.kind == "done":
            r = event.info["result"]
            console.print(f"{r.check} {escape(r.name)}: {verdict_text(r.verdict.value)} ({r.seconds:.1f} s)")

    out = []
    for readout in readouts:
        results, computed = check_checkpoint(
            checkpoint, settings, readout, store, device, data_dir, only=only, force=force, callback=progress
        )
        reused = len(results) - len(computed)
        label = f"checks of {checkpoint}" + (f" [readout {readout}]" if readout else "")
        console.print(checks_table(results, escape(label)))
        for line in advice_lines(results):
            console.print(line, highlight=False)
        if reused:
            console.print(f"[dim]{reused} verdict(s) reused from {checks_store} (use --force to recompute)[/]")
        console.print(summary_line(results), highlight=False)
        out.extend(results)
    console.print(f"verdicts stored in {checks_store}")
    return out
