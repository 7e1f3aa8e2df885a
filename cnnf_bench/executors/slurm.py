"""The ``slurm`` executor: every unfinished job of a suite as a Slurm job, submitted through submitit.

Dependencies are the scheduler's: a job waits (``--dependency=afterok:...``) for the Slurm jobs of the
jobs it needs that are still queued or running, and is cancelled by Slurm if one of them fails
(``--kill-on-invalid-dep=yes``). Jobs with the same dependencies go out as one job array, at most
``array_parallelism`` of its tasks running at once. A rerun submits only failed and missing jobs and
makes the new ones wait for those still in the queue. Training jobs are requeued on time-out or
preemption and resume from their last epoch (:mod:`cnnf_bench.executors.slurm_task`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnf_bench.errors import CnnfBenchError
from cnnf_bench.executors.settings import SlurmSettings
from cnnf_bench.jobrun import Callbacks, JobContext, SuiteEvent
from cnnf_bench.jobs import Job, JobGraph
from cnnf_bench.ledger import DONE, FAILED, MISSING, QUEUED, RUNNING, JobStatus, Layout, clear_state, job_status
from cnnf_bench.ledger import mark_submitted as _mark_submitted


class SlurmError(CnnfBenchError):
    """Slurm cannot be reached or refused a submission."""


def queue_states() -> dict[str, str]:
    """``{slurm job id: state}`` of this user's jobs in the queue (array tasks one by one, e.g. ``12_3``)."""
    if shutil.which("squeue") is None:
        raise SlurmError("squeue is not on the PATH: is this a Slurm cluster (a login node)?")
    try:
        out = subprocess.run(
            ["squeue", "--noheader", "--array", "--me", "--format=%i|%T"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmError(f"squeue failed: {exc}") from None
    if out.returncode != 0:
        raise SlurmError(f"squeue failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}")
    states = {}
    for line in out.stdout.splitlines():
        slurm_id, _, state = line.strip().partition("|")
        if slurm_id:
            states[slurm_id] = state
    return states


def _memory(gb: float) -> str:
    return f"{int(gb)}GB" if float(gb).is_integer() else f"{int(gb * 1024)}MB"


def sbatch_parameters(name: str, settings: SlurmSettings, dependencies: list[str]) -> dict[str, Any]:
    """submitit's SlurmExecutor parameters for one submission (one job or one array)."""
    extra = dict(settings.sbatch)
    params: dict[str, Any] = {
        "job_name": name,
        "time": settings.time_min,
        "cpus_per_task": settings.cpus,
        "array_parallelism": settings.array_parallelism,
        "signal_delay_s": settings.signal_delay_s,
        # one CPU thread per allotted core, whatever the node has (a 2-core CI machine or a 128-core node)
        "setup": [
            f"export OMP_NUM_THREADS={settings.cpus}",
            f"export MKL_NUM_THREADS={settings.cpus}",
            *settings.setup,
        ],
    }
    if settings.partition:
        params["partition"] = settings.partition
    if settings.gpus:
        params["gpus_per_node"] = settings.gpus
    if settings.mem_gb is not None:
        params["mem"] = _memory(settings.mem_gb)
    if dependencies:
        params["dependency"] = "afterok:" + ":".join(dependencies)
        extra.setdefault("kill-on-invalid-dep", "yes")
    params["additional_parameters"] = extra
    return params


@dataclass
class _Submitter:
    graph: JobGraph
    ctx: JobContext
    settings: SlurmSettings
    layout: Layout

    def submit(self, jobs: list[Job], dependencies: list[str]) -> list[str]:
        """Submit ``jobs`` as one array (one job if alone) waiting for ``dependencies``; their Slurm ids."""
        import submitit

        from cnnf_bench.executors.slurm_task import SlurmTask

        try:
            executor = submitit.SlurmExecutor(folder=self.layout.slurm_dir, max_num_timeout=self.settings.max_requeues)
        except RuntimeError as exc:  # no srun on the PATH
            raise SlurmError(f"cannot submit to Slurm here: {exc}") from None
        executor.update_parameters(**sbatch_parameters(f"cnnf-{self.graph.suite.name}", self.settings, dependencies))
        for job in jobs:
            clear_state(self.layout, job)
        task = SlurmTask(os.getcwd(), self.settings.cpus)
        try:
            with executor.batch():
                handles = [executor.submit(task, job, self.ctx) for job in jobs]
        except (OSError, subprocess.CalledProcessError, submitit.core.utils.FailedSubmissionError) as exc:
            raise SlurmError(f"sbatch refused the jobs: {str(exc).strip().splitlines()[-1:]}") from None
        for job, handle in zip(jobs, handles, strict=True):
            _mark_submitted(
                self.layout,
                job,
                "slurm",
                slurm_id=str(handle.job_id),
                stdout=str(handle.paths.stdout),
                stderr=str(handle.paths.stderr),
            )
        return [str(handle.job_id) for handle in handles]


def run_slurm(
    graph: JobGraph,
    ctx: JobContext,
    settings: SlurmSettings,
    calls: Callbacks,
    wait: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> list[JobStatus]:
    """Submit every failed or missing job; with ``wait``, follow them to the end. Return the failed jobs
    (without ``wait``: none; ``status`` follows them)."""
    assert ctx.layout is not None, "Slurm jobs write per-job shards"
    layout = ctx.layout

    def emit(kind: str, label: str, **info: Any) -> None:
        if calls.emit is not None:
            calls.emit(SuiteEvent(kind, label, info))

    queue = queue_states()
    status = {job.id: job_status(layout, job, queue) for job in graph.jobs}
    slurm_ids: dict[str, str] = {}
    for job in graph.jobs:
        st = status[job.id]
        if st.state == DONE:
            emit("skip", job.label, job=job.id)
        elif st.state in (QUEUED, RUNNING) and st.slurm_id:
            slurm_ids[job.id] = st.slurm_id
            emit("waiting", job.label, slurm_id=st.slurm_id, state=st.state)
    submitter = _Submitter(graph, ctx, settings, layout)
    remaining = [job for job in graph.jobs if status[job.id].state in (FAILED, MISSING)]
    while remaining:
        pending = {job.id for job in remaining}
        wave = [job for job in remaining if not pending.intersection(job.deps)]
        groups: dict[tuple[str, ...], list[Job]] = {}
        for job in wave:
            deps = tuple(sorted(slurm_ids[d] for d in job.deps if d in slurm_ids and status[d].state != DONE))
            groups.setdefault(deps, []).append(job)
        for deps, jobs in groups.items():
            for job, slurm_id in zip(jobs, submitter.submit(jobs, list(deps)), strict=True):
                slurm_ids[job.id] = slurm_id
                status[job.id] = JobStatus(job, QUEUED, slurm_id)
                emit("submitted", job.label, slurm_id=slurm_id, after=list(deps))
        remaining = [job for job in remaining if job not in wave]
    if not wait:
        return []
    return follow(graph, layout, set(slurm_ids), settings.poll_s, calls, sleep)


def follow(
    graph: JobGraph,
    layout: Layout,
    tracked: set[str],
    poll_s: float,
    calls: Callbacks,
    sleep: Callable[[float], None] = time.sleep,
) -> list[JobStatus]:
    """Poll the queue and the jobs' states until none of ``tracked`` is queued or running; the failed ones."""
    jobs = [job for job in graph.jobs if job.id in tracked]
    last: dict[str, str] = {}
    while True:
        queue = queue_states()
        current = {job.id: job_status(layout, job, queue) for job in jobs}
        for job in jobs:
            st = current[job.id]
            if last.get(job.id) != st.state and calls.emit is not None:
                info: dict[str, Any] = {"slurm_id": st.slurm_id, "state": st.state}
                if st.state == DONE:
                    info["records"] = _records(layout, job)
                elif st.state == FAILED:
                    info.update(error=st.error, log=str(st.log) if st.log else None)
                kind = {DONE: "finished", FAILED: "failed", RUNNING: "started"}.get(st.state, "state")
                calls.emit(SuiteEvent(kind, job.label, info))
            last[job.id] = st.state
        if not any(st.state in (QUEUED, RUNNING) for st in current.values()):
            return [st for st in current.values() if st.state != DONE]
        sleep(poll_s)


def _records(layout: Layout, job: Job) -> list[dict[str, Any]]:
    from cnnf_bench.results import ResultsStore

    path = layout.records(job)
    return ResultsStore(path).records() if path.exists() else []
