"""The public Python API: evaluate any torch classifier with the tool's attacks, views and checks.

A researcher's model is an ``nn.Module`` on [0, 1] images. :func:`wrap` turns it into a
:class:`~cnnf_bench.zoo.classifier.Classifier`, optionally with extra *views* (functions of ``x``, such as
the first pass, the unrolled iterations or the averaged logits of an iterative model) and the view it
deploys. :func:`evaluate_model` runs a list of attacks (and, if asked, the automatic checks) on tensors or on a
dataset's fixed evaluation subset and returns an :class:`Evaluation`: the result records, the check
verdicts, the per-example flags and the report. Everything goes through the functions the CLI uses
(:func:`cnnf_bench.evaluate.evaluate_checkpoint`, :func:`cnnf_bench.checks.runner.check_checkpoint`,
:func:`cnnf_bench.report.build_tables`), so the records are the CLI's records and can share a store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cnnf_bench.bits import unpack_bits
from cnnf_bench.checks.base import CheckResult, CheckSettings
from cnnf_bench.checks.runner import check_checkpoint
from cnnf_bench.data import DATASETS, ImageSet
from cnnf_bench.errors import UsageError
from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint
from cnnf_bench.external import from_classifier
from cnnf_bench.report import build_tables, to_csv, to_latex, to_markdown
from cnnf_bench.results import ResultsStore
from cnnf_bench.zoo.classifier import DEPLOYED, Classifier
from cnnf_bench.zoo.wrapped import MODULE_VIEW, WrappedClassifier

__all__ = ["Evaluation", "check_model", "evaluate_model", "wrap"]

#: an attack: its registry name, or (name, parameters)
AttackArg = str | tuple[str, Mapping[str, Any]]
#: the images: a dataset name (its fixed evaluation subset) or (images in [0, 1], labels)
DataArg = str | tuple[Tensor, Tensor]


def wrap(
    module: nn.Module,
    views: Mapping[str, Callable[[Tensor], Tensor]] | None = None,
    deployed: str = MODULE_VIEW,
    num_classes: int = 10,
    in_shape: Sequence[int] = (1, 28, 28),
) -> Classifier:
    """A torch classifier on [0, 1] inputs as a :class:`Classifier` (see :class:`WrappedClassifier`).

    ``module`` itself is the view ``model``; ``views`` adds named functions of ``x``; ``deployed`` names
    the view whose logits score every example.
    """
    return WrappedClassifier(module, views, deployed, num_classes, in_shape)


@dataclass
class Evaluation:
    """What :func:`evaluate_model` made: result records (the CLI's format), check verdicts, and views of them."""

    records: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)

    def find(self, attack: str, target: str | None = None, loss: str | None = None) -> dict[str, Any]:
        """The record of ``attack`` (through ``target``, with ``loss`` where an attack has several)."""
        found = [
            r
            for r in self.records
            if r["attack"] == attack
            and (target is None or r["target"] in (target, "-"))
            and (loss is None or r["params"].get("loss") == loss)
        ]
        if not found:
            raise UsageError(f"no record of {attack}" + (f" through {target}" if target else ""))
        return found[0]

    def accuracy(self, attack: str, target: str | None = None, loss: str | None = None) -> float:
        """Fraction of examples still correctly classified after ``attack``."""
        record = self.find(attack, target, loss)
        return int(record["n_correct"]) / int(record["n"])

    def flags(self, attack: str, target: str | None = None, loss: str | None = None) -> np.ndarray:
        """Per example, whether it is still correctly classified after ``attack`` (in the images' order)."""
        record = self.find(attack, target, loss)
        return unpack_bits(str(record["correct"]), int(record["n"]))

    def worst_case(self) -> np.ndarray:
        """Per example, whether it survived every attack evaluated (the per-example worst case)."""
        attacked = [r for r in self.records if r["attack"] != "none"] or self.records
        flags = [unpack_bits(str(r["correct"]), int(r["n"])) for r in attacked]
        n = min(len(f) for f in flags)
        return np.logical_and.reduce([f[:n] for f in flags])

    def failed_checks(self) -> list[str]:
        """Ids of the checks that failed (their failure makes robust numbers potentially unreliable)."""
        return [c.check for c in self.checks if c.verdict.value == "fail"]

    def report(self, fmt: str = "markdown") -> str:
        """The paper-style table of these records (``markdown``, ``csv`` or ``latex``), with check flags."""
        renderers = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex}
        if fmt not in renderers:
            raise UsageError(f"report format must be one of {', '.join(renderers)}, got {fmt!r}")
        return renderers[fmt](build_tables(self.records, self.verdicts))


