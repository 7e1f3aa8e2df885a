"""Per-job folders of a sharded suite: the result shard, the log and the job's state, and what ``status`` reads.

Layout under the suite's results folder (``results/quick.jsonl`` -> ``results/quick/``)::

    jobs/<kind>-<run>[-<attack>]-<id>/records.jsonl   the evaluation's result records (one shard per job)
                                     /checks.jsonl    the check job's verdicts
                                     /log.txt         what the job did, and the traceback if it failed
                                     /state.json      running / done / failed, written by the job itself
                                     /submitted.json  written by the executor when it hands the job out
    slurm/                                            submitit's batch files, pickles and Slurm logs

Every job writes only inside its own folder, so nothing is appended to a shared file from several
nodes (unsafe on NFS). State files are replaced atomically; a reader that finds one half-written (it
cannot, short of a crash of the file system) treats it as absent.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Job(Protocol):
    """What the ledger reads of a job: a planned :class:`cnnf_bench.jobs.Job` or ``status``'s
    :class:`cnnf_bench.outline.JobRef` (read from the cache without planning, hence without torch)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def checkpoint(self) -> Path: ...
    @property
    def sources(self) -> tuple[Path, ...]: ...


DONE, RUNNING, QUEUED, FAILED, MISSING = "done", "running", "queued", "failed", "missing"
STATES = (DONE, RUNNING, QUEUED, FAILED, MISSING)
RECORDS, CHECKS, LOG = "records.jsonl", "checks.jsonl", "log.txt"


def shard_root(results: Path) -> Path:
    """The folder of shards of a suite whose single results file would be ``results``."""
    results = Path(results)
    return results.with_suffix("") if results.suffix == ".jsonl" else results


@dataclass(frozen=True)
class Layout:
    """Where each job of a sharded suite keeps its files."""

    root: Path

    def job_dir(self, job: Job) -> Path:
        """The job's own folder."""
        return self.root / "jobs" / job.slug

    def records(self, job: Job) -> Path:
        """The job's result shard."""
        return self.job_dir(job) / RECORDS

    def checks(self, job: Job) -> Path:
        """The job's verdict shard."""
        return self.job_dir(job) / CHECKS

    def log(self, job: Job) -> Path:
        """The job's log."""
        return self.job_dir(job) / LOG

    @property
    def slurm_dir(self) -> Path:
        """submitit's folder (batch scripts, pickles, Slurm's stdout/stderr per job)."""
        return self.root / "slurm"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, sort_keys=True, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A state file, or None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def fingerprint(path: Path) -> str | None:
    """Size and modification time of a checkpoint: a retrained checkpoint makes its jobs' results stale."""
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def _inputs(job: Job) -> dict[str, str | None]:
    return {str(path): fingerprint(path) for path in (job.checkpoint, *job.sources)}


def _here() -> dict[str, Any]:
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
    if os.environ.get("SLURM_JOB_ID"):
        array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
        info["slurm_id"] = f"{array}_{task}" if array and task else os.environ["SLURM_JOB_ID"]
        info["restarts"] = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    return info


def clear_state(layout: Layout, job: Job) -> None:
    """Forget a previous attempt's state (before handing the job out again, so a fast start is not erased)."""
    (layout.job_dir(job) / "state.json").unlink(missing_ok=True)


def mark_submitted(layout: Layout, job: Job, executor: str, **info: Any) -> None:
    """The executor handed the job out: record how to find it (its Slurm id, the driver's pid)."""
    _write_json(
        layout.job_dir(job) / "submitted.json",
        {"executor": executor, "job": job.id, "label": job.label, **_here(), **info},
    )


def mark_running(layout: Layout, job: Job) -> None:
    """The job started (in this process)."""
    _write_json(layout.job_dir(job) / "state.json", {"state": RUNNING, "job": job.id, "label": job.label, **_here()})


def mark_done(layout: Layout, job: Job, summary: dict[str, Any]) -> None:
    """The job finished; its outputs are complete for the inputs it read (their fingerprints are kept)."""
    _write_json(
        layout.job_dir(job) / "state.json",
        {"state": DONE, "job": job.id, "label": job.label, "inputs": _inputs(job), **summary, **_here()},
    )


def mark_failed(layout: Layout, job: Job, error: str) -> None:
    """The job raised ``error`` (one line; the traceback is in its log)."""
    _write_json(
        layout.job_dir(job) / "state.json",
        {"state": FAILED, "job": job.id, "label": job.label, "error": error, **_here()},
    )


def is_done(layout: Layout, job: Job) -> bool:
    """Whether the job finished and the checkpoints it read or wrote are still the same files."""
    state = read_json(layout.job_dir(job) / "state.json")
    return state is not None and state.get("state") == DONE and state.get("inputs") == _inputs(job)


@dataclass(frozen=True)
class JobStatus:
    """What ``status`` says about one job."""

    job: Job
    state: str
    slurm_id: str | None = None
    log: Path | None = None
    error: str | None = None


def _alive(info: Mapping[str, Any], key: str) -> bool:
    """Whether the process recorded under ``key`` still runs (only decidable on the same host)."""
    pid = info.get(key)
    if not isinstance(pid, int) or info.get("host") != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def last_line(path: Path | None) -> str | None:
    """The last non-empty line of a log (the error of a failed job), or None."""
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None


def job_status(layout: Layout, job: Job, queue: Mapping[str, str] | None = None) -> JobStatus:
    """One job's state from its files and, for Slurm jobs, the queue (``{slurm id: squeue state}``)."""
    folder = layout.job_dir(job)
    state = read_json(folder / "state.json") or {}
    submitted = read_json(folder / "submitted.json") or {}
    log = layout.log(job) if layout.log(job).exists() else None
    slurm_id = state.get("slurm_id") or submitted.get("slurm_id")
    if state.get("state") == DONE:
        if is_done(layout, job):
            return JobStatus(job, DONE, slurm_id, log)
        return JobStatus(job, MISSING, slurm_id, log, "stale: a checkpoint it read changed since it ran")
    if submitted.get("executor") == "slurm" and slurm_id:
        queued = (queue or {}).get(str(slurm_id))
        if queued is not None:  # in the queue, also after a requeue (time-out, preemption, node failure)
            return JobStatus(job, RUNNING if queued in ("RUNNING", "COMPLETING") else QUEUED, slurm_id, log)
    if state.get("state") == FAILED:
        return JobStatus(job, FAILED, slurm_id, log, state.get("error") or last_line(log))
    if submitted.get("executor") == "slurm" and slurm_id:
        stderr = Path(submitted["stderr"]) if submitted.get("stderr") else None
        if state.get("state") == RUNNING:
            why = "stopped while running (cancelled, out of time or its node lost)"
        else:
            why = "left the queue without starting (cancelled, or a job it waits for failed)"
        return JobStatus(job, FAILED, slurm_id, log or stderr, f"{why}; {last_line(log or stderr) or 'no log'}")
    if state.get("state") == RUNNING:
        if _alive(state, "pid"):
            return JobStatus(job, RUNNING, None, log)
        return JobStatus(job, FAILED, None, log, f"interrupted; {last_line(log) or 'no log'}")
    if submitted and _alive(submitted, "pid"):
        return JobStatus(job, QUEUED, None, log)
    return JobStatus(job, MISSING, slurm_id, log)
