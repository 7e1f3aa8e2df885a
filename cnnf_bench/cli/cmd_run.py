"""``cnnf-bench run SUITE.yaml``: the whole grid (train, attack, report), resumable, on any executor."""

from __future__ import annotations

import time
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cnnf_bench.cli.app import app, console, fail, handle_errors
from cnnf_bench.cli.options import DataDirOpt, Device, DeviceOpt

if TYPE_CHECKING:
    from collections.abc import Callable

    from cnnf_bench.jobs import JobGraph
    from cnnf_bench.suite import Suite


class Executor(str, Enum):
    """Where the suite's jobs run."""

    local = "local"
    pool = "pool"
    slurm = "slurm"


def _renderer(progress: Any) -> Any:
    """The event callback: one line per finished piece of work, as ``run`` has always printed."""
    from rich.markup import escape

    from cnnf_bench.cli.render import LIMIT, record_lines
    from cnnf_bench.cli.render_checks import advice_lines, summary_line

    def on_event(event: Any) -> None:
        info: dict[str, Any] = event.info
        if event.kind == "trained" and info["already"]:
            progress.print(f"{event.label}: checkpoint complete, not retrained")
        elif event.kind == "evaluated" and info["records"]:
            for line in record_lines(info["records"]):
                progress.once(line) if line.startswith(LIMIT) else progress.print(line)
        elif event.kind == "check":
            progress.print(f"{event.label} ...")
        elif event.kind == "checked":
            for line in advice_lines(info["results"]):
                progress.print(f"  {line}")
            progress.print(f"{event.label}: {summary_line(info['results'])}")
        elif event.kind == "report":
            for warning in info["warnings"]:
                progress.once(f"[yellow]warning:[/] {escape(warning)}")
        elif event.kind == "skip":
            progress.print(f"[dim]{event.label}: done before, skipped[/]")
        elif event.kind == "submitted":
            after = f" after {', '.join(info['after'])}" if info["after"] else ""
            progress.print(f"{event.label}: submitted as Slurm job {info['slurm_id']}{after}")
        elif event.kind == "waiting":
            progress.print(f"{event.label}: already {info['state']} as Slurm job {info['slurm_id']}")
        elif event.kind == "finished":
            for line in record_lines(info.get("records") or []):
                progress.once(line) if line.startswith(LIMIT) else progress.print(line)
            progress.print(f"{event.label}: done")
        elif event.kind == "failed":
            progress.print(f"[red]{event.label}: failed[/] ({info['error']}; log {info['log']})")

    return on_event


def _outline_keeper(cache: Path, spec: Suite, as_written: Suite) -> Callable[[JobGraph], None] | None:
    """Saves the planned suite's outline in ``cache`` for ``status`` (no torch there), or None when it is
    not the suite as written: options that move its checkpoints or results, or add checks, make another
    set of jobs than ``status SUITE`` would describe. The report path is not part of the outline."""
    if replace(spec, report=as_written.report) != as_written:
        return None
    from cnnf_bench.outline import outline_of, save_outline

    return lambda graph: save_outline(cache, outline_of(graph))


