"""Benchmark suites: parse and validate a suite YAML (the grid a ``run`` trains, attacks and reports).

A suite YAML names models x seeds, a training config (the ``data`` and ``train`` sections of a run
config), models it does not train (``external``, :mod:`cnnf_bench.suite_external`), evaluation defaults,
a list of attacks and where to run (``executor``). :mod:`cnnf_bench.jobs`
turns it into a job graph and :mod:`cnnf_bench.executors.run` runs it. Everything is resumable: complete
checkpoints are skipped, partial ones resumed, and records already in the store are not recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnnf_bench.checks.base import CheckSettings
from cnnf_bench.config import (
    ModelConfig,
    RunConfig,
    TrainConfig,
    coerce_value,
    load_yaml,
    resolve,
    run_config_from_mapping,
    run_name,
)
from cnnf_bench.errors import ConfigError
from cnnf_bench.executors.settings import ExecutorSettings, executor_from_mapping
from cnnf_bench.suite_external import ExternalEntry, parse_external

SUITE_KEYS = (
    "name",
    "description",
    "output_dir",
    "results",
    "report",
    "seeds",
    "models",
    "external",
    "config",
    "evaluation",
    "attacks",
    "executor",
)
EVAL_KEYS = ("protocol", "n", "subset_seed", "attack_seeds", "batch_size", "readouts", "targets", "checks")
ATTACK_KEYS = ("attack", "targets", "readouts", "params", "n", "eps", "models", "cycles", "protocol", "batch_size")


@dataclass(frozen=True)
class AttackEntry:
    """One line of a suite's attack list (expanded over eps values and test-time cycles)."""

    attack: str
    params: dict[str, Any] = field(default_factory=dict)
    targets: tuple[str, ...] | None = None
    readouts: tuple[str, ...] | None = None
    n: int | None = None
    eps: tuple[float, ...] = ()
    models: tuple[ModelConfig, ...] = ()
    cycles: tuple[int | None, ...] = (None,)
    protocol: str | None = None
    batch_size: int | None = None

    def applies_to(self, cfg: RunConfig) -> bool:
        """Whether the entry runs on a resolved run config: no ``models`` filter, or a filter entry with
        the same name whose given knobs (e.g. ``cycles``) all match, so one CNN-F-k can be singled out."""
        if not self.models:
            return True
        return any(
            m.name == cfg.model.name
            and all(getattr(m, k) in (None, getattr(cfg.model, k)) for k in ("cycles", "ind", "eta", "readout"))
            for m in self.models
        )

    def applies_to_external(self, name: str) -> bool:
        """Whether the entry runs on the external model ``name``: no ``models`` filter, or one naming it."""
        return not self.models or any(m.name == name for m in self.models)


@dataclass(frozen=True)
class Suite:
    """A parsed suite file."""

    name: str
    path: Path
    output_dir: Path
    results: Path
    report: Path
    seeds: tuple[int, ...]
    models: tuple[ModelConfig, ...]
    config: RunConfig
    protocol: str = "paper"
    n: int | None = 1000
    subset_seed: int = 0
    attack_seeds: tuple[int, ...] = (0,)
    batch_size: int = 250
    readouts: tuple[str, ...] | None = None
    targets: tuple[str, ...] = ("first",)
    attacks: tuple[AttackEntry, ...] = ()
    description: str = ""
    #: per entry of ``models``, its ``train`` overrides (e.g. ``{"mode": "noise"}``); empty: none at all
    model_train: tuple[dict[str, Any], ...] = ()
    #: run the automatic checks on every checkpoint with these settings (``evaluation.checks``); None: don't
    checks: CheckSettings | None = None
    #: where the jobs run (``executor:``; the ``run`` command's options override it)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    #: models the suite evaluates without training them (``external:``)
    external: tuple[ExternalEntry, ...] = ()

    def run_configs(self) -> list[RunConfig]:
        """Resolved training configs of every (model, seed), CNN baselines first (transfer sources)."""
        out = []
        for i, model in enumerate(self.models):
            train = replace(self.config.train, **self.model_train[i]) if self.model_train else self.config.train
            for seed in self.seeds:
                out.append(resolve(replace(self.config, model=model, train=train, seed=seed)))
        return sorted(out, key=lambda c: (c.model.cycles != 0, self.models.index(_find(self.models, c)), c.seed))

    def checkpoint(self, cfg: RunConfig) -> Path:
        """Where the checkpoint of a resolved run config lives."""
        return self.output_dir / run_name(cfg) / "checkpoint.pt"


