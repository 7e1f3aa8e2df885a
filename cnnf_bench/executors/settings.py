"""Where a suite's jobs run: the ``executor:`` section of a suite YAML and the ``run`` options that override it.

Parsed without torch or submitit, so ``status`` and ``--help`` stay cheap. Three executors:

- ``local``: the jobs one after another in the calling process (today's behaviour, unchanged numbers);
- ``pool``: N worker processes on this machine, each with its share of the CPU threads or one GPU;
- ``slurm``: one Slurm job per suite job through submitit, dependencies handled by the scheduler.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

from cnnf_bench.errors import ConfigError

EXECUTORS = ("local", "pool", "slurm")


@dataclass(frozen=True)
class SlurmSettings:
    """Resources of every Slurm job of a suite (one task per job)."""

    #: partition (``--partition``); None: the cluster's default
    partition: str | None = None
    #: GPUs per job (``--gpus-per-node``); 0: a CPU job
    gpus: int = 0
    #: CPU cores per job (``--cpus-per-task``); the job runs torch with this many threads
    cpus: int = 1
    #: memory per job in GB (``--mem``); None: the cluster's default
    mem_gb: float | None = None
    #: wall-clock limit per job in minutes (``--time``); a training job that hits it is requeued and resumes
    time_min: int = 1440
    #: at most this many tasks of one job array run at once (``--array=0-N%P``)
    array_parallelism: int = 64
    #: how often a job may be requeued after a time-out or preemption before it counts as failed
    max_requeues: int = 5
    #: seconds between Slurm's warning signal and the kill, for the last checkpoint (``--signal``)
    signal_delay_s: int = 120
    #: any other sbatch options, e.g. ``{account: lab, qos: high, constraint: a100}``
    sbatch: dict[str, str] = field(default_factory=dict)
    #: shell lines run before each job (``module load cuda``, ``source venv/bin/activate``)
    setup: tuple[str, ...] = ()
    #: seconds between two looks at the queue while ``run`` waits for the jobs
    poll_s: float = 5.0


@dataclass(frozen=True)
class ExecutorSettings:
    """Which executor runs a suite, and with what."""

    name: str = "local"
    #: write one result shard per job (always for pool and slurm; ``local`` writes one JSONL unless set)
    shards: bool = False
    #: pool: worker processes
    workers: int = 2
    #: CPU threads per job (pool default: the machine's cores divided among the workers; slurm: ``cpus``;
    #: local default: torch's own)
    threads: int | None = None
    #: pool: CUDA devices handed out one per worker (default: every visible one when running on CUDA)
    gpus: tuple[int, ...] | None = None
    #: slurm: wait for the jobs and write the report (False: submit and return)
    wait: bool = True
    slurm: SlurmSettings = field(default_factory=SlurmSettings)

    @property
    def sharded(self) -> bool:
        """Whether results go to per-job shards (a folder) rather than one JSONL file."""
        return self.shards or self.name != "local"


def _coerce(cls: type, key: str, value: Any, where: str) -> Any:
    from cnnf_bench.config import coerce_value

    hint = typing.get_type_hints(cls)[key]
    if key == "slurm":
        return SlurmSettings(**_section(SlurmSettings, value or {}, where))
    if key == "sbatch":
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping of sbatch options")
        return {str(k).lstrip("-"): str(v) for k, v in value.items()}
    if key == "setup":
        lines = value if isinstance(value, list) else [value]
        return tuple(coerce_value(line, str, where) for line in lines)
    if key == "gpus" and cls is ExecutorSettings:
        if value is None:
            return None
        return tuple(coerce_value(v, int, where) for v in (value if isinstance(value, list) else [value]))
    return coerce_value(value, hint, where)


def _section(cls: type, data: Any, where: str) -> dict[str, Any]:
    import difflib

    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping")
    names = [f.name for f in fields(cls)]
    out = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {where}.{key}{hint} (known: {', '.join(names)})")
        out[key] = _coerce(cls, key, value, f"{where}.{key}")
    return out


def validate(settings: ExecutorSettings, where: str = "executor") -> ExecutorSettings:
    """Check the values (positive counts, a known executor); return the settings unchanged."""
    if settings.name not in EXECUTORS:
        raise ConfigError(f"{where}.name must be one of {', '.join(EXECUTORS)}, got {settings.name!r}")
    if settings.workers < 1:
        raise ConfigError(f"{where}.workers must be >= 1, got {settings.workers}")
    if settings.threads is not None and settings.threads < 1:
        raise ConfigError(f"{where}.threads must be >= 1, got {settings.threads}")
    s = settings.slurm
    for name in ("cpus", "time_min", "array_parallelism"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{where}.slurm.{name} must be >= 1, got {getattr(s, name)}")
    for name in ("gpus", "max_requeues", "signal_delay_s"):
        if getattr(s, name) < 0:
            raise ConfigError(f"{where}.slurm.{name} must be >= 0, got {getattr(s, name)}")
    if s.mem_gb is not None and not s.mem_gb > 0:
        raise ConfigError(f"{where}.slurm.mem_gb must be > 0, got {s.mem_gb}")
    if not s.poll_s > 0:
        raise ConfigError(f"{where}.slurm.poll_s must be > 0, got {s.poll_s}")
    return settings


def executor_from_mapping(data: Any, where: str = "executor") -> ExecutorSettings:
    """Parse a suite's ``executor:`` section: a name (``slurm``) or a mapping of the settings above."""
    if data is None:
        return ExecutorSettings()
    if isinstance(data, str):
        data = {"name": data}
    return validate(ExecutorSettings(**_section(ExecutorSettings, data, where)), where)


def parse_assignments(items: list[str], where: str) -> dict[str, Any]:
    """``key=value`` strings (values read as YAML scalars) into a mapping, e.g. for ``--slurm``."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{where} expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = text
    return out


def with_overrides(
    settings: ExecutorSettings,
    name: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    shards: bool | None = None,
    wait: bool | None = None,
    slurm: dict[str, Any] | None = None,
) -> ExecutorSettings:
    """The suite's settings with the command line's on top (None: keep the suite's)."""
    top: dict[str, Any] = {
        k: v
        for k, v in (("name", name), ("workers", workers), ("threads", threads), ("shards", shards), ("wait", wait))
        if v is not None
    }
    out = replace(settings, **top)
    if slurm:
        out = replace(out, slurm=replace(out.slurm, **_section(SlurmSettings, slurm, "--slurm")))
    return validate(out, "executor")
