"""``cnnf-bench status SUITE.yaml``: every job of a suite with its state, Slurm id, log and last error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from cnnf_bench.cli.app import app, console, handle_errors

STYLE = {"done": "green", "running": "cyan", "queued": "blue", "failed": "red", "missing": "yellow"}


@app.command()
@handle_errors
def status(
    suite: Annotated[Path, typer.Argument(help="Suite YAML, e.g. benchmarks/quick.yaml.")],
    executor: Annotated[
        str | None,
        typer.Option(help="As given to `run` (only whether results are sharded matters here).", show_default=False),
    ] = None,
    shards: Annotated[
        bool | None, typer.Option("--shards/--no-shards", help="As given to `run`.", show_default=False)
    ] = None,
    all_jobs: Annotated[bool, typer.Option("--all", help="List done jobs too (default: only the others).")] = False,
) -> None:
    """Each job's state: done, running, queued (Slurm or pool), failed (with its log and last error line)
    or missing. `run` again submits only the failed and missing ones."""
    from dataclasses import replace

    from rich.markup import escape
    from rich.table import Table

    from cnnf_bench.cli.render import print_wide
    from cnnf_bench.executors.run import results_location
    from cnnf_bench.executors.settings import with_overrides
    from cnnf_bench.jobs import plan
    from cnnf_bench.ledger import Layout, job_status
    from cnnf_bench.suite import load_suite

    spec = load_suite(suite)
    settings = with_overrides(spec.executor, name=executor, shards=shards)
    graph = plan(spec)
    # a suite run with shards from the command line is recognised by its folder of job folders
    layout = Layout(results_location(spec, replace(settings, shards=True)))
    if not settings.sharded and shards is None and not (layout.root / "jobs").is_dir():
        _unsharded(spec, graph)
        return
    queue = None
    if (layout.root / "slurm").is_dir():
        from cnnf_bench.executors.slurm import queue_states

        queue = queue_states()
    statuses = [job_status(layout, job, queue) for job in graph.jobs]
    counts = Counter(st.state for st in statuses)
    table = Table(title=f"{spec.name}: {len(statuses)} jobs in {layout.root}/jobs", title_justify="left")
    for column in ("job", "kind", "state", "slurm id", "log / last error"):
        table.add_column(column)
    for st in statuses:
        if st.state == "done" and not all_jobs:
            continue
        detail = escape(str(st.log)) if st.log else ""
        if st.error:
            detail += ("\n" if detail else "") + f"[red]{escape(st.error)}[/]"
        color = STYLE[st.state]
        table.add_row(escape(st.job.label), st.job.kind, f"[{color}]{st.state}[/]", st.slurm_id or "", detail)
    if table.row_count:
        print_wide(console, table)
    summary = ", ".join(f"{counts[s]} {s}" for s in STYLE if counts[s])
    console.print(f"{spec.name}: {summary}", highlight=False)
    if counts["failed"] or counts["missing"]:
        console.print(
            f"`cnnf-bench run {suite}` (same executor) runs the failed and missing jobs again.", highlight=False
        )


def _unsharded(spec: object, graph: object) -> None:
    """One results file: training jobs from their checkpoints; evaluations are not tracked per job."""
    from cnnf_bench.jobs import JobGraph
    from cnnf_bench.results import ResultsStore
    from cnnf_bench.suite import Suite

    assert isinstance(spec, Suite) and isinstance(graph, JobGraph)
    trained = 0
    for job in graph.jobs:
        if job.kind != "train":
            continue
        state = _checkpoint_state(job.checkpoint)
        trained += state == "done"
        console.print(f"{job.label}: {state}", highlight=False)
    n_eval = sum(1 for job in graph.jobs if job.kind != "train")
    records = len(ResultsStore(spec.results).latest())
    console.print(
        f"{spec.name}: {trained}/{graph.count('train')} checkpoints complete; {n_eval} evaluation/check jobs write "
        f"into one file ({spec.results}, {records} records), so they are not tracked one by one: "
        "run with --shards (or a pool or slurm executor) for per-job states",
        highlight=False,
    )


def _checkpoint_state(path: Path) -> str:
    from cnnf_bench.checkpoint import load_checkpoint
    from cnnf_bench.errors import CheckpointError

    if not path.exists():
        return "missing"
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        return f"unreadable ({exc})"
    return "done" if ckpt.complete else f"partial (epoch {ckpt.epoch})"
