"""``cnnf-bench status SUITE.yaml``: every job of a suite with its state, Slurm id, log and last error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cnnf_bench.cli.app import app, console, handle_errors

if TYPE_CHECKING:
    from cnnf_bench.outline import Outline

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
    from rich.markup import escape
    from rich.table import Table

    from cnnf_bench.cli.render import print_wide
    from cnnf_bench.executors.settings import executor_from_mapping, with_overrides
    from cnnf_bench.ledger import Layout, job_status, shard_root
    from cnnf_bench.outline import suite_outline
    from cnnf_bench.suite import read_suite

    spec = suite_outline(suite)  # validated and planned once, then read from the cache (no torch)
    declared = executor_from_mapping(read_suite(suite).get("executor"), f"{suite}.executor")
    settings = with_overrides(declared, name=executor, shards=shards)
    # a suite run with shards from the command line is recognised by its folder of job folders
    layout = Layout(shard_root(spec.results))
    if not settings.sharded and shards is None and not (layout.root / "jobs").is_dir():
        _unsharded(spec)
        return
    queue = None
    if (layout.root / "slurm").is_dir():
        from cnnf_bench.executors.slurm import queue_states

        queue = queue_states()
    statuses = [job_status(layout, job, queue) for job in spec.jobs]
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


def _unsharded(spec: Outline) -> None:
    """One results file: training jobs from their checkpoints; evaluations are not tracked per job."""
    from cnnf_bench.results import ResultsStore

    trained = 0
    for job in spec.jobs:
        if job.kind != "train":
            continue
        state = _checkpoint_state(job.checkpoint)
        trained += state == "done"
        console.print(f"{job.label}: {state}", highlight=False)
    n_eval = sum(1 for job in spec.jobs if job.kind != "train")
    records = len(ResultsStore(spec.results).latest())
    console.print(
        f"{spec.name}: {trained}/{spec.count('train')} checkpoints complete; {n_eval} evaluation/check jobs write "
        f"into one file ({spec.results}, {records} records), so they are not tracked one by one: "
        "run with --shards (or a pool or slurm executor) for per-job states",
        highlight=False,
    )


def _checkpoint_state(path: Path) -> str:
    """done, partial or unreadable, from the checkpoint's pickled payload (torch only for a non-zip file)."""
    from cnnf_bench.checkpoint_info import NotAnArchive, training_progress
    from cnnf_bench.errors import CheckpointError

    if not path.exists():
        return "missing"
    try:
        try:
            epoch, complete = training_progress(path)
        except NotAnArchive:  # not torch's zip format: only torch can say what it is
            from cnnf_bench.checkpoint import load_checkpoint

            ckpt = load_checkpoint(path)
            epoch, complete = ckpt.epoch, ckpt.complete
    except CheckpointError as exc:
        return f"unreadable ({exc})"
    return "done" if complete else f"partial (epoch {epoch})"
