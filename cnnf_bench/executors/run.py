"""``run SUITE``: validate the whole suite, hand its job graph to an executor, write the report.

Without shards (the ``local`` default) results go to the suite's one JSONL file as they always have;
with shards (``local --shards``, ``pool``, ``slurm``) each job writes its own file under the suite's
results folder and the report reads them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnf_bench.executors.settings import ExecutorSettings
from cnnf_bench.jobrun import Callbacks, JobContext, SuiteEvent, validate_graph
from cnnf_bench.jobs import JobGraph, plan
from cnnf_bench.ledger import JobStatus, Layout, shard_root
from cnnf_bench.suite import Suite


@dataclass
class SuiteOutcome:
    """What a run of a suite did."""

    graph: JobGraph
    tables: list[Any] = field(default_factory=list)
    failed: list[JobStatus] = field(default_factory=list)
    #: the jobs were submitted and not waited for (``slurm`` with ``wait: false``): no report yet
    submitted_only: bool = False
    store: Path | None = None


def results_location(suite: Suite, settings: ExecutorSettings) -> Path:
    """The suite's store: its JSONL file, or the folder of shards beside it."""
    return shard_root(suite.results) if settings.sharded else suite.results


def write_report(suite: Suite, store_path: Path, sharded: bool) -> tuple[list[Any], list[str]]:
    """Build the tables from the suite's store (file or shards) and write ``<report>.md``, ``.csv`` and ``.json``."""
    from cnnf_bench.checks.base import default_checks_store
    from cnnf_bench.fileio import atomic_write_bytes
    from cnnf_bench.report import build_tables, to_csv, to_json, to_markdown, usable_checks, usable_records
    from cnnf_bench.results import ResultsStore
    from cnnf_bench.shards import CHECKS, ShardedStore

    store = ShardedStore(store_path) if sharded else ResultsStore(store_path)
    checks = ShardedStore(store_path, CHECKS) if sharded else ResultsStore(default_checks_store(store_path))
    records, skipped = usable_records(store.latest())
    verdicts, skipped_checks = usable_checks(checks.latest())
    tables = build_tables(records, verdicts)
    suite.report.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {suite.name}\n\n{suite.description}\n\n" if suite.description else f"# {suite.name}\n\n"
    atomic_write_bytes(suite.report.with_suffix(".md"), (header + to_markdown(tables)).encode())
    atomic_write_bytes(suite.report.with_suffix(".csv"), to_csv(tables).encode())
    atomic_write_bytes(suite.report.with_suffix(".json"), to_json(tables).encode())
    return tables, [*store.warnings, *skipped, *checks.warnings, *skipped_checks]


def run_suite(
    suite: Suite,
    settings: ExecutorSettings,
    device: str = "auto",
    data_dir: Path | None = None,
    calls: Callbacks | None = None,
    planned: Callable[[JobGraph], None] | None = None,
) -> SuiteOutcome:
    """Validate every job, run the unfinished ones with the chosen executor, write the report.

    ``planned`` receives the validated job graph before any job runs (the CLI keeps the outline that
    ``status`` reads, so ``status`` during a long run needs no planning of its own).
    """
    calls = calls or Callbacks()
    graph = plan(suite)
    validate_graph(graph)
    if planned is not None:
        planned(graph)
    store = results_location(suite, settings)
    layout = Layout(store) if settings.sharded else None
    if data_dir is not None and settings.name != "local":
        data_dir = data_dir.resolve()  # workers and Slurm jobs may start elsewhere
    ctx = JobContext(
        device=device,
        data_dir=data_dir,
        results=None if settings.sharded else suite.results,
        layout=layout,
        threads=settings.threads,
    )
    outcome = SuiteOutcome(graph, store=store)
    if settings.name == "local":
        from cnnf_bench.executors.local import run_local

        outcome.failed = run_local(graph, ctx, calls)
    elif settings.name == "pool":
        from cnnf_bench.executors.pool import run_pool

        outcome.failed = run_pool(graph, ctx, settings, calls)
    else:
        from cnnf_bench.executors.slurm import run_slurm

        outcome.failed = run_slurm(graph, ctx, settings.slurm, calls, wait=settings.wait)
        outcome.submitted_only = not settings.wait
    if not outcome.submitted_only:
        outcome.tables, warnings = write_report(suite, store, settings.sharded)
        if calls.emit is not None:
            calls.emit(SuiteEvent("report", str(suite.report.with_suffix(".md")), {"warnings": warnings}))
    return outcome
