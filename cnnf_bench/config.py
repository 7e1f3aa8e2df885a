"""Training configuration: frozen dataclasses, YAML with unknown keys as errors, CLI > YAML > defaults.

A value left as ``None`` means "the recipe's": the per-dataset defaults of the original code
(reference section 4.3) converted to [0, 1] units. :func:`resolve` fills them in and validates; the
resolved config is what a checkpoint stores and what ``--resume`` compares against.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cnnf_bench.config_checks import check_choice, check_positive, did_you_mean
from cnnf_bench.config_fpd import FPD_EPOCHS, FPD_MODES, FPDConfig, resolve_fpd
from cnnf_bench.errors import ConfigError

MODES = ("adversarial", "standard", "noise")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("poly", "cosine", "constant")
NOISES = ("uniform", "gaussian")


@dataclass(frozen=True)
class ModelConfig:
    """Which registered model, and overrides of its constructor arguments."""

    name: str = "cnnf-fmnist"
    cycles: int | None = None
    ind: int | None = None
    eta: float | None = None
    readout: str | None = None
    # FPD models only (None for the others, and then left out of the stored config)
    denoise: str | None = None
    tanh: bool | None = None
    elu: bool | None = None


#: model fields that only one family has; a None value is left out of :func:`to_dict`, so the configs
#: (and job ids) of the other family stay what they were before the field existed
FAMILY_ONLY_MODEL_FIELDS = ("denoise", "tanh", "elu")


@dataclass(frozen=True)
class DataConfig:
    """Which images to train on and test on after each epoch (seeded subsets; None = all)."""

    dataset: str | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    subset_seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and loss settings (reference section 4); eps and step are in [0, 1] units."""

    mode: str = "adversarial"
    epochs: int | None = None
    batch_size: int = 256
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    fc_weight_decay_factor: float = 2.0
    schedule: str = "poly"
    power: float = 0.9
    grad_clip: float | None = 0.5
    clean_weight: float | None = None
    clean_loss: bool = True
    mse_weight: float = 0.1
    recon_weight: float = 1.0
    block_weight: float = 1.0
    eps: float | None = None
    step: float | None = None
    pgd_steps: int = 7
    noise: str = "uniform"
    augment: bool | None = None
    drop_last: bool | None = None
    limit_batches: int | None = None
    monitor_images: int = 500


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a trained checkpoint (``fpd`` is set for FPD models only)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    fpd: FPDConfig | None = None


@dataclass(frozen=True)
class Recipe:
    """Per-dataset defaults of the original training scripts, in [0, 1] units."""

    epochs: int
    eps: float
    step: float
    clean_weight: float
    augment: bool
    drop_last: bool


RECIPES: dict[str, Recipe] = {
    # run_train_mnist.sh: eps 0.2 and step 0.071 on [-1, 1] inputs; 200 epochs; c = 0.1; drop_last.
    "fmnist": Recipe(epochs=200, eps=0.1, step=0.0355, clean_weight=0.1, augment=False, drop_last=True),
    # run_train_cifar.sh: eps 0.063 (~8/255) and step 0.02 on [-1, 1]; 500 epochs; c = 0.05; flips+crops.
    "cifar10": Recipe(epochs=500, eps=8 / 255, step=0.01, clean_weight=0.05, augment=True, drop_last=False),
}

SECTIONS: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "fpd": FPDConfig}
#: sections that may be absent (None) in a :class:`RunConfig`
OPTIONAL_SECTIONS = ("fpd",)
_FRACTION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def coerce_value(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a simple type hint (int, float, bool, str, optional of those).

    Floats must be finite: NaN or infinity in an eps, a learning rate or any other setting would run
    (and train to a NaN loss, or attack with no budget) instead of failing, so they are refused here,
    where every number from the CLI, YAML and ``key=value`` options passes.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return coerce_value(value, args[0], where)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{where} must be a finite number, got {value!r}")
            return float(value)
        if isinstance(value, str) and (m := _FRACTION.match(value)):
            denominator = float(m.group(2))
            if denominator == 0:
                raise ConfigError(f"{where}: division by zero in {value!r}")
            quotient = float(m.group(1)) / denominator
            if not math.isfinite(quotient):
                raise ConfigError(f"{where} must be a finite number, got {value!r}")
            return quotient
    elif hint is str and isinstance(value, str):
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where} must be {name}, got {value!r}")


