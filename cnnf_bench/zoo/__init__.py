"""Model registry: every CNN-F architecture, its CNN baseline (the same class with cycles 0) and the FPD
models built on the same backbones (family ``fpd``, :mod:`cnnf_bench.zoo.fpd`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnf_bench.errors import ConfigError
from cnnf_bench.registry import Registry
from cnnf_bench.zoo.base import READOUTS, FeedbackNet, Trajectory
from cnnf_bench.zoo.classifier import Classifier
from cnnf_bench.zoo.fmnist import FashionCNNF, FashionSmallCNNF
from cnnf_bench.zoo.fpd import FPDNet
from cnnf_bench.zoo.wrn import WideResNetCNNF

__all__ = [
    "ARCHS",
    "MODELS",
    "READOUTS",
    "Classifier",
    "FPDNet",
    "FeedbackNet",
    "ModelSpec",
    "Trajectory",
    "build_model",
    "resolve_kwargs",
]

ARCHS: Registry[type[Classifier]] = Registry("architecture")
ARCHS.add("fmnist-4c3f", FashionCNNF)
ARCHS.add("fmnist-2c1f", FashionSmallCNNF)
ARCHS.add("wrn", WideResNetCNNF)
ARCHS.add("fpd", FPDNet)

#: keyword arguments a user may override per model family (``--cycles`` etc. or the YAML ``model`` section)
FAMILY_KNOBS: dict[str, tuple[str, ...]] = {
    "feedback": ("cycles", "ind", "eta", "readout"),
    "fpd": ("denoise", "tanh", "elu"),
}
#: every knob of every family (the fields of the ``model`` config section besides ``name``)
MODEL_KNOBS: tuple[str, ...] = tuple(dict.fromkeys(k for knobs in FAMILY_KNOBS.values() for k in knobs))


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: architecture, dataset and the constructor arguments of the original."""

    name: str
    arch: str
    dataset: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    description: str = ""
    #: ``feedback`` (CNN and CNN-F) or ``fpd``: which knobs, readouts and training the model has
    family: str = "feedback"

    def cls(self) -> type[Classifier]:
        """The architecture class."""
        return ARCHS.get(self.arch)

    def knobs(self) -> tuple[str, ...]:
        """The constructor arguments a user may override for this model."""
        return FAMILY_KNOBS[self.family]

    def readouts(self) -> tuple[str, ...]:
        """The readouts the model can be scored with."""
        return READOUTS if self.family == "feedback" else ("last",)


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


for _name, _backbone, _dataset, _twin, _what in (
    ("fpd-fmnist", "fmnist-4c3f", "fmnist", "cnn-fmnist", "FPD on the 4 conv + 3 FC network"),
    ("fpd-fmnist-small", "fmnist-2c1f", "fmnist", "cnn-fmnist-small", "FPD on the 2 conv + 1 FC network"),
    ("fpd-cifar10", "wrn", "cifar10", "cnn-cifar10", "FPD on WideResNet-40-2"),
):
    _wrn = {"depth": 40, "widen_factor": 2} if _backbone == "wrn" else {}
    _add(
        ModelSpec(
            _name,
            "fpd",
            _dataset,
            {"backbone": _backbone, "denoise": "gram", "tanh": True, "elu": False, "width": 32, **_wrn},
            baseline=_twin,
            description=f"{_what} (Li et al. 2020); plain twin {_twin}",
            family="fpd",
        )
    )


def resolve_kwargs(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The registry's constructor arguments for ``name`` with the user's overrides applied.

    Overrides are the ``model`` config fields; a knob of another family (``cycles`` on an FPD model,
    ``denoise`` on a CNN-F) is an error, unless it is None (not given).
    """
    spec = MODELS.get(name)
    kwargs = dict(spec.kwargs)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in spec.knobs():
            if key in MODEL_KNOBS:
                raise ConfigError(f"model {name} has no option {key!r} (it has: {', '.join(spec.knobs())})")
            raise ConfigError(f"unknown model option {key!r} (known: {', '.join(MODEL_KNOBS)})")
        kwargs[key] = value
    return kwargs


def build_model(name: str, kwargs: dict[str, Any] | None = None) -> Classifier:
    """Instantiate registered model ``name`` with resolved constructor ``kwargs`` (registry's if None)."""
    spec = MODELS.get(name)
    return spec.cls()(**(kwargs if kwargs is not None else spec.kwargs))
