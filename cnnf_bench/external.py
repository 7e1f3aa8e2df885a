"""Models the tool did not train, presented to ``evaluate`` and ``check`` as checkpoints.

``evaluate`` and ``check`` work on a :class:`~cnnf_bench.checkpoint.Checkpoint`: an identity (a sha256
that keys the results), a dataset, training facts for the report, and a way to build the model. An
:class:`ExternalModel` supplies the same from elsewhere:

- :func:`from_classifier`: a model object already in memory (the public API); its identity is a digest
  of its weights and views, so the same weights give the same keys and stored results are reused;
- :func:`from_model_spec`: ``module:factory`` plus an optional weights file (``--model-spec``,
  ``--weights``); its identity is a digest of the spec and the weights file's bytes.

So a user's model goes through the very code that evaluates the zoo's models: no second path.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnf_bench.checkpoint import Checkpoint, sha256_file
from cnnf_bench.config import RECIPES
from cnnf_bench.errors import CheckpointError, ConfigError, UsageError
from cnnf_bench.zoo.classifier import Classifier
from cnnf_bench.zoo.wrapped import WrappedClassifier

#: the training mode records of external models carry (the tool did not train them)
EXTERNAL_MODE = "external"


@dataclass
class ExternalModel(Checkpoint):
    """A checkpoint-shaped handle on a model built by ``builder`` (see the module docstring)."""

    builder: Callable[[], Classifier] | None = None

    def build_model(self, device: torch.device | str = "cpu") -> Any:
        """The model, in evaluation mode, on ``device``."""
        if self.builder is None:
            raise CheckpointError(f"{self.path}: no way to build this model")
        return self.builder().to(device).eval()


def _config(dataset: str) -> dict[str, Any]:
    if dataset not in RECIPES:
        raise ConfigError(f"unknown dataset {dataset!r} (known: {', '.join(RECIPES)})")
    return {"data": {"dataset": dataset}, "seed": None, "train": {"mode": EXTERNAL_MODE}}


def weights_digest(module: nn.Module, extra: str = "") -> str:
    """sha256 of a module's state (names, dtypes, shapes, values) and ``extra`` text."""
    digest = hashlib.sha256(extra.encode())
    for name, tensor in sorted(module.state_dict().items()):
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


def as_classifier(model: nn.Module) -> Classifier:
    """``model`` itself when it already is a :class:`Classifier`, else wrapped with its forward as the only view."""
    return model if isinstance(model, Classifier) else WrappedClassifier(model)


def from_classifier(model: nn.Module, dataset: str, name: str = "model") -> ExternalModel:
    """An in-memory model (wrapped if it is a plain ``nn.Module``) as an evaluable checkpoint."""
    classifier = as_classifier(model)
    views = ",".join(classifier.views())
    sha = weights_digest(classifier, f"{name}|{type(classifier).__name__}|{views}")
    return ExternalModel(
        path=Path(f"memory:{name}"),
        model_name=name,
        model_kwargs={"cycles": int(getattr(classifier, "cycles", 0)), "views": list(classifier.views())},
        state_dict={},
        config=_config(dataset),
        complete=True,
        sha256=sha,
        builder=lambda: classifier,
    )


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """The callable named by ``module:factory`` (``module`` importable from the current folder too)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"--model-spec expects module:factory (e.g. mypkg.models:build), got {spec!r}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module may fail to import in any way
        raise UsageError(f"--model-spec: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise UsageError(f"--model-spec: {module_name} has no attribute {attr!r}")
    if not callable(target):
        raise UsageError(f"--model-spec: {spec} is not callable")
    return target  # type: ignore[no-any-return]


def _load_weights(module: nn.Module, weights: Path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{weights} is not a readable state dict: {reason}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{weights} holds a {type(state).__name__}, not a state dict")
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        lines = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in lines[1:3]) if len(lines) > 1 else lines[0]
        raise CheckpointError(f"{weights} does not fit the model: {detail[:200]}") from None


def from_model_spec(spec: str, weights: Path | None, dataset: str) -> ExternalModel:
    """``module:factory`` (returning an ``nn.Module`` or a :class:`Classifier`) with optional weights."""
    factory = load_factory(spec)
    if weights is not None and not Path(weights).is_file():
        raise CheckpointError(f"weights file {weights} does not exist")
    digest = hashlib.sha256(f"spec|{spec}|".encode())
    if weights is not None:
        try:
            digest.update(sha256_file(Path(weights)).encode())
        except OSError as exc:
            raise CheckpointError(f"cannot read weights {weights}: {exc.strerror or exc}") from None

    try:
        built = factory()
    except Exception as exc:  # the user's factory may fail in any way
        raise UsageError(f"--model-spec {spec} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(built, nn.Module):
        raise UsageError(f"--model-spec {spec} returned a {type(built).__name__}, not a torch nn.Module")
    if weights is not None:
        _load_weights(built, Path(weights))
    classifier = as_classifier(built)
    name = spec.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    return ExternalModel(
        path=Path(weights) if weights is not None else Path(f"spec:{spec}"),
        model_name=name,
        model_kwargs={"spec": spec, "cycles": int(getattr(classifier, "cycles", 0))},
        state_dict={},
        config=_config(dataset),
        complete=True,
        sha256=digest.hexdigest(),
        builder=lambda: classifier,
    )