def _images(data: DataArg, dataset: str) -> ImageSet | None:
    """None for a dataset name (the evaluator loads its test split), else the given tensors as a set."""
    if isinstance(data, str):
        if data != dataset:
            raise UsageError(f"data {data!r} and dataset {dataset!r} differ; pass dataset={data!r}")
        return None
    x, y = data
    if not (isinstance(x, Tensor) and isinstance(y, Tensor)) or x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise UsageError("data must be (images N x C x H x W in [0, 1], labels N)")
    if not x.is_floating_point() or float(x.min()) < 0 or float(x.max()) > 1:
        raise UsageError("images must be floats in [0, 1]")
    return ImageSet(x.detach().to("cpu", torch.float32), y.detach().to("cpu", torch.int64), DATASETS.get(dataset))


def evaluate_model(
    model: nn.Module,
    attacks: Sequence[AttackArg],
    data: DataArg,
    *,
    dataset: str = "fmnist",
    targets: Sequence[str] = (DEPLOYED,),
    protocol: str = "paper",
    n: int | None = None,
    checks: bool | Sequence[str] = False,
    check_settings: CheckSettings | None = None,
    results: Path | None = None,
    data_dir: Path | None = None,
    name: str = "model",
    source: nn.Module | None = None,
    device: torch.device | str = "cpu",
    attack_seed: int = 0,
    batch_size: int = 250,
    force: bool = False,
) -> Evaluation:
    """Attack ``model`` with each of ``attacks`` through each of ``targets`` (views) and score it.

    Args:
        model: a :class:`Classifier` (see :func:`wrap`) or any ``nn.Module`` (wrapped as is).
        attacks: registry names (``cnnf-bench attacks``) or ``(name, parameters)``; ``none`` is clean accuracy.
        data: a dataset name (its fixed evaluation subset, as the CLI uses) or ``(images, labels)``.
        dataset: whose protocol settings apply (eps, step): ``fmnist`` or ``cifar10``.
        targets: views to attack through (``deployed``: the one the model deploys).
        protocol: ``paper``, ``strong`` or ``custom`` (explicit parameters always win).
        n: images (default: all given tensors, or 1,000 of a dataset).
        checks: True for every automatic check, or a list of check ids (``C6``, ``C13``, ...).
        check_settings: budgets of the checks (default: :class:`CheckSettings` on the model's views).
        results: a JSONL store to append records to (and to reuse records already there).
        data_dir: where the dataset's files are, when ``data`` names one (else the CLI's discovery order).
        name: the model's name in records and reports.
        source: the transfer attack's source model (required for ``transfer``).
        device: where to run.
        attack_seed: seed of the attacks' randomness.
        batch_size: images per attack batch.
        force: re-run attacks and checks whose records are already in ``results``.
    """
    ckpt = from_classifier(model, dataset, name)
    images = _images(data, dataset)
    store = None if results is None else ResultsStore(Path(results))
    out = Evaluation()
    source_ckpt = None if source is None else from_classifier(source, dataset, f"{name}-source")
    for item in attacks:
        attack, params = (item, {}) if isinstance(item, str) else (item[0], dict(item[1]))
        request = EvalRequest(
            attack=attack,
            params=params,
            targets=tuple(targets),
            n=n if n is not None else (None if images is not None else 1000),
            n_explicit=n is not None,
            attack_seed=attack_seed,
            batch_size=batch_size,
            protocol=protocol,
            source=source_ckpt,
        )
        made = evaluate_checkpoint(ckpt, request, store, device, data_dir, force=force, data=images)
        if not made and store is not None:  # already stored: give the stored records back
            made = _stored(store, ckpt.sha256, attack)
        out.records.extend(made)
    if checks:
        built = ckpt.build_model(device)
        settings = check_settings or CheckSettings(views=built.views())
        if images is not None and check_settings is None:
            settings = CheckSettings(views=built.views(), n=min(settings.n, len(images)))
        only = None if checks is True else list(checks)  # type: ignore[arg-type]
        checks_store = None if results is None else ResultsStore(Path(results).with_name("checks.jsonl"))
        out.checks, _ = check_checkpoint(
            ckpt, settings, None, checks_store, device, data_dir, only, force, data=images, verdicts=out.verdicts
        )
    return out


def _stored(store: ResultsStore, sha256: str, attack: str) -> list[dict[str, Any]]:
    return [r for r in store.latest() if r["checkpoint"]["sha256"] == sha256 and r["attack"] == attack]


def check_model(
    model: nn.Module,
    data: DataArg,
    *,
    dataset: str = "fmnist",
    only: Sequence[str] | None = None,
    settings: CheckSettings | None = None,
    device: torch.device | str = "cpu",
) -> list[CheckResult]:
    """The automatic checks (docs/checks.md) on ``model``; a shortcut for ``evaluate_model(..., checks=...)``."""
    result = evaluate_model(
        model, [], data, dataset=dataset, checks=list(only) if only else True, check_settings=settings, device=device
    )
    return result.checks
