"""``cnnf-bench run SUITE.yaml``: the whole grid (train, attack, report), resumable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnf_bench.cli.app import app, console, handle_errors
from cnnf_bench.cli.options import DataDirOpt, Device, DeviceOpt


@app.command()
@handle_errors
def run(
    suite: Annotated[Path, typer.Argument(help="Suite YAML, e.g. benchmarks/quick.yaml.")],
    checks: Annotated[
        bool, typer.Option("--checks", help="Also run the automatic checks on every checkpoint (see `check`).")
    ] = False,
    device: DeviceOpt = Device.auto,
    data_dir: DataDirOpt = None,
) -> None:
    """Train the checkpoints a suite needs, run every attack not yet stored, and write/print the report."""
    from cnnf_bench.cli.render import ProgressRenderer, print_wide, record_lines, report_tables
    from cnnf_bench.cli.render_checks import advice_lines, summary_line, verdict_text
    from cnnf_bench.runtime import resolve_device
    from cnnf_bench.suite import SuiteEvent, load_suite, run_suite

    spec = load_suite(suite)
    if checks and spec.checks is None:
        from dataclasses import replace

        from cnnf_bench.checks.base import CheckSettings

        spec = replace(spec, checks=CheckSettings())
    dev = resolve_device(device.value)
    start = time.perf_counter()
    console.print(
        f"suite [bold]{spec.name}[/]: {len(spec.models)} model(s) x {len(spec.seeds)} seed(s), "
        f"{len(spec.attacks)} attack(s), device {dev}; checkpoints in {spec.output_dir}, results in {spec.results}"
    )
    with ProgressRenderer(console) as progress:

        def on_event(event: SuiteEvent) -> None:
            info: dict[str, Any] = event.info
            if event.kind == "trained" and info["already"]:
                progress.print(f"{event.label}: checkpoint complete, not retrained")
            elif event.kind == "evaluated" and info["records"]:
                for line in record_lines(info["records"]):
                    progress.print(line)
            elif event.kind == "check":
                progress.print(f"{event.label} ...")
            elif event.kind == "checked":
                for line in advice_lines(info["results"]):
                    progress.print(f"  {line}")
                progress.print(f"{event.label}: {summary_line(info['results'])}")
            elif event.kind == "report":
                for warning in info["warnings"]:
                    progress.print(f"[yellow]warning:[/] {warning}")

        def on_check(event: Any) -> None:
            if event.kind == "done":
                r = event.info["result"]
                progress.print(f"  {r.check} {r.name}: {verdict_text(r.verdict.value)} ({r.seconds:.1f} s)")

        tables = run_suite(spec, dev, data_dir, on_event, progress.train, progress.evaluate, on_check)
    for item in report_tables(tables):
        print_wide(console, item) if not isinstance(item, str) else console.print(item)
    minutes = (time.perf_counter() - start) / 60
    console.print(
        f"report: {spec.report.with_suffix('.md')} and {spec.report.with_suffix('.csv')} (wall time {minutes:.1f} min)"
    )
