"""Run one attack on one checkpoint and turn the outcome into result records.

One call handles several targets (views) and readouts at once and computes each distinct thing once:
at test-time cycles 0 every view is the same function, and an attack that never consults the deployed
model produces the same examples for every readout, which are then scored with each readout from one
inference pass (the grouping is planned in :mod:`cnnf_bench.eval_plan`). Records already in the store
are skipped unless forced.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.metadata
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from cnnf_bench import __version__
from cnnf_bench.attacks import ATTACKS, Attack, check_adversarial
from cnnf_bench.attacks.cost import PassCounter
from cnnf_bench.attacks.views import VIEWS
from cnnf_bench.bits import pack_bits
from cnnf_bench.checkpoint import Checkpoint, load_checkpoint
from cnnf_bench.config import baseline_config, from_dict, run_name
from cnnf_bench.data import ImageSet, eval_indices, load_split
from cnnf_bench.errors import CheckpointError, ConfigError, UsageError
from cnnf_bench.eval_plan import EvalRequest, Job, legacy_key, plan_jobs, stored_keys, subset_size
from cnnf_bench.progress import listen
from cnnf_bench.protocols import PROTOCOLS, attack_variants
from cnnf_bench.results import ResultsStore, record_key
from cnnf_bench.runtime import configure_torch, generator
from cnnf_bench.zoo import MODELS, FeedbackNet
from cnnf_bench.zoo.classifier import DEPLOYED, Classifier

SCHEMA = 1


@dataclass
class EvalEvent:
    """Progress of :func:`evaluate_checkpoint` (rendered by the CLI)."""

    kind: str  # "start", "iteration" (inside a batch), "batch", "skip", "done"
    done: int = 0
    total: int = 0
    label: str = ""
    info: dict[str, Any] = field(default_factory=dict)


Callback = Callable[[EvalEvent], None]


def make_attack(name: str, params: dict[str, Any]) -> Attack:
    """Instantiate registered attack ``name`` (validating its parameters)."""
    return ATTACKS.get(name).from_params(params)


def baseline_source(ckpt: Checkpoint) -> Path:
    """Default transfer source: the checkpoint of the model's CNN baseline with the same seed and config."""
    if ckpt.model_name not in MODELS:
        raise UsageError(f"{ckpt.model_name} is not a registered model, so it has no CNN baseline: pass --source")
    spec = MODELS.get(ckpt.model_name)
    if spec.baseline is None:
        raise UsageError(
            f"{ckpt.model_name} is itself a CNN baseline; transfer from it onto itself is its white-box "
            "attack (the paper shows '-'); pass --source to transfer from another checkpoint"
        )
    cfg = from_dict(ckpt.config)
    base_cfg = baseline_config(cfg, spec.baseline)
    path = ckpt.path.parent.parent / run_name(base_cfg) / ckpt.path.name
    if not path.exists():
        raise CheckpointError(
            f"transfer needs the CNN baseline {path} (same seed and settings); train it with "
            f"`cnnf-bench train --model {spec.baseline} --train-seed {cfg.seed} ...` or pass --source"
        )
    return path


def _versions() -> dict[str, str]:
    out = {"cnnf_bench": __version__, "torch": str(torch.__version__).split("+")[0]}
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        out["art"] = importlib.metadata.version("adversarial-robustness-toolbox")
    return out


def as_checkpoint(checkpoint: Path | Checkpoint) -> Checkpoint:
    """A loaded checkpoint: ``checkpoint`` itself, or the file it names."""
    return checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)


def given_subset(data: ImageSet, n: int | None) -> tuple[torch.Tensor, dict[str, Any]]:
    """The first ``n`` of a user's own images in their order, and the subset identity (a digest of them)."""
    import hashlib

    count = len(data) if n is None else min(n, len(data))
    digest = hashlib.sha256(data.images.contiguous().numpy().tobytes())
    digest.update(data.labels.contiguous().numpy().tobytes())
    return torch.arange(count), {"split": "given", "seed": None, "n": count, "sha256": digest.hexdigest()}


