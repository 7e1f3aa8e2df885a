"""The ``pool`` executor: N worker processes on this machine, each with its share of the CPU or one GPU.

Workers are spawned (not forked: torch's thread pools and CUDA do not survive a fork) and set their
thread count (and ``CUDA_VISIBLE_DEVICES``) before torch is imported. The driver hands a job to the
pool once every job it depends on is done, in the graph's order, so trainings start first. Results go
to per-job shards, so workers never write to the same file.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any

from cnnf_bench.executors.settings import ExecutorSettings
from cnnf_bench.jobrun import Callbacks, JobContext, SuiteEvent, execute
from cnnf_bench.jobs import Job, JobGraph
from cnnf_bench.ledger import FAILED, JobStatus, clear_state, is_done, mark_submitted

_WORKER: dict[str, Any] = {}


def _init_worker(slots: Any, threads: int, gpus: tuple[int, ...]) -> None:
    """Runs first in each worker: claim a slot, pin its GPU and threads before torch is imported."""
    slot = slots.get()
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus[slot % len(gpus)])
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    _WORKER["slot"] = slot


def _work(job: Job, ctx: JobContext) -> dict[str, Any]:
    """One job in a worker; failures come back as a value (their traceback is in the job's log)."""
    try:
        summary = execute(job, ctx)
    except Exception as exc:
        return {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    return {**summary, "slot": _WORKER.get("slot")}


def pool_threads(settings: ExecutorSettings) -> int:
    """Torch threads per worker: as set, else the machine's cores divided among the workers (at least 1)."""
    return settings.threads or max(1, (os.cpu_count() or 1) // settings.workers)


def pool_gpus(settings: ExecutorSettings, device: str) -> tuple[int, ...]:
    """CUDA devices handed out one per worker: as set, else every visible one when running on CUDA."""
    if settings.gpus is not None:
        return settings.gpus
    if device == "cpu":
        return ()
    import torch

    return tuple(range(torch.cuda.device_count())) if torch.cuda.is_available() else ()


def run_pool(graph: JobGraph, ctx: JobContext, settings: ExecutorSettings, calls: Callbacks) -> list[JobStatus]:
    """Run every unfinished job on ``settings.workers`` processes; return the failed ones."""
    assert ctx.layout is not None, "the pool writes per-job shards"
    layout = ctx.layout

    def emit(kind: str, label: str, **info: Any) -> None:
        if calls.emit is not None:
            calls.emit(SuiteEvent(kind, label, info))

    todo: list[Job] = []
    done: set[str] = set()
    for job in graph.jobs:
        if is_done(layout, job):
            done.add(job.id)
            emit("skip", job.label, job=job.id)
        else:
            todo.append(job)
    if not todo:
        return []
    threads = pool_threads(settings)
    gpus = pool_gpus(settings, ctx.device)
    context = get_context("spawn")
    slots = context.Queue()
    for slot in range(settings.workers):
        slots.put(slot)
    worker_ctx = JobContext(ctx.device, ctx.data_dir, None, layout, threads=None)  # threads set per worker
    failed: dict[str, JobStatus] = {}
    running: dict[Future[dict[str, Any]], Job] = {}
    with ProcessPoolExecutor(
        settings.workers, mp_context=context, initializer=_init_worker, initargs=(slots, threads, gpus)
    ) as pool:
        while todo or running:
            for job in list(todo):
                if any(d in failed for d in job.deps):
                    todo.remove(job)
                    failed[job.id] = JobStatus(job, FAILED, None, None, "not run: a job it needs failed")
                elif all(d in done for d in job.deps) and len(running) < settings.workers:
                    todo.remove(job)
                    clear_state(layout, job)
                    running[pool.submit(_work, job, worker_ctx)] = job
                    mark_submitted(layout, job, "pool")
                    emit("started", job.label, job=job.id)
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                try:
                    result = future.result()
                except Exception as exc:
                    result = {"error": f"its worker process died ({type(exc).__name__}: {exc})"}
                if "error" in result:
                    failed[job.id] = JobStatus(job, FAILED, None, layout.log(job), result["error"])
                    emit("failed", job.label, error=result["error"], log=str(layout.log(job)))
                else:
                    done.add(job.id)
                    emit("finished", job.label, job=job.id, records=_records(layout.records(job)), summary=result)
    return list(failed.values())


def _records(path: Any) -> list[dict[str, Any]]:
    from cnnf_bench.results import ResultsStore

    return ResultsStore(path).records() if path.exists() else []
