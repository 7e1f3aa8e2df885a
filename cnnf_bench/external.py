"""Models the tool did not train, presented to ``evaluate`` and ``check`` as checkpoints.

``evaluate`` and ``check`` work on a :class:`~cnnf_bench.checkpoint.Checkpoint`: an identity (a sha256
that keys the results), a dataset, training facts for the report, and a way to build the model. An
:class:`ExternalModel` supplies the same from elsewhere:

- :func:`from_classifier`: a model object already in memory (the public API); its identity is a digest
  of its weights and views, so the same weights give the same keys and stored results are reused;
- :func:`from_model_spec`: ``module:factory`` plus an optional weights file (``--model-spec``,
  ``--weights``); its identity is a digest of the spec and the weights file's bytes;
- :func:`from_entry`: an entry of a suite's ``external:`` list (the same, under the suite's name).

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
from cnnf_bench.suite_external import ExternalEntry
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


def load_factory(spec: str, what: str = "--model-spec") -> Callable[[], nn.Module]:
    """The callable named by ``module:factory`` (``module`` importable from the current folder too);
    ``what`` names the option or key the spec came from in error messages."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"{what} expects module:factory (e.g. mypkg.models:build), got {spec!r}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module may fail to import in any way
        raise UsageError(f"{what}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise UsageError(f"{what}: {module_name} has no attribute {attr!r}")
    if not callable(target):
        raise UsageError(f"{what}: {spec} is not callable")
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


def from_model_spec(
    spec: str, weights: Path | None, dataset: str, name: str | None = None, what: str = "--model-spec"
) -> ExternalModel:
    """``module:factory`` (returning an ``nn.Module`` or a :class:`Classifier`) with optional weights; its
    records name it ``name`` (default: the factory's name)."""
    factory = load_factory(spec, what)
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
        raise UsageError(f"{what} {spec} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(built, nn.Module):
        raise UsageError(f"{what} {spec} returned a {type(built).__name__}, not a torch nn.Module")
    if weights is not None:
        _load_weights(built, Path(weights))
    classifier = as_classifier(built)
    name = name or spec.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
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


#: ``--model-spec`` prefix that loads a RobustBench zoo model instead of calling a factory
ROBUSTBENCH = "robustbench:"
#: our dataset names -> RobustBench's
_RB_DATASETS = {"cifar10": "cifar10"}


def robustbench_loader() -> Callable[..., nn.Module]:
    """``robustbench.utils.load_model``. RobustBench 1.1.1 imports AutoAttack as ``autoattack`` (its git
    name) while PyPI ships the same code as ``pyautoattack``: the PyPI name is aliased when needed."""
    try:
        importlib.import_module("autoattack.state")
    except ImportError:
        aa = importlib.import_module("pyautoattack")
        sys.modules.setdefault("autoattack", aa)
        sys.modules.setdefault("autoattack.state", importlib.import_module("pyautoattack.state"))
    from robustbench.utils import load_model

    return load_model  # type: ignore[no-any-return]


def from_robustbench(name: str, model_dir: Path | None, dataset: str, label: str | None = None) -> ExternalModel:
    """A RobustBench zoo model (L-inf) through the ``robustbench`` package's own loader.

    ``model_dir`` holds the zoo's files (``<dataset>/Linf/<name>.pt``, RobustBench's layout); a file that
    is there is loaded without any download. The optional extra ``robustbench`` provides the package.
    Its records name it ``label`` (default: ``name``).
    """
    if dataset not in _RB_DATASETS:
        raise UsageError(f"RobustBench models here are for {', '.join(_RB_DATASETS)}; pass --dataset cifar10")
    load_model = _robustbench_or_advice()
    folder = Path(model_dir) if model_dir is not None else Path("models")
    file = folder / _RB_DATASETS[dataset] / "Linf" / f"{name}.pt"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = load_model(
                model_name=name, model_dir=str(folder), dataset=_RB_DATASETS[dataset], threat_model="Linf"
            )
    except Exception as exc:  # unknown names, failed downloads and damaged files all end here
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"RobustBench model {name!r} ({file}): {reason}") from None
    classifier = as_classifier(module)
    digest = hashlib.sha256(f"robustbench|{dataset}|Linf|{name}|".encode())
    if file.is_file():
        digest.update(sha256_file(file).encode())
    return ExternalModel(
        path=file,
        model_name=label or name,
        model_kwargs={"spec": f"{ROBUSTBENCH}{name}", "cycles": 0},
        state_dict={},
        config=_config(dataset),
        complete=True,
        sha256=digest.hexdigest(),
        builder=lambda: classifier,
    )


def _robustbench_or_advice() -> Callable[..., nn.Module]:
    try:
        return robustbench_loader()
    except ImportError:
        raise UsageError(
            "robustbench:... models need the optional extra: uv sync --extra robustbench "
            "(or pip install 'cnnf-bench[robustbench]')"
        ) from None


def check_spec(spec: str) -> None:
    """Fail early (a one-line usage error) when ``spec`` cannot be loaded: its module does not import, its
    factory is missing, or (``robustbench:NAME``) the optional extra is not installed. Builds nothing."""
    if spec.startswith(ROBUSTBENCH):
        _robustbench_or_advice()
    else:
        load_factory(spec, "spec")


def from_entry(entry: ExternalEntry) -> ExternalModel:
    """A suite's ``external:`` entry as an evaluable checkpoint, named as the suite names it."""
    if entry.robustbench is not None:
        return from_robustbench(entry.robustbench, entry.weights, entry.dataset, label=entry.name)
    return from_model_spec(entry.spec, entry.weights, entry.dataset, name=entry.name, what=f"{entry.where}.spec")


def resolve_model(
    checkpoint: Path | None, model_spec: str | None, weights: Path | None, dataset: str | None
) -> Path | Checkpoint:
    """What ``evaluate`` / ``check`` evaluate: a checkpoint file, or a model from ``--model-spec``.

    ``--model-spec module:factory`` calls the factory (an ``nn.Module`` on [0, 1] images, or a
    :class:`Classifier` with its own views) and loads ``--weights`` (a state dict) into it;
    ``--model-spec robustbench:NAME`` loads a RobustBench zoo model from the folder ``--weights``.
    """
    if model_spec is None:
        if weights is not None or dataset is not None:
            raise UsageError("--weights and --dataset go with --model-spec")
        if checkpoint is None:
            raise UsageError("give --checkpoint, or --model-spec module:factory (with --weights)")
        return checkpoint
    if checkpoint is not None:
        raise UsageError("give either --checkpoint or --model-spec, not both")
    if model_spec.startswith(ROBUSTBENCH):
        return from_robustbench(model_spec[len(ROBUSTBENCH) :], weights, dataset or "cifar10")
    return from_model_spec(model_spec, weights, dataset or "fmnist")