def evaluate_checkpoint(
    checkpoint: Path | Checkpoint,
    request: EvalRequest,
    store: ResultsStore | None = None,
    device: torch.device | str = "cpu",
    data_dir: Path | None = None,
    force: bool = False,
    callback: Callback | None = None,
    data: ImageSet | None = None,
) -> list[dict[str, Any]]:
    """Run ``request`` on ``checkpoint``; append new records to ``store``; return the records made.

    A protocol can define several settings of one attack (the strong protocol's PGD with the
    cross-entropy and the margin loss); each runs and makes its own records, unless the request's
    explicit parameters make them the same. ``checkpoint`` may be a file or an already loaded (or
    external, :mod:`cnnf_bench.external`) checkpoint; ``data``, when given, replaces the dataset's test
    split: its first ``n`` images are used in their order.
    """
    configure_torch()
    device = torch.device(device)
    ckpt = as_checkpoint(checkpoint)
    model = ckpt.build_model(device)
    if request.cycles is not None:
        if not isinstance(model, FeedbackNet):
            raise UsageError(f"test-time cycles apply to CNN-F models; {ckpt.model_name} has none")
        if request.cycles < 0:
            raise ConfigError(f"cycles must be >= 0, got {request.cycles}")
        model.cycles = request.cycles
    dataset = str(ckpt.config["data"]["dataset"])
    variants = [
        (make_attack(request.attack, params), n)
        for params, n in attack_variants(request.protocol, request.attack, dataset, request.params)
    ]
    for target in request.targets:
        if target != DEPLOYED and target not in model.views():
            VIEWS.get(target)  # an unknown name: the registry's error suggests close matches
        kind = model.view_kind(model.resolve_view(target))
        wanted = variants[0][0].needs_view_kind
        if variants[0][0].uses_view and kind != wanted:
            raise UsageError(
                f"{request.attack} attacks {wanted} views, and target {target!r} is a {kind} view "
                "(feature views recon and latent take the feature attack; the others take logit attacks)"
            )
    readouts = tuple(model.check_readout(r) for r in (request.readouts or (model.readout,)))
    if model.single_function:
        readouts = readouts[:1]
    probe = variants[0][0]
    targets = request.targets if probe.uses_view else ("-",)

    source_info: dict[str, Any] | None = None
    source_model: Classifier | None = None
    if probe.needs_source:
        source_path = request.source or baseline_source(ckpt)
        source_ckpt = as_checkpoint(source_path)
        if source_ckpt.config["data"]["dataset"] != dataset:
            raise UsageError(f"transfer source {source_path} is a {source_ckpt.config['data']['dataset']} model")
        source_model = source_ckpt.build_model(device)
        source_info = {
            "path": str(source_ckpt.path),
            "sha256": source_ckpt.sha256,
            "model": source_ckpt.model_name,
            "target": targets[0],
        }

    test = data if data is not None else load_split(dataset, False, data_dir)
    sizes = [subset_size(request, protocol_n, len(test), dataset) for _, protocol_n in variants]
    present, present_legacy = stored_keys(store, request.protocol)
    out = []
    for (attack, _), (n, clipped) in zip(variants, sizes, strict=True):
        if data is None:
            index = eval_indices(len(test), n, request.subset_seed)
            subset: dict[str, Any] = {"split": "test", "seed": request.subset_seed, "n": int(index.shape[0])}
        else:
            index, subset = given_subset(data, n)
        identity = {
            "checkpoint": ckpt.sha256,
            "cycles": getattr(model, "cycles", 0),
            "protocol": request.protocol,
            "attack": attack.name,
            "params": attack.params(),
            "attack_seed": request.attack_seed,
            "subset": subset,
            "source": None if source_info is None else source_info["sha256"],
        }
        jobs = plan_jobs(model, attack, targets, readouts, identity)

        def stored(ident: dict[str, Any]) -> bool:
            return record_key(ident) in present or legacy_key(ident) in present_legacy

        todo = [j for j in jobs if force or not all(stored(ident) for _, _, ident in j.outputs)]
        if callback is not None:
            for job in jobs:
                if job not in todo:
                    for target, readout, _ in job.outputs:
                        callback(EvalEvent("skip", label=f"{_attack_label(attack)} {target} {readout}"))
        records = []
        for job in todo:
            records.extend(
                _run_job(job, ckpt, model, source_model, attack, test.subset(index), request, subset, device, callback)
            )
        extras: dict[str, Any] = {}
        reach = getattr(attack, "reach", None)
        if callable(reach):
            extras["reach"] = float(reach())
        notes = PROTOCOLS.get(request.protocol).limits(attack.name, attack.params()) + ([clipped] if clipped else [])
        if notes:
            extras["limits"] = notes
        for record in records:
            record["source"] = source_info
            limits = [*extras.get("limits", []), *record["extras"].get("limits", [])]
            record["extras"] = {**extras, **record["extras"], **({"limits": limits} if limits else {})}
            if store is None or store.append(record, force=force):
                out.append(record)
    return out


