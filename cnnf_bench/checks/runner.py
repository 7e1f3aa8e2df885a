"""Run the registered checks on a model object, or on a checkpoint with stored verdicts.

:func:`run_checks` takes any FeedbackNet-like model plus images, so planted-failure models can be
tested; :func:`check_checkpoint` loads a checkpoint, its fixed evaluation subset and (for C11) its CNN
baseline, runs the checks whose verdicts are not stored yet, and appends one record per verdict to a
JSONL store (by default ``checks.jsonl`` beside the results store). Record format:
``docs/checks.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

# importing the check modules registers the checks
from cnnf_bench.checks import attack_checks, comparison_checks, model_checks  # noqa: F401
from cnnf_bench.checks.base import CHECKS, CheckResult, CheckSettings, Outcome, Verdict, check_number
from cnnf_bench.checks.context import CheckContext, CheckEvent
from cnnf_bench.errors import CheckpointError, CnnfBenchError, ConfigError, UsageError
from cnnf_bench.results import ResultsStore, record_key

SCHEMA = 1

Callback = Callable[[CheckEvent], None]

#: the order checks run in: model-only checks first, then the runs later checks reuse, black-box last
RUN_ORDER = ("C1", "C3", "C13", "C4", "C5", "C6", "C10", "C14", "C7", "C9", "C16", "C12", "C11", "C17", "C18")


def select_checks(only: Sequence[str] | None) -> list[str]:
    """Registered check ids to run, in run order (``only``: ids such as ``C6``, case-insensitive)."""
    names = sorted(CHECKS.names(), key=lambda c: (RUN_ORDER.index(c) if c in RUN_ORDER else len(RUN_ORDER), c))
    if not only:
        return names
    wanted = [c.strip().upper() for item in only for c in item.split(",") if c.strip()]
    for check_id in wanted:
        CHECKS.get(check_id)
    return [c for c in names if c in wanted]


def run_checks(
    model: Any,
    x: Tensor,
    y: Tensor,
    eps: float,
    settings: CheckSettings | None = None,
    readout: str | None = None,
    source: Any | None = None,
    only: Sequence[str] | None = None,
    callback: Callback | None = None,
) -> list[CheckResult]:
    """Run the checks on a FeedbackNet-like ``model`` and labelled images; results sorted by check id.

    Args:
        model: a :class:`cnnf_bench.zoo.classifier.Classifier` (deployed ``logits``, named ``view``s).
        x: images in [0, 1] on the model's device (the first ``settings.n`` are used).
        y: labels.
        eps: L-inf budget in [0, 1] units.
        settings: budgets (default :class:`CheckSettings`).
        readout: deployed readout used for scoring (default: the model's ``readout`` attribute, else last).
        source: optional transfer source model for C11 (e.g. the CNN baseline).
        only: check ids to run (default: all registered).
        callback: receives progress events.
    """
    settings = settings or CheckSettings()
    readout = readout or str(getattr(model, "readout", "last"))
    if not 0.0 < eps <= 1.0:
        raise ConfigError(f"checks need eps in (0, 1], got {eps}")
    n = min(settings.n, int(x.shape[0]))
    if n < 1:
        raise UsageError("the checks need at least one image")
    ctx = CheckContext(model, x[:n], y[:n], readout, settings, eps, source, callback)
    results = []
    for check_id in select_checks(only):
        spec = CHECKS.get(check_id)
        if callback is not None:
            callback(CheckEvent("check", check_id, {"name": spec.name}))
        start = time.perf_counter()
        try:
            outcome = spec.func(ctx)
        except (CnnfBenchError, RuntimeError, ValueError) as exc:  # a crashing check is itself a finding
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            outcome = Outcome(Verdict.FAIL, None, f"check crashed: {message}", "runs without error")
        result = CheckResult(
            check=check_id,
            name=spec.name,
            verdict=outcome.verdict,
            value=outcome.value,
            value_text=outcome.value_text,
            threshold=outcome.threshold,
            advice=spec.advice,
            details=outcome.details,
            seconds=time.perf_counter() - start,
        )
        results.append(result)
        if callback is not None:
            callback(CheckEvent("done", check_id, {"result": result}))
    return sorted(results, key=lambda r: check_number(r.check))


def _identity(sha256: str, check_id: str, readout: str, cycles: int, settings: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "check", "checkpoint": sha256, "check": check_id, "readout": readout, "cycles": cycles,
            "settings": settings}  # fmt: skip


def result_from_record(record: dict[str, Any]) -> CheckResult:
    """A stored verdict back as a :class:`CheckResult`."""
    return CheckResult(
        check=str(record["check"]),
        name=str(record.get("name", "")),
        verdict=Verdict(record["verdict"]),
        value=record.get("value"),
        value_text=str(record.get("value_text", "")),
        threshold=str(record.get("threshold", "")),
        advice=str(record.get("advice", "")),
        details=dict(record.get("details") or {}),
        seconds=float(record.get("seconds", 0.0)),
    )


def verdict_record(
    ckpt: Any,
    cycles: int,
    readout: str,
    settings: dict[str, Any],
    result: CheckResult,
    source: Any | None,
    device: torch.device,
) -> dict[str, Any]:
    """The stored form of one verdict (fields in docs/checks.md), keyed by checkpoint, check, readout,
    test-time cycles and settings."""
    from cnnf_bench.evaluate import _versions

    return {
        "schema": SCHEMA,
        "kind": "check",
        "key": record_key(_identity(ckpt.sha256, result.check, readout, cycles, settings)),
        "checkpoint": {"path": str(ckpt.path), "sha256": ckpt.sha256, "run": ckpt.path.parent.name},
        "dataset": str(ckpt.config["data"]["dataset"]),
        "model": ckpt.model_name,
        "model_kwargs": ckpt.model_kwargs,
        "cycles": cycles,
        "train_seed": ckpt.config["seed"],
        "train_mode": ckpt.config["train"]["mode"],
        "readout": readout,
        "check": result.check,
        "name": result.name,
        "verdict": result.verdict.value,
        "value": result.value,
        "value_text": result.value_text,
        "threshold": result.threshold,
        "advice": result.advice,
        "details": result.details,
        "settings": settings,
        "transfer_source": source is not None,
        "seconds": result.seconds,
        "versions": _versions(),
        "device": str(device),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def check_checkpoint(
    checkpoint: Any,
    settings: CheckSettings | None = None,
    readout: str | None = None,
    store: ResultsStore | None = None,
    device: torch.device | str = "cpu",
    data_dir: Path | None = None,
    only: Sequence[str] | None = None,
    force: bool = False,
    callback: Callback | None = None,
    data: Any | None = None,
    verdicts: list[dict[str, Any]] | None = None,
) -> tuple[list[CheckResult], list[str]]:
    """Check a checkpoint on its fixed evaluation subset; store new verdicts; return all and the computed ids.

    ``checkpoint`` is a file or a loaded (or external) checkpoint; ``data`` (an ``ImageSet``), when given,
    replaces the test split and its first ``settings.n`` images are checked in their order; ``verdicts``,
    when given, receives the verdict record of every freshly computed check (stored or not). Verdicts
    already in ``store`` for the same checkpoint, readout, test-time cycles and settings are reused
    unless ``force``.
    """
    from cnnf_bench.checkpoint import load_checkpoint
    from cnnf_bench.config import RECIPES
    from cnnf_bench.data import eval_indices, load_split
    from cnnf_bench.evaluate import as_checkpoint, baseline_source, given_subset
    from cnnf_bench.runtime import configure_torch
    from cnnf_bench.zoo import MODELS

    configure_torch()
    settings = settings or CheckSettings()
    device = torch.device(device)
    ckpt = as_checkpoint(checkpoint)
    model = ckpt.build_model(device)
    readout = model.check_readout(readout)
    cycles = getattr(model, "cycles", 0)
    dataset = str(ckpt.config["data"]["dataset"])
    eps = settings.eps if settings.eps is not None else RECIPES[dataset].eps
    settings = replace(settings, eps=eps)
    identity = settings.identity()
    if data is not None:
        identity["images"] = given_subset(data, settings.n)[1]["sha256"]
    wanted = select_checks(only)
    stored: dict[str, dict[str, Any]] = {}
    if store is not None and not force:
        keys = {record_key(_identity(ckpt.sha256, c, readout, cycles, identity)): c for c in wanted}
        for record in store.latest():
            if record["key"] in keys:
                stored[keys[record["key"]]] = record
    todo = [c for c in wanted if c not in stored]
    results = [result_from_record(stored[c]) for c in wanted if c in stored]
    if todo:
        source = None
        if ckpt.model_name in MODELS and MODELS.get(ckpt.model_name).baseline is not None:
            try:
                source = load_checkpoint(baseline_source(ckpt)).build_model(device)
            except CheckpointError:
                source = None  # C11 then runs without its transfer baseline and says so
        test = data if data is not None else load_split(dataset, False, data_dir)
        index = (
            eval_indices(len(test), settings.n, settings.subset_seed)
            if data is None
            else given_subset(data, settings.n)[0]
        )
        x, y = test.subset(index).batch(torch.arange(index.shape[0]), device)
        fresh = run_checks(model, x, y, eps, settings, readout, source, todo, callback)
        for result in fresh:
            record = verdict_record(ckpt, cycles, readout, identity, result, source, device)
            if verdicts is not None:
                verdicts.append(record)
            if store is not None:
                store.append(record, force=force)
        results.extend(fresh)
    return sorted(results, key=lambda r: check_number(r.check)), todo