def section_from_mapping(cls: type, data: Any, where: str) -> Any:
    """Build section dataclass ``cls`` from a mapping; unknown keys and wrong types are errors."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown key {where}.{key}{did_you_mean(str(key), names)} (known: {', '.join(names)})")
        values[key] = coerce_value(value, hints[key], f"{where}.{key}")
    return cls(**values)


def run_config_from_mapping(data: dict[str, Any], where: str = "config") -> RunConfig:
    """Build a :class:`RunConfig` from a nested mapping (YAML), e.g. ``{"model": {...}, "seed": 1}``."""
    allowed = [*SECTIONS, "seed"]
    for key in data:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed)
            raise ConfigError(f"unknown key {where}: {key!r}{hint} (known: {', '.join(allowed)})")
    model = data.get("model")
    if isinstance(model, str):
        model = {"name": model}
    sections = {
        name: section_from_mapping(cls, model if name == "model" else data.get(name), f"{where}.{name}")
        for name, cls in SECTIONS.items()
        if name not in OPTIONAL_SECTIONS or data.get(name) is not None
    }
    seed = coerce_value(data.get("seed", 0), int, f"{where}.seed")
    return RunConfig(seed=seed, **sections)


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors for a missing, binary, empty or malformed file."""
    import yaml

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a YAML text file (it holds binary data)") from None
    if "\x00" in text:
        raise ConfigError(f"{path} is not a YAML text file (it holds binary data)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        raise ConfigError(f"{path} is not valid YAML{at}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path} is not valid YAML: nested too deeply") from None
    if data is None:
        raise ConfigError(f"{path} is empty: it must hold a mapping (e.g. 'model: cnnf-fmnist')")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Apply dotted overrides such as ``{"train.epochs": 2, "seed": 1}``; None values are skipped."""
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "seed":
            cfg = replace(cfg, seed=coerce_value(value, int, "seed"))
            continue
        section, _, name = key.partition(".")
        cls = SECTIONS[section]
        hints = typing.get_type_hints(cls)
        current = getattr(cfg, section) or cls()
        cfg = replace(cfg, **{section: replace(current, **{name: coerce_value(value, hints[name], key)})})
    return cfg


def resolve(cfg: RunConfig) -> RunConfig:
    """Fill every None from the model registry and the dataset's recipe, and validate all values."""
    from cnnf_bench.zoo import MODEL_KNOBS, MODELS, resolve_kwargs

    spec = MODELS.get(cfg.model.name)
    dataset = cfg.data.dataset or spec.dataset
    if dataset != spec.dataset:
        raise ConfigError(f"model {spec.name} is built for dataset {spec.dataset}, not {dataset}")
    kwargs = resolve_kwargs(spec.name, {k: getattr(cfg.model, k) for k in MODEL_KNOBS})
    model = ModelConfig(name=spec.name, **{k: kwargs.get(k) for k in MODEL_KNOBS})
    recipe = RECIPES[dataset]
    t = cfg.train
    fpd = resolve_fpd(cfg.fpd) if spec.family == "fpd" else None
    train = replace(
        t,
        epochs=(FPD_EPOCHS if fpd is not None else recipe.epochs) if t.epochs is None else t.epochs,
        eps=recipe.eps if t.eps is None else t.eps,
        step=recipe.step if t.step is None else t.step,
        clean_weight=recipe.clean_weight if t.clean_weight is None else t.clean_weight,
        augment=recipe.augment if t.augment is None else t.augment,
        drop_last=recipe.drop_last if t.drop_last is None else t.drop_last,
    )
    check_choice(train.mode, MODES, "train.mode")
    check_choice(train.optimizer, OPTIMIZERS, "train.optimizer")
    check_choice(train.schedule, SCHEDULES, "train.schedule")
    check_choice(train.noise, NOISES, "train.noise")
    for name in ("epochs", "batch_size", "lr", "pgd_steps", "limit_batches", "step"):
        check_positive(getattr(train, name), f"train.{name}")
    for name in (
        "eps",
        "momentum",
        "weight_decay",
        "fc_weight_decay_factor",
        "power",
        "clean_weight",
        "mse_weight",
        "recon_weight",
        "block_weight",
        "monitor_images",
    ):
        check_positive(getattr(train, name), f"train.{name}", allow_zero=True)
    check_positive(train.grad_clip, "train.grad_clip")
    assert train.eps is not None
    if train.eps > 1:
        raise ConfigError(f"train.eps is in [0, 1] pixel units and must be <= 1, got {train.eps}")
    check_positive(cfg.data.train_subset, "data.train_subset")
    check_positive(cfg.data.test_subset, "data.test_subset")
    if model.cycles is not None and model.cycles < 0:
        raise ConfigError(f"model.cycles must be >= 0, got {model.cycles}")
    if fpd is not None and train.mode not in FPD_MODES:
        raise ConfigError(f"train.mode must be one of {', '.join(FPD_MODES)} for FPD models, got {train.mode!r}")
    spec.cls()(**kwargs)  # validates ind / eta / readout against the architecture, cheaply enough
    return RunConfig(model=model, data=replace(cfg.data, dataset=dataset), train=train, seed=cfg.seed, fpd=fpd)


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Plain nested dict of primitives (for YAML, JSON and checkpoints).

    Sections and model fields of one family only are left out where unset, so adding a family never
    changes the stored configs (and job ids) of the others.
    """
    out = dataclasses.asdict(cfg)
    for name in OPTIONAL_SECTIONS:
        if out.get(name) is None:
            out.pop(name, None)
    for name in FAMILY_ONLY_MODEL_FIELDS:
        if out["model"].get(name) is None:
            out["model"].pop(name, None)
    return out


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of :func:`to_dict`."""
    return run_config_from_mapping(data)


