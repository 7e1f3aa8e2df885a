"""Run one job of a suite's graph in this process, and validate a whole graph before any job runs.

The same function runs a job for every executor: in the ``run`` process (local), in a pool worker or in
a Slurm job. It calls the library exactly as ``run`` always has (``fit`` with resume, the evaluator,
the checks), so an executor changes where a number is computed, never the number. With result shards,
the job also keeps its log and state in its own folder (:mod:`cnnf_bench.ledger`).
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cnnf_bench.errors import CnnfBenchError, ConfigError
from cnnf_bench.jobs import Job, JobGraph
from cnnf_bench.ledger import Layout, mark_done, mark_failed, mark_running


@dataclass
class SuiteEvent:
    """Progress of a suite's jobs (rendered by the CLI)."""

    kind: str  # "train", "trained", "evaluate", "evaluated", "check", "checked", "skip", "submitted", ...
    label: str = ""
    info: dict[str, Any] = field(default_factory=dict)


Emit = Callable[[SuiteEvent], None]


@dataclass(frozen=True)
class JobContext:
    """What every job of one run shares: the device, the data, where results go."""

    device: str = "auto"
    data_dir: Path | None = None
    #: one JSONL store for every job (the local executor without shards); None: per-job shards in ``layout``
    results: Path | None = None
    layout: Layout | None = None
    #: torch threads per job (None: leave torch's default)
    threads: int | None = None


@dataclass
class Callbacks:
    """Progress callbacks of the library calls (the CLI's progress bars); all optional."""

    emit: Emit | None = None
    train: Callable[[Any], None] | None = None
    evaluate: Callable[[Any], None] | None = None
    check: Callable[[Any], None] | None = None


def _check_request(job: Job) -> None:
    """Raise what the evaluator would raise for this request, without loading a model or data."""
    from cnnf_bench.attacks import ATTACKS
    from cnnf_bench.protocols import attack_settings
    from cnnf_bench.zoo import READOUTS

    r = job.request
    params, _ = attack_settings(r["protocol"], r["attack"], job.dataset, r["params"])
    ATTACKS.get(r["attack"]).from_params(params)
    # an external model's readouts are its own names, which only the model itself can check
    for readout in (r["readouts"] or ()) if job.external is None else ():
        if readout not in READOUTS:
            raise ConfigError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
    for name in ("n", "batch_size"):
        if r[name] is not None and r[name] < 1:
            raise ConfigError(f"{name} must be >= 1, got {r[name]}")
    if r["cycles"] is not None and r["cycles"] < 0:
        raise ConfigError(f"cycles must be >= 0, got {r['cycles']}")


def _check_external(job: Job) -> None:
    """An external model's module and factory can be imported (or the RobustBench extra is installed)."""
    from cnnf_bench.external import check_spec

    assert job.external is not None
    try:
        check_spec(job.external.spec)
    except CnnfBenchError as exc:
        raise type(exc)(f"{job.external.where}: {exc}") from None


def validate_graph(graph: JobGraph) -> None:
    """Check every job's settings before any job runs, so a bad attack line fails before hours of training.

    Attack parameters go through the attack's own validation (unknown names, types, eps in [0, 1]) with
    the protocol's defaults applied; a transfer needs its CNN baseline trained by the suite or on disk;
    an external model's factory must import.
    """
    seen: set[str] = set()
    for spec in {job.external.spec: job for job in graph.jobs if job.external is not None}.values():
        _check_external(spec)
    produced = {job.checkpoint for job in graph.jobs if job.kind == "train"}
    for job in graph.jobs:
        if job.kind == "train":
            continue
        for source in job.sources:
            if job.kind == "evaluate" and source not in produced and not source.exists():
                raise ConfigError(
                    f"{job.where}: transfer on {job.subject} needs the CNN baseline {source}; "
                    "add the baseline to the suite's models or train it into the same folder"
                )
        if job.kind != "evaluate":
            continue
        identity = json.dumps([job.dataset, job.external is None, job.request], sort_keys=True, default=str)
        if identity in seen:
            continue
        seen.add(identity)
        try:
            _check_request(job)
        except CnnfBenchError as exc:
            raise type(exc)(f"{job.where} ({job.subject}): {exc}") from None


