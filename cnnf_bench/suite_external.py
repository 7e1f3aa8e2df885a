"""A suite's ``external:`` list: models the suite does not train, evaluated (and checked) beside its own.

Each entry names a user's model as ``evaluate --model-spec`` does: ``spec`` is ``module:factory`` (an
``nn.Module`` on [0, 1] images, or a :class:`~cnnf_bench.zoo.classifier.Classifier` with its own views)
with an optional state dict in ``weights``, or ``robustbench:NAME`` with ``weights`` the RobustBench
``models/`` folder. The suite gives it a ``name``: its records carry that name and the report shows a row
of that name. It is attacked on its own ``targets`` (default ``deployed``: a wrapped model's own
forward) and scored with its own ``readouts`` (default: the one it deploys), since the suite's targets
and readouts name CNN-F views.

Parsing here is torch-free (``status`` plans a suite without torch); :mod:`cnnf_bench.external` builds
the model when a job runs. An entry's :meth:`~ExternalEntry.identity` (spec, dataset, the weights file's
sha256) goes into its jobs' ids, so new weights are new jobs.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnf_bench.config import RECIPES
from cnnf_bench.errors import ConfigError
from cnnf_bench.fileio import sha256_file

EXTERNAL_KEYS = ("name", "spec", "weights", "dataset", "targets", "readouts")
#: ``spec`` prefix of a RobustBench zoo model (as ``--model-spec robustbench:NAME``)
ROBUSTBENCH = "robustbench:"


@dataclass(frozen=True)
class ExternalEntry:
    """One entry of a suite's ``external:`` list (see the module docstring)."""

    name: str
    spec: str
    dataset: str
    weights: Path | None = None
    targets: tuple[str, ...] = ("deployed",)
    readouts: tuple[str, ...] | None = None
    #: the suite line it comes from, for error messages
    where: str = ""

    @property
    def robustbench(self) -> str | None:
        """The RobustBench model name of a ``robustbench:NAME`` spec, else None."""
        return self.spec[len(ROBUSTBENCH) :] if self.spec.startswith(ROBUSTBENCH) else None

    def weights_file(self) -> Path | None:
        """The file holding the weights: ``weights`` itself, or the RobustBench zoo file in that folder."""
        if self.robustbench is None:
            return self.weights
        folder = self.weights if self.weights is not None else Path("models")
        return folder / self.dataset / "Linf" / f"{self.robustbench}.pt"

    def identity(self) -> dict[str, Any]:
        """What identifies the model in a job id: name, spec, dataset and the weights file's sha256."""
        file = self.weights_file()
        digest = None
        if file is not None and file.is_file():
            try:
                digest = sha256_file(file)
            except OSError as exc:
                raise ConfigError(f"{self.where}: cannot read weights {file}: {exc.strerror or exc}") from None
        return {"name": self.name, "spec": self.spec, "dataset": self.dataset, "weights": digest}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{where} must be a name or a non-empty list of names")
    return tuple(values)


def _entry(data: Any, default_dataset: str | None, where: str) -> ExternalEntry:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping with name and spec (e.g. {{name: mynet, spec: pkg.mod:build}})")
    for key in data:
        if key not in EXTERNAL_KEYS:
            close = difflib.get_close_matches(str(key), EXTERNAL_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {where}.{key}{hint} (known: {', '.join(EXTERNAL_KEYS)})")
    for key in ("name", "spec"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ConfigError(f"{where}.{key} must be given as a non-empty string")
    spec = data["spec"].strip()
    rb = spec.startswith(ROBUSTBENCH)
    module, sep, factory = spec.partition(":")
    if not rb and (not sep or not module or not factory):
        raise ConfigError(f"{where}.spec must be module:factory or robustbench:NAME, got {spec!r}")
    if rb and not spec[len(ROBUSTBENCH) :]:
        raise ConfigError(f"{where}.spec robustbench: needs a model name (robustbench:NAME)")
    dataset = data.get("dataset", default_dataset or ("cifar10" if rb else "fmnist"))
    if dataset not in RECIPES:
        raise ConfigError(f"{where}.dataset must be one of {', '.join(RECIPES)}, got {dataset!r}")
    weights = data.get("weights")
    if weights is not None and (not isinstance(weights, str) or not weights):
        raise ConfigError(f"{where}.weights must be a path")
    path = Path(weights) if weights is not None else None
    if path is not None and not rb and not path.is_file():
        raise ConfigError(f"{where}.weights: {path} is not a file")
    if path is not None and rb and path.exists() and not path.is_dir():
        raise ConfigError(f"{where}.weights: for robustbench: give the models folder, and {path} is a file")
    return ExternalEntry(
        name=data["name"].strip(),
        spec=spec,
        dataset=str(dataset),
        weights=path,
        targets=_strings(data["targets"], f"{where}.targets") if "targets" in data else ("deployed",),
        readouts=_strings(data["readouts"], f"{where}.readouts") if "readouts" in data else None,
        where=where,
    )


def parse_external(
    value: Any, default_dataset: str | None, reserved: tuple[str, ...], where: str
) -> tuple[ExternalEntry, ...]:
    """The ``external:`` list (absent: none). Names are unique and none is a registered model (``reserved``),
    so a row and an attack entry's ``models`` filter always mean one model."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of {{name, spec, weights, dataset}} entries")
    entries = tuple(_entry(item, default_dataset, f"{where}[{i}]") for i, item in enumerate(value))
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise ConfigError(f"{entry.where}.name {entry.name!r} is given twice; each external model needs its own")
        if entry.name in reserved:
            raise ConfigError(f"{entry.where}.name {entry.name!r} is a registered model's name; choose another")
        seen.add(entry.name)
    return entries
