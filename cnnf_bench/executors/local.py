"""The ``local`` executor: every job in the calling process, in the graph's order (today's ``run``)."""

from __future__ import annotations

from cnnf_bench.errors import CnnfBenchError
from cnnf_bench.jobrun import Callbacks, JobContext, SuiteEvent, execute
from cnnf_bench.jobs import JobGraph
from cnnf_bench.ledger import FAILED, JobStatus, is_done, last_line


def run_local(graph: JobGraph, ctx: JobContext, calls: Callbacks) -> list[JobStatus]:
    """Run the jobs one after another; return the failed ones.

    Without shards this is exactly the old ``run``: every job runs (finished work is skipped by ``fit``
    and the evaluator themselves) and the first error stops the run. With shards a finished job is
    skipped as a whole, a failed job is recorded and the jobs that do not depend on it still run.
    """
    if ctx.layout is None:
        for job in graph.jobs:
            execute(job, ctx, calls)
        return []
    layout = ctx.layout
    failed: list[JobStatus] = []
    broken: set[str] = set()
    for job in graph.jobs:
        if is_done(layout, job):
            if calls.emit is not None:
                calls.emit(SuiteEvent("skip", job.label, {"job": job.id}))
            continue
        blocked = [d for d in job.deps if d in broken]
        if blocked:
            broken.add(job.id)
            failed.append(JobStatus(job, FAILED, None, None, "not run: a job it needs failed"))
            continue
        try:
            execute(job, ctx, calls)
        except CnnfBenchError as exc:
            broken.add(job.id)
            failed.append(JobStatus(job, FAILED, None, layout.log(job), str(exc) or last_line(layout.log(job))))
            if calls.emit is not None:
                calls.emit(SuiteEvent("failed", job.label, {"error": str(exc), "log": str(layout.log(job))}))
    return failed