def _find(models: tuple[ModelConfig, ...], cfg: RunConfig) -> ModelConfig:
    for model in models:
        if model.name == cfg.model.name and all(
            getattr(model, k) in (None, getattr(cfg.model, k)) for k in ("cycles", "ind", "eta", "readout")
        ):
            return model
    return models[0]


def _check_keys(data: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    import difflib

    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {where}.{key}{hint} (known: {', '.join(allowed)})")


def _tuple(value: Any, kind: Any, where: str) -> tuple[Any, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(coerce_value(v, kind, where) for v in values)


def _model(entry: Any, where: str) -> ModelConfig:
    from cnnf_bench.config import section_from_mapping

    if isinstance(entry, str):
        entry = {"name": entry}
    return section_from_mapping(ModelConfig, entry, where)  # type: ignore[no-any-return]


def _model_train(entry: Any, where: str) -> tuple[ModelConfig, dict[str, Any]]:
    """A ``models`` entry: a name, or a mapping of model knobs with optional ``train`` overrides."""
    import typing
    from dataclasses import fields

    if not isinstance(entry, dict) or "train" not in entry:
        return _model(entry, where), {}
    train = entry["train"]
    if not isinstance(train, dict):
        raise ConfigError(f"{where}.train must be a mapping")
    names = tuple(f.name for f in fields(TrainConfig))
    _check_keys(train, names, f"{where}.train")
    hints = typing.get_type_hints(TrainConfig)
    overrides = {k: coerce_value(v, hints[k], f"{where}.train.{k}") for k, v in train.items()}
    return _model({k: v for k, v in entry.items() if k != "train"}, where), overrides


def _checks(value: Any, where: str) -> CheckSettings | None:
    """``evaluation.checks``: true (default settings), false / absent, or a mapping of check settings."""
    if value is None or value is False:
        return None
    if value is True:
        return CheckSettings()
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be true, false or a mapping of check settings")
    return CheckSettings.from_mapping(value, where)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def param_grid(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of an attack entry's list-valued parameters (e.g. corruption ``kind`` x
    ``severity``), in the listed order; scalar parameters are shared by all."""
    import itertools

    lists = {k: v for k, v in params.items() if isinstance(v, list)}
    return [{**params, **dict(zip(lists, combo, strict=True))} for combo in itertools.product(*lists.values())]


def _attack(entry: Any, where: str) -> AttackEntry:
    if isinstance(entry, str):
        entry = {"attack": entry}
    if not isinstance(entry, dict) or "attack" not in entry:
        raise ConfigError(f"{where} must be a mapping with an 'attack' key")
    _check_keys(entry, ATTACK_KEYS, where)
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}.params must be a mapping")
    return AttackEntry(
        attack=coerce_value(entry["attack"], str, f"{where}.attack"),
        params=dict(params),
        targets=_tuple(entry["targets"], str, f"{where}.targets") if "targets" in entry else None,
        readouts=_tuple(entry["readouts"], str, f"{where}.readouts") if "readouts" in entry else None,
        n=coerce_value(entry.get("n"), int | None, f"{where}.n"),
        eps=_tuple(entry["eps"], float, f"{where}.eps") if "eps" in entry else (),
        models=tuple(_model(m, f"{where}.models[{i}]") for i, m in enumerate(_list(entry["models"])))
        if "models" in entry
        else (),
        cycles=_tuple(entry["cycles"], int, f"{where}.cycles") if "cycles" in entry else (None,),
        protocol=coerce_value(entry.get("protocol"), str | None, f"{where}.protocol"),
        batch_size=coerce_value(entry.get("batch_size"), int | None, f"{where}.batch_size"),
    )


def _refuse_non_finite(value: Any, where: str) -> None:
    """NaN and infinities are never a valid suite number (YAML reads ``.nan`` and ``.inf`` as floats)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value}")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_non_finite(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_non_finite(item, f"{where}[{i}]")


def read_suite(path: Path) -> dict[str, Any]:
    """The suite's YAML mapping (a binary or empty file is one clear error); no non-finite number in it."""
    data = load_yaml(path)
    _refuse_non_finite(data, str(path))
    return data


def load_suite(path: Path) -> Suite:
    """Parse and validate a suite YAML (unknown keys, bad values and unknown names are errors)."""
    from cnnf_bench.attacks import ATTACKS
    from cnnf_bench.attacks.views import VIEWS
    from cnnf_bench.protocols import PROTOCOLS

    data = read_suite(path)
    where = str(path)
    _check_keys(data, SUITE_KEYS, where)
    name = coerce_value(data.get("name", Path(path).stem), str, f"{where}.name")
    config_data = data.get("config") or {}
    if not isinstance(config_data, dict):
        raise ConfigError(f"{where}.config must be a mapping")
    _check_keys(config_data, ("data", "train", "fpd"), f"{where}.config")
    config = run_config_from_mapping(config_data, f"{where}.config")
    from cnnf_bench.zoo import MODELS

    external = parse_external(
        data.get("external"), config.data.dataset, tuple(name for name, _ in MODELS.items()), f"{where}.external"
    )
    models = data.get("models", [] if external else None)
    if not isinstance(models, list) or not (models or external):
        raise ConfigError(f"{where}.models must be a non-empty list (or give external models)")
    evaluation = data.get("evaluation") or {}
    _check_keys(evaluation, EVAL_KEYS, f"{where}.evaluation")
    attacks = data.get("attacks") or []
    if not isinstance(attacks, list):
        raise ConfigError(f"{where}.attacks must be a list")
    model_entries = [_model_train(m, f"{where}.models[{i}]") for i, m in enumerate(models)]
    suite = Suite(
        name=name,
        path=Path(path),
        output_dir=Path(coerce_value(data.get("output_dir", f"checkpoints/{name}"), str, f"{where}.output_dir")),
        results=Path(coerce_value(data.get("results", f"results/{name}.jsonl"), str, f"{where}.results")),
        report=Path(coerce_value(data.get("report", f"reports/{name}"), str, f"{where}.report")),
        seeds=_tuple(data.get("seeds", [0]), int, f"{where}.seeds"),
        models=tuple(model for model, _ in model_entries),
        config=config,
        protocol=coerce_value(evaluation.get("protocol", "paper"), str, f"{where}.evaluation.protocol"),
        n=coerce_value(evaluation.get("n", 1000), int | None, f"{where}.evaluation.n"),
        subset_seed=coerce_value(evaluation.get("subset_seed", 0), int, f"{where}.evaluation.subset_seed"),
        attack_seeds=_tuple(evaluation.get("attack_seeds", [0]), int, f"{where}.evaluation.attack_seeds"),
        batch_size=coerce_value(evaluation.get("batch_size", 250), int, f"{where}.evaluation.batch_size"),
        readouts=_tuple(evaluation["readouts"], str, f"{where}.evaluation.readouts")
        if "readouts" in evaluation
        else None,
        targets=_tuple(evaluation.get("targets", ["first"]), str, f"{where}.evaluation.targets"),
        attacks=tuple(_attack(a, f"{where}.attacks[{i}]") for i, a in enumerate(attacks)),
        description=str(data.get("description", "")),
        model_train=tuple(train for _, train in model_entries) if any(t for _, t in model_entries) else (),
        checks=_checks(evaluation.get("checks"), f"{where}.evaluation.checks"),
        executor=executor_from_mapping(data.get("executor"), f"{where}.executor"),
        external=external,
    )
    PROTOCOLS.get(suite.protocol)
    for entry in suite.attacks:
        ATTACKS.get(entry.attack)
        if entry.protocol:
            PROTOCOLS.get(entry.protocol)
        for target in entry.targets or suite.targets:
            VIEWS.get(target)
    for cfg in suite.run_configs():  # validates models, overrides and the training config
        del cfg
    return suite