class JobLog:
    """Timestamped lines appended to a job's log file (a no-op without one)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream

    def line(self, text: str) -> None:
        """Append one line and flush it (so a killed job's log ends where it stopped)."""
        if self._stream is not None:
            self._stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
            self._stream.flush()


def _epoch_line(event: Any) -> str | None:
    if event.kind in ("start", "resume"):
        return f"{event.kind} at epoch {event.epoch} of {event.epochs}"
    if event.kind != "epoch":
        return None
    m = event.metrics
    numbers = " ".join(f"{k} {m[k]:.4f}" for k in ("loss", "train_acc", "test_acc") if isinstance(m.get(k), float))
    return f"epoch {event.epoch}/{event.epochs}: {numbers}"


def _record_line(record: dict[str, Any]) -> str:
    return f"{record['attack']} {record['target']} {record['readout']}: {record['n_correct']}/{record['n']} correct"


def _run(job: Job, ctx: JobContext, calls: Callbacks, log: JobLog) -> dict[str, Any]:
    """The library call of one job; its progress goes to ``calls`` and ``log``."""
    from cnnf_bench.runtime import resolve_device

    device = resolve_device(ctx.device)

    def emit(kind: str, label: str = "", **info: Any) -> None:
        if calls.emit is not None:
            calls.emit(SuiteEvent(kind, label, info))

    def tee(callback: Callable[[Any], None] | None, text: Callable[[Any], str | None]) -> Callable[[Any], None]:
        def call(event: Any) -> None:
            line = text(event)
            if line:
                log.line(line)
            if callback is not None:
                callback(event)

        return call

    if job.kind == "train":
        from cnnf_bench.train import fit

        assert job.config is not None
        emit("train", job.label, path=str(job.checkpoint))
        on_epoch = tee(calls.train, _epoch_line)
        result = fit(job.config, job.checkpoint.parent, device, data_dir=ctx.data_dir, resume=True, callback=on_epoch)
        log.line(
            "checkpoint complete, not retrained" if result.already_complete else f"trained {result.epochs_run} epoch(s)"
        )
        emit("trained", job.label, already=result.already_complete, metrics=result.metrics[-1:])
        return {"epochs_run": result.epochs_run}

    from cnnf_bench.results import ResultsStore

    subject = job.checkpoint if job.external is None else _external_model(job)
    if job.kind == "evaluate":
        from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint

        store = ResultsStore(ctx.results if ctx.results is not None else _layout(ctx).records(job))
        emit("evaluate", job.label)
        on_eval = tee(calls.evaluate, lambda e: f"{e.label}: {e.info['seconds']:.1f} s" if e.kind == "done" else None)
        records = evaluate_checkpoint(
            subject, EvalRequest(**job.request), store, device, ctx.data_dir, callback=on_eval
        )
        for record in records:
            log.line(_record_line(record))
        emit("evaluated", job.label, records=records)
        return {"records": len(records)}

    from cnnf_bench.checks.base import default_checks_store
    from cnnf_bench.checks.runner import check_checkpoint

    assert ctx.results is not None or ctx.layout is not None
    where = default_checks_store(ctx.results) if ctx.results is not None else _layout(ctx).checks(job)
    emit("check", job.label)
    on_check = tee(
        calls.check,
        lambda e: f"{e.info['result'].check}: {e.info['result'].verdict.value}" if e.kind == "done" else None,
    )
    results, computed = check_checkpoint(
        subject, job.check, job.readout, ResultsStore(where), device, ctx.data_dir, callback=on_check
    )
    emit("checked", job.label, results=results, computed=computed)
    return {"verdicts": len(computed)}


def _external_model(job: Job) -> Any:
    """The external model of a job, built as ``--model-spec`` builds it, under the suite's given name."""
    from cnnf_bench.external import from_entry

    assert job.external is not None
    return from_entry(job.external)


def _layout(ctx: JobContext) -> Layout:
    if ctx.layout is None:
        raise ValueError("a sharded job needs a layout")
    return ctx.layout


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads, then restore the previous count (None: leave as is)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def execute(job: Job, ctx: JobContext, calls: Callbacks | None = None) -> dict[str, Any]:
    """Run ``job`` here. Without shards, exactly the library call (errors propagate as they always have);
    with shards, also its state (running, done, failed) and log in its folder, errors re-raised."""
    calls = calls or Callbacks()
    if ctx.layout is None:
        with torch_threads(ctx.threads):
            return _run(job, ctx, calls, JobLog(None))
    layout = ctx.layout
    layout.job_dir(job).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(layout.log(job), "a", encoding="utf-8") as stream, torch_threads(ctx.threads):
        log = JobLog(stream)
        log.line(f"start {job.kind} job {job.id}: {job.label}")
        mark_running(layout, job)
        try:
            summary = _run(job, ctx, calls, log)
        except Exception as exc:
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            stream.write(traceback.format_exc())
            log.line(f"failed: {error}")
            mark_failed(layout, job, error)
            raise
        except BaseException as exc:
            # stopped from outside: Ctrl-C, or submitit's exit after requeueing a job on time-out or
            # preemption; the state stays "running" and the queue (or the dead pid) says what became of it
            log.line(f"stopped ({type(exc).__name__}); a requeued job resumes from its last checkpoint")
            raise
        seconds = time.perf_counter() - start
        log.line(f"done in {seconds:.1f} s")
        mark_done(layout, job, {"seconds": seconds, **summary})
    return summary