def run_name(cfg: RunConfig) -> str:
    """Folder name of a training run: model, any non-default model knobs, mode and seed."""
    from cnnf_bench.zoo import MODELS

    spec = MODELS.get(cfg.model.name)
    parts = [cfg.model.name]
    for knob, short in (("cycles", "T"), ("ind", "k"), ("eta", "eta")):
        value = getattr(cfg.model, knob)
        if value is not None and value != spec.kwargs.get(knob):
            parts.append(f"{short}{value:g}" if isinstance(value, float) else f"{short}{value}")
    for knob in FAMILY_ONLY_MODEL_FIELDS:
        value = getattr(cfg.model, knob)
        if value is not None and value != spec.kwargs.get(knob):
            parts.append(value if isinstance(value, str) else f"{'' if value else 'no'}{knob}")
    return f"{'-'.join(parts)}_{cfg.train.mode}_s{cfg.seed}"


def baseline_config(cfg: RunConfig, baseline: str) -> RunConfig:
    """The training config of ``baseline`` (a CNN) with ``cfg``'s data, training and seed: where a CNN-F or
    FPD run finds the plain twin it is compared with and transfers from (its knobs are the registry's)."""
    from cnnf_bench.zoo import MODEL_KNOBS, MODELS

    kwargs = MODELS.get(baseline).kwargs
    return replace(cfg, model=ModelConfig(name=baseline, **{k: kwargs.get(k) for k in MODEL_KNOBS}), fpd=None)


def describe_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable ``key: saved -> current`` lines for two nested config dicts."""
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(describe_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out
