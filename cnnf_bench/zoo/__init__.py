"""Model registry: every CNN-F architecture and its CNN baseline (the same class with cycles 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnf_bench.errors import ConfigError
from cnnf_bench.registry import Registry
from cnnf_bench.zoo.base import READOUTS, FeedbackNet, Trajectory
from cnnf_bench.zoo.classifier import Classifier
from cnnf_bench.zoo.fmnist import FashionCNNF, FashionSmallCNNF
from cnnf_bench.zoo.wrn import WideResNetCNNF

__all__ = [
    "ARCHS",
    "MODELS",
    "READOUTS",
    "Classifier",
    "FeedbackNet",
    "ModelSpec",
    "Trajectory",
    "build_model",
    "resolve_kwargs",
]

ARCHS: Registry[type[FeedbackNet]] = Registry("architecture")
ARCHS.add("fmnist-4c3f", FashionCNNF)
ARCHS.add("fmnist-2c1f", FashionSmallCNNF)
ARCHS.add("wrn", WideResNetCNNF)

#: keyword arguments a user may override per model (with ``--cycles`` etc. or the YAML ``model`` section)
MODEL_KNOBS = ("cycles", "ind", "eta", "readout")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: architecture, dataset and the constructor arguments of the original."""

    name: str
    arch: str
    dataset: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    description: str = ""

    def cls(self) -> type[FeedbackNet]:
        """The architecture class."""
        return ARCHS.get(self.arch)


MODELS: Registry[ModelSpec] = Registry("model")


def _add(spec: ModelSpec) -> None:
    MODELS.add(spec.name, spec)


_add(
    ModelSpec(
        "cnnf-fmnist",
        "fmnist-4c3f",
        "fmnist",
        {"ind": 2, "cycles": 1, "eta": 0.1, "readout": "avg"},
        baseline="cnn-fmnist",
        description="4 conv + 3 FC, adversarial training (Table 2)",
    )
)
_add(
    ModelSpec(
        "cnn-fmnist",
        "fmnist-4c3f",
        "fmnist",
        {"ind": 0, "cycles": 0, "eta": 0.1, "readout": "last"},
        description="baseline of cnnf-fmnist",
    )
)
_add(
    ModelSpec(
        "cnnf-fmnist-small",
        "fmnist-2c1f",
        "fmnist",
        {"ind": 0, "cycles": 5, "eta": 0.1, "readout": "avg"},
        baseline="cnn-fmnist-small",
        description="2 conv + 1 FC, standard training (Fig. 5)",
    )
)
_add(
    ModelSpec(
        "cnn-fmnist-small",
        "fmnist-2c1f",
        "fmnist",
        {"ind": 0, "cycles": 0, "eta": 0.1, "readout": "last"},
        description="baseline of cnnf-fmnist-small",
    )
)
_add(
    ModelSpec(
        "cnnf-cifar10",
        "wrn",
        "cifar10",
        {"ind": 5, "cycles": 2, "eta": 0.1, "readout": "avg", "depth": 40, "widen_factor": 2},
        baseline="cnn-cifar10",
        description="WideResNet-40-2 (Table 3)",
    )
)
_add(
    ModelSpec(
        "cnn-cifar10",
        "wrn",
        "cifar10",
        {"ind": 0, "cycles": 0, "eta": 0.1, "readout": "last", "depth": 40, "widen_factor": 2},
        description="baseline of cnnf-cifar10",
    )
)


def resolve_kwargs(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The registry's constructor arguments for ``name`` with the user's overrides applied."""
    spec = MODELS.get(name)
    kwargs = dict(spec.kwargs)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in MODEL_KNOBS:
            raise ConfigError(f"unknown model option {key!r} (known: {', '.join(MODEL_KNOBS)})")
        kwargs[key] = value
    return kwargs


def build_model(name: str, kwargs: dict[str, Any] | None = None) -> FeedbackNet:
    """Instantiate registered model ``name`` with resolved constructor ``kwargs`` (registry's if None)."""
    spec = MODELS.get(name)
    return spec.cls()(**(kwargs if kwargs is not None else spec.kwargs))