def _attack_label(attack: Attack) -> str:
    """The attack's name, with its loss when it is not the default cross-entropy, and its eps (progress
    labels: a suite runs one attack at several eps, and "skip fgsm first last" said which not)."""
    loss = attack.params().get("loss")
    name = f"{attack.name}-{loss}" if isinstance(loss, str) and loss != "ce" else attack.name
    return f"{name} eps {attack.eps:.4g}" if 0 < attack.eps < 1 else name


def _iteration_events(
    callback: Callback | None, label: str, start: int, size: int, total: int
) -> Callable[[int, int], None] | None:
    """A listener that turns an attack's per-iteration reports inside one batch into "iteration" events."""
    if callback is None:
        return None

    def on_iteration(done: int, iterations: int) -> None:
        fraction = done / iterations if iterations else 1.0
        info = {"iteration": done, "iterations": iterations, "batch_start": start, "batch_size": size}
        callback(EvalEvent("iteration", start + int(size * fraction), total, label, info))

    return on_iteration


def _deployed(model: Classifier, readout: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The deployed inference with a given readout (what an adaptive attacker may query)."""

    def score(x: torch.Tensor) -> torch.Tensor:
        return model.logits(x, readout)

    return score


def within_l2(
    model: Classifier, x_adv: torch.Tensor, x: torch.Tensor, y: torch.Tensor, budget: float, readout: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Score a minimum-norm attack at an L2 budget: examples farther than ``budget`` fall back to the clean
    image. Also returns each example's L2 distance where it fools the deployed model, else infinity."""
    dist = (x_adv - x).flatten(1).norm(dim=1)
    with torch.no_grad():
        fooled = model.logits(x_adv, readout).argmax(1) != y
    found = torch.where(fooled, dist, torch.full_like(dist, float("inf")))
    keep = (dist <= budget).view(-1, *([1] * (x.dim() - 1)))
    return torch.where(keep, x_adv, x), found


def _l2_summary(attack: Attack, found: torch.Tensor, budget: float, ckpt: Checkpoint, target: str) -> dict[str, Any]:
    """Median L2 of a minimum-norm attack's adversarials (not-found counts as infinite; None when more than
    half were not found) and a note for the report."""
    median = float(found.median()) if found.numel() else float("inf")
    finite = median if median != float("inf") else None
    shown = f"{median:.3g}" if finite is not None else "not reached (under half of the images broken)"
    note = (
        f"{attack.name} on {ckpt.model_name} seed {ckpt.config.get('seed')} ({target}) is minimum-norm: accuracy at "
        f"L2 <= {budget:g}; median L2 {shown} over {found.numel()} images"
    )
    return {"median_l2": finite, "l2_budget": budget, "found_fraction": float((found < float("inf")).float().mean()),
            "limits": [note]}  # fmt: skip


def _run_job(
    job: Job,
    ckpt: Checkpoint,
    model: Classifier,
    source_model: Classifier | None,
    attack: Attack,
    data: ImageSet,
    request: EvalRequest,
    subset: dict[str, Any],
    device: torch.device,
    callback: Callback | None,
) -> list[dict[str, Any]]:
    label = f"{_attack_label(attack)} {job.target} -> {', '.join(sorted({r for _, r, _ in job.outputs}))}"
    counter = PassCounter()  # what the attack spends, per image (the record's "cost")
    forward = None
    if attack.uses_view:
        owner = source_model if source_model is not None else model
        forward = counter.view(owner.view(job.target, job.view_readout))
    score = None if job.readout_for_score is None else counter.score(_deployed(model, job.readout_for_score))
    gen = generator(request.attack_seed, device)
    flags: dict[str, list[torch.Tensor]] = {r: [] for _, r, _ in job.outputs}
    predictions: dict[str, list[torch.Tensor]] = {r: [] for _, r, _ in job.outputs}
    max_linf = 0.0
    budget = getattr(attack, "l2_budget", None)
    distances: list[torch.Tensor] = []
    start = time.perf_counter()
    total = len(data)
    if callback is not None:
        callback(EvalEvent("start", 0, total, label))
    correct_so_far = 0
    begin = getattr(attack, "begin", None)  # attacks that keep a run log (AutoAttack's stages) reset it
    if callable(begin):
        begin()
    for lo in range(0, total, request.batch_size):
        x, y = data.batch(torch.arange(lo, min(lo + request.batch_size, total)), device)
        with listen(_iteration_events(callback, label, lo, len(y), total)):
            x_adv = attack.run(forward or model, x, y, gen, score)  # type: ignore[arg-type]
        max_linf = max(max_linf, check_adversarial(x_adv, x, attack.eps, attack.name))
        if budget is not None:
            x_adv, found = within_l2(model, x_adv, x, y, float(budget), job.outputs[0][1])
            distances.append(found.cpu())
        with torch.no_grad():
            logits = model.readout_logits(x_adv, tuple(flags))
            for readout, collected in flags.items():
                predicted = logits[readout].argmax(1)
                predictions[readout].append(predicted.to(torch.uint8).cpu())
                collected.append((predicted == y).cpu())
        correct_so_far += int(flags[job.outputs[0][1]][-1].sum())
        if callback is not None:
            done = min(lo + request.batch_size, total)
            callback(EvalEvent("batch", done, total, label, {"accuracy": correct_so_far / done}))
    seconds = time.perf_counter() - start
    run_log = getattr(attack, "run_log", None)
    logged = run_log() if callable(run_log) else {}
    base = {
        "schema": SCHEMA,
        "checkpoint": {"path": str(ckpt.path), "sha256": ckpt.sha256, "run": ckpt.path.parent.name},
        "dataset": ckpt.config["data"]["dataset"],
        "model": ckpt.model_name,
        "model_kwargs": ckpt.model_kwargs,
        **({"family": model.family} if hasattr(model, "family") else {}),
        "cycles": getattr(model, "cycles", 0),
        "train_seed": ckpt.config["seed"],
        "train_mode": ckpt.config["train"]["mode"],
        "protocol": request.protocol,
        "attack": attack.name,
        "params": attack.params(),
        "eps": attack.eps,
        "attack_seed": request.attack_seed,
        "subset": subset,
        "max_linf": max_linf,
        "seconds": seconds,
        "cost": counter.per_image(total, seconds),
        "extras": {"batch_size": request.batch_size, "shared_with": len(job.outputs), **logged},
        "versions": _versions(),
        "device": str(device),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if budget is not None:
        base["extras"].update(_l2_summary(attack, torch.cat(distances), float(budget), ckpt, job.target))
    out = []
    for target, readout, ident in job.outputs:
        correct = torch.cat(flags[readout]).numpy()
        labels = torch.cat(predictions[readout]).numpy()
        out.append(
            {
                **base,
                "key": record_key(ident),
                "target": target,
                "deployed_view": model.deployed_view(readout),  # lets a report put "deployed" views together
                "readout": readout,
                "n": int(correct.shape[0]),
                "n_correct": int(correct.sum()),
                "correct": pack_bits(correct),
                "predictions": base64.b64encode(labels.tobytes()).decode("ascii"),
            }
        )
    if callback is not None:
        callback(EvalEvent("done", total, total, label, {"seconds": seconds}))
    return out
