"""What a Slurm job runs: one suite job, requeued on time-out or preemption and resumed where it stopped.

submitit pickles a :class:`SlurmTask` with its job, runs it on the node, and on Slurm's warning signal
(time limit or preemption) calls :meth:`checkpoint` and requeues the same call. Nothing else needs to be
saved: a training job checkpoints every epoch and ``fit`` resumes from the last complete one, and an
evaluation job's shard keeps every record it finished, which the evaluator then skips.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import submitit

from cnnf_bench.jobrun import JobContext, execute
from cnnf_bench.jobs import Job


class SlurmTask(submitit.helpers.Checkpointable):
    """Run one suite job in the submission's working folder with ``threads`` torch threads."""

    def __init__(self, cwd: str, threads: int) -> None:
        self.cwd = cwd
        self.threads = threads

    def __call__(self, job: Job, ctx: JobContext) -> dict[str, Any]:
        """The job's summary; an error is raised, so Slurm and submitit see the job fail."""
        os.chdir(self.cwd)
        return execute(job, replace(ctx, threads=self.threads))
