"""A suite as a job graph: training jobs, evaluation jobs and check jobs with their dependencies.

A job is one unit an executor can hand to a process, a worker or a Slurm node: train one checkpoint,
run one attack entry (one parameter combination, eps, test-time cycles and attack seed) on one
checkpoint or external model, or run the automatic checks on one of them with one readout. An external
model (the suite's ``external:`` list) has no training job: its evaluation and check jobs depend on
nothing, and their ids hold its spec and the sha256 of its weights file. An evaluation waits for
its checkpoint, a transfer attack (and the checks, whose C-checks include a transfer) also for the
CNN baseline it transfers from. A job's id is a hash of its full configuration, so the same job in a
later run, or in another process, has the same id and its finished output is recognised.

The jobs come in the order the ``local`` executor has always run them: every training (CNN baselines
first), then per checkpoint its evaluations in the suite's attack order, then its checks; then the same
for each external model.
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
from cnnf_bench.suite import AttackEntry, Suite, param_grid
from cnnf_bench.suite_external import ExternalEntry


@dataclass(frozen=True)
class Job:
    """One unit of a suite's work, picklable (it travels to worker processes and Slurm nodes)."""

    id: str
    kind: str  # "train", "evaluate" or "check"
    label: str
    #: the resolved training config of the checkpoint the job trains or reads; None for an external model
    config: RunConfig | None
    #: the checkpoint (for an external model: its weights file, whose changes make the job's output stale)
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
    #: the external model the job evaluates or checks (then ``config`` is None)
    external: ExternalEntry | None = None

    @property
    def subject(self) -> str:
        """What the job trains or reads: the run name of its checkpoint, or the external model's name."""
        if self.external is not None:
            return self.external.name
        assert self.config is not None
        return run_name(self.config)

    @property
    def dataset(self) -> str:
        """The dataset of the model the job trains or reads."""
        if self.external is not None:
            return self.external.dataset
        assert self.config is not None and self.config.data.dataset is not None
        return self.config.data.dataset

    @property
    def slug(self) -> str:
        """A file-name-safe, readable name: kind, run and attack, then the id."""
        text = f"{self.kind}-{self.subject}"
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
                    targets = tuple(entry.targets or suite.targets)
                    request = _request(suite, entry, params, attack_seed, targets, readouts or None, cycles)
                    out.append((request, f"{suite.path}.attacks[{i}]"))
    return out


def _request(
    suite: Suite,
    entry: AttackEntry,
    params: dict[str, Any],
    attack_seed: int,
    targets: tuple[str, ...] | None,
    readouts: tuple[str, ...] | None,
    cycles: int | None,
) -> dict[str, Any]:
    """One evaluation request: the entry's settings where it has them, the suite's otherwise."""
    return {
        "attack": entry.attack,
        "params": params,
        "targets": targets,
        "readouts": readouts,
        "n": entry.n if entry.n is not None else suite.n,
        "subset_seed": suite.subset_seed,
        "attack_seed": attack_seed,
        "batch_size": entry.batch_size or suite.batch_size,
        "protocol": entry.protocol or suite.protocol,
        "cycles": cycles,
    }


def _external_requests(suite: Suite, entry: ExternalEntry) -> list[tuple[dict[str, Any], str]]:
    """Every evaluation request of one external model: the suite's attack entries that apply to it, on its
    own targets and readouts. Transfer (no CNN baseline), feature attacks (no feature views) and test-time
    cycles (no feedback) are CNN-F settings and are left out."""
    from cnnf_bench.attacks import ATTACKS

    out = []
    for i, entry_ in enumerate(suite.attacks):
        kind = ATTACKS.get(entry_.attack)
        if (
            not entry_.applies_to_external(entry.name)
            or kind.needs_source
            or kind.needs_view_kind != "logits"
            or entry_.cycles != (None,)
        ):
            continue
        for grid_params, eps in ((g, e) for g in param_grid(entry_.params) for e in entry_.eps or (None,)):
            for attack_seed in suite.attack_seeds:
                params = dict(grid_params)
                if eps is not None:
                    params["eps"] = eps
                request = _request(suite, entry_, params, attack_seed, entry.targets, entry.readouts, None)
                out.append((request, f"{suite.path}.attacks[{i}]"))
    return out


def _external_jobs(suite: Suite, entry: ExternalEntry) -> list[Job]:
    """The evaluation jobs (and check job) of one external model; no training, no dependencies."""
    identity = entry.identity()
    file = entry.weights_file()
    checkpoint = file if file is not None else Path(f"spec:{entry.spec}")
    jobs = [
        Job(
            id=job_id({"kind": "evaluate", "external": identity, "request": request}),
            kind="evaluate",
            label=f"{entry.name}: {request['attack']}",
            config=None,
            checkpoint=checkpoint,
            request=request,
            where=where,
            external=entry,
        )
        for request, where in _external_requests(suite, entry)
    ]
    if suite.checks is not None:
        jobs.append(
            Job(
                id=job_id({"kind": "check", "external": identity, "settings": asdict(suite.checks), "readout": None}),
                kind="check",
                label=f"{entry.name}: checks",
                config=None,
                checkpoint=checkpoint,
                check=suite.checks,
                where=f"{suite.path}.evaluation.checks",
                external=entry,
            )
        )
    return jobs


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
    for entry in suite.external:
        jobs.extend(_external_jobs(suite, entry))
    return JobGraph(suite, tuple(jobs))