@app.command()
@handle_errors
def run(
    suite: Annotated[Path, typer.Argument(help="Suite YAML, e.g. benchmarks/quick.yaml.")],
    checks: Annotated[
        bool, typer.Option("--checks", help="Also run the automatic checks on every checkpoint (see `check`).")
    ] = False,
    executor: Annotated[
        Executor | None,
        typer.Option(
            help="local (this process; default), pool (worker processes) or slurm (overrides executor.name).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="pool: worker processes (default 2).", show_default=False)] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads per job (pool default: cores / workers).", show_default=False)
    ] = None,
    shards: Annotated[
        bool | None,
        typer.Option(
            "--shards/--no-shards", help="local: one result file per job (pool and slurm always).", show_default=False
        ),
    ] = None,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="slurm: wait for the jobs and write the report (default) or submit and return.",
            show_default=False,
        ),
    ] = None,
    slurm: Annotated[
        list[str] | None,
        typer.Option(
            "--slurm", help="A Slurm setting, key=value, e.g. partition=gpu, gpus=1 (README).", show_default=False
        ),
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option(
            "--results",
            help="Results store (overrides the suite's `results:`; a folder when sharded).",
            show_default=False,
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", help="Checkpoints folder (overrides the suite's `output_dir:`).", show_default=False
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Report path; .md and .csv are written (overrides the suite's `report:`).",
            show_default=False,
        ),
    ] = None,
    device: DeviceOpt = Device.auto,
    data_dir: DataDirOpt = None,
) -> None:
    """Train the checkpoints a suite needs, run every attack not yet stored, and write/print the report.

    The whole suite is checked before any job runs. A rerun does only what is missing.
    """
    from cnnf_bench.cli.render import ProgressRenderer, print_wide, report_tables
    from cnnf_bench.cli.render_checks import verdict_text
    from cnnf_bench.executors.run import results_location, run_suite
    from cnnf_bench.executors.settings import parse_assignments, with_overrides
    from cnnf_bench.jobrun import Callbacks
    from cnnf_bench.outline import outline_path
    from cnnf_bench.runtime import resolve_device
    from cnnf_bench.suite import load_suite

    outline_cache = outline_path(suite)  # of the bytes before they are read (see save_outline)
    as_written = load_suite(suite)
    spec = replace(
        as_written,
        results=results or as_written.results,
        output_dir=output_dir or as_written.output_dir,
        report=report or as_written.report,
    )
    if checks and spec.checks is None:
        from cnnf_bench.checks.base import CheckSettings

        spec = replace(spec, checks=CheckSettings())
    settings = with_overrides(
        spec.executor,
        name=executor.value if executor is not None else None,
        workers=workers,
        threads=threads,
        shards=shards,
        wait=wait,
        slurm=parse_assignments(slurm or [], "--slurm"),
    )
    where = settings.name if settings.name != "pool" else f"pool of {settings.workers} workers"
    dev = f"{device.value} on the Slurm nodes" if settings.name == "slurm" else str(resolve_device(device.value))
    store = results_location(spec, settings)
    shard_jobs = results_location(spec, replace(settings, shards=True)) / "jobs"
    if not settings.sharded and shard_jobs.is_dir():
        console.print(
            f"[yellow]warning:[/] {shard_jobs.parent} holds per-job shards of an earlier run with shards; this run "
            f"writes {store} instead (pass the same --executor or --shards to continue those)",
            highlight=False,
        )
    start = time.perf_counter()
    console.print(
        f"suite [bold]{spec.name}[/]: {len(spec.models)} model(s) x {len(spec.seeds)} seed(s)"
        + (f" and {len(spec.external)} external model(s)" if spec.external else "")
        + ", "
        f"{len(spec.attacks)} attack(s), device {dev}, executor {where}; checkpoints in {spec.output_dir}, "
        f"results in {store}{'/' if settings.sharded else ''}"
    )
    with ProgressRenderer(console) as progress:

        def on_check(event: Any) -> None:
            if event.kind == "done":
                r = event.info["result"]
                progress.print(f"  {r.check} {r.name}: {verdict_text(r.verdict.value)} ({r.seconds:.1f} s)")

        calls = Callbacks(_renderer(progress), progress.train, progress.evaluate, on_check)
        outcome = run_suite(
            spec, settings, device.value, data_dir, calls, planned=_outline_keeper(outline_cache, spec, as_written)
        )
    if outcome.submitted_only:
        console.print(
            f"{len(outcome.graph.jobs)} job(s) in the suite; follow them with `cnnf-bench status {suite}`, "
            f"then `cnnf-bench report --results {store}` (or rerun `run` to wait and write the report)"
        )
        return
    for item in report_tables(outcome.tables):
        print_wide(console, item) if not isinstance(item, str) else console.print(item)
    minutes = (time.perf_counter() - start) / 60
    console.print(f"report: {spec.report.with_suffix('.md')}, .csv and .json (wall time {minutes:.1f} min)")
    if outcome.failed:
        first = outcome.failed[0]
        raise fail(
            f"{len(outcome.failed)} job(s) failed or did not run (first: {first.job.label}: {first.error}); "
            f"`cnnf-bench status {suite}` lists them; run again to retry only those"
        )
