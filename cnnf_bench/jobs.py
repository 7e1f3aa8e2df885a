"""A suite as a job graph: training jobs, evaluation jobs and check jobs with their dependencies.

A job is one unit an executor can hand to a process, a worker or a Slurm node: train one checkpoint,
run one attack entry (one parameter combination, eps, test-time cycles and attack seed) on one
checkpoint, or run the automatic checks on one checkpoint with one readout. An evaluation waits for
its checkpoint, a transfer attack (and the checks, whose C-checks include a transfer) also for the
CNN baseline it transfers from. A job's id is a hash of its full configuration, so the same job in a
later run, or in another process, has the same id and its finished output is recognised.

The jobs come in the order the ``local`` executor has always run them: every training (CNN baselines
first), then per checkpoint its evaluations in the suite's attack order, then its checks.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnnf_bench.checks.base import CheckSettings
from cnnf_bench.config import RunConfig, baseline_config, run_name, to_dict
from cnnf_bench.suite import Suite, param_grid


@dataclass(frozen=True)
class Job:
    """One unit of a suite's work, picklable (it travels to worker processes and Slurm nodes)."""

    id: str
    kind: str  # "train", "evaluate" or "check"
    label: str
    config: RunConfig  # the resolved training config of the checkpoint the job trains or reads
    checkpoint: Path
    #: evaluation: the fields of an :class:`cnnf_bench.evaluate.EvalRequest`
    request: dict[str, Any] = field(default_factory=dict)
    #: check: the settings and the readout (None: the deployed one)
    check: CheckSettings | None = None
    readout: str | None = None
    #: ids of the jobs whose outputs this one reads
    deps: tuple[str, ...] = ()
    #: the suite line it comes from (for error messages), e.g. ``suite.yaml.attacks[2]``
    where: str = ""
    #: the checkpoints it reads besides its own (a transfer's source)
    sources: tuple[Path, ...] = ()

    @property
    def slug(self) -> str:
        """A file-name-safe, readable name: kind, run and attack, then the id."""
        text = f"{self.kind}-{run_name(self.config)}"
        if self.kind == "evaluate":
            text += f"-{self.request['attack']}"
        elif self.kind == "check" and self.readout:
            text += f"-{self.readout}"
        return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', text)}-{self.id}"


def job_id(identity: dict[str, Any]) -> str:
    """12 hex digits of the sha1 of the canonical JSON of a job's configuration."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class JobGraph:
    """The jobs of a suite in execution order, with lookups by id."""

    suite: Suite
    jobs: tuple[Job, ...]

    def by_id(self) -> dict[str, Job]:
        """Every job under its id."""
        return {job.id: job for job in self.jobs}

    def count(self, kind: str) -> int:
        """How many jobs of a kind."""
        return sum(1 for job in self.jobs if job.kind == kind)


def _baseline_config(cfg: RunConfig) -> RunConfig | None:
    """The CNN baseline's training config for a CNN-F or FPD config (same seed and settings), None for a CNN."""
    from cnnf_bench.zoo import MODELS

    spec = MODELS.get(cfg.model.name)
    if spec.baseline is None:
        return None
    return baseline_config(cfg, spec.baseline)


def _requests(suite: Suite, cfg: RunConfig) -> list[tuple[dict[str, Any], str]]:
    """Every evaluation request of one checkpoint, in the order ``run`` has always made them."""
    from cnnf_bench.zoo import MODELS

    spec = MODELS.get(cfg.model.name)
    known = {r for _, other in MODELS.items() for r in other.readouts()}
    out = []
    for i, entry in enumerate(suite.attacks):
        if not entry.applies_to(cfg):
            continue
        if entry.attack == "transfer" and spec.baseline is None:
            continue  # the paper's "-": a CNN is not attacked by transfer from itself
        for grid_params, eps in ((g, e) for g in param_grid(entry.params) for e in entry.eps or (None,)):
            for cycles in entry.cycles:
                for attack_seed in suite.attack_seeds:
                    params = dict(grid_params)
                    if eps is not None:
                        params["eps"] = eps
                    # readouts the model lacks (CNN-F's avg on an FPD model) are not asked of it; a name no
                    # model has stays, so that validation rejects it before any training
                    asked = entry.readouts or suite.readouts or ()
                    readouts = tuple(r for r in asked if r in spec.readouts() or r not in known)
                    request: dict[str, Any] = {
                        "attack": entry.attack,
                        "params": params,
                        "targets": tuple(entry.targets or suite.targets),
                        "readouts": tuple(readouts) if readouts else None,
                        "n": entry.n if entry.n is not None else suite.n,
                        "subset_seed": suite.subset_seed,
                        "attack_seed": attack_seed,
                        "batch_size": entry.batch_size or suite.batch_size,
                        "protocol": entry.protocol or suite.protocol,
                        "cycles": cycles,
                    }
                    out.append((request, f"{suite.path}.attacks[{i}]"))
    return out


def plan(suite: Suite) -> JobGraph:
    """The job graph of a parsed suite (no torch work beyond the model registry)."""
    configs = suite.run_configs()
    train: dict[str, Job] = {}
    jobs: list[Job] = []
    for cfg in configs:
        job = Job(
            id=job_id({"kind": "train", "config": to_dict(cfg)}),
            kind="train",
            label=run_name(cfg),
            config=cfg,
            checkpoint=suite.checkpoint(cfg),
            where=str(suite.path),
        )
        train[run_name(cfg)] = job
        jobs.append(job)

    def source(cfg: RunConfig) -> tuple[tuple[str, ...], tuple[Path, ...]]:
        base = _baseline_config(cfg)
        if base is None:
            return (), ()
        # the evaluator finds the source by its run folder beside the checkpoint (evaluate.baseline_source)
        found = train.get(run_name(base))
        return ((found.id,) if found is not None else ()), (suite.checkpoint(base),)

    for cfg in configs:
        own = train[run_name(cfg)]
        for request, where in _requests(suite, cfg):
            deps, sources = source(cfg) if request["attack"] == "transfer" else ((), ())
            identity: dict[str, Any] = {"kind": "evaluate", "config": to_dict(cfg), "request": request}
            jobs.append(
                Job(
                    id=job_id(identity),
                    kind="evaluate",
                    label=f"{run_name(cfg)}: {request['attack']}",
                    config=cfg,
                    checkpoint=own.checkpoint,
                    request=request,
                    deps=(own.id, *deps),
                    where=where,
                    sources=sources,
                )
            )
        if suite.checks is not None:
            check_readouts = (suite.readouts or (None,)) if cfg.model.cycles else (None,)
            deps, sources = source(cfg)
            for readout in check_readouts:
                identity = {
                    "kind": "check",
                    "config": to_dict(cfg),
                    "settings": asdict(suite.checks),
                    "readout": readout,
                }
                jobs.append(
                    Job(
                        id=job_id(identity),
                        kind="check",
                        label=f"{run_name(cfg)}: checks" + (f" [{readout}]" if readout else ""),
                        config=cfg,
                        checkpoint=own.checkpoint,
                        check=suite.checks,
                        readout=readout,
                        deps=(own.id, *deps),
                        where=f"{suite.path}.evaluation.checks",
                        sources=sources,
                    )
                )
    return JobGraph(suite, tuple(jobs))
