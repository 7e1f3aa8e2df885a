"""A training run on disk: open or resume it, prepare model, data and optimiser state, save each epoch.

:func:`cnnf_bench.train.fit` and :func:`cnnf_bench.train_fpd.fit_fpd` differ in their step and their
optimiser state, not in how a run starts: both go through :func:`prepare_run`, so a run resumed after
a kill restores the same things in the same order (weights, each optimiser or scheduler state, then
the RNG state) whichever family it trains.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import torch

from cnnf_bench import __version__
from cnnf_bench.checkpoint import CHECKPOINT_NAME, Checkpoint, atomic_write_bytes, load_checkpoint, save_checkpoint
from cnnf_bench.config import RunConfig, TrainConfig, describe_differences, from_dict, to_dict
from cnnf_bench.data import ImageSet, load_split, seeded_subset
from cnnf_bench.errors import CheckpointError, ConfigError
from cnnf_bench.runtime import configure_torch, rng_state, seed_everything, set_rng_state
from cnnf_bench.zoo import MODEL_KNOBS, Classifier, build_model, resolve_kwargs


@dataclass
class TrainEvent:
    """Progress report from :func:`cnnf_bench.train.fit`, rendered by the CLI (the library never prints)."""

    kind: str  # "start", "resume", "batch", "epoch", "done"
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)


Callback = Callable[[TrainEvent], None]


@dataclass
class TrainResult:
    """Where the checkpoint is and how the run went."""

    path: Path
    epochs_run: int
    metrics: list[dict[str, Any]]
    already_complete: bool = False


class Stateful(Protocol):
    """An optimiser or scheduler: what a checkpoint's ``train_state`` holds besides the RNG state."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


M = TypeVar("M", bound=Classifier)


@dataclass
class PreparedRun(Generic[M]):
    """A run ready for its next epoch: the model (weights restored on resume), its data, the optimiser
    and scheduler states by their ``train_state`` names, and the metrics of the epochs already run."""

    path: Path
    model: M
    kwargs: dict[str, Any]
    train_set: ImageSet
    test_set: ImageSet
    n_batches: int
    states: dict[str, Stateful]
    metrics: list[dict[str, Any]]
    start_epoch: int

    def end_epoch(
        self, cfg: RunConfig, epoch: int, stats: dict[str, Any], device: torch.device, callback: Callback | None
    ) -> None:
        """Record epoch ``epoch`` (0-based): append its stats, save the checkpoint, report it."""
        stats["epoch"] = epoch + 1
        self.metrics.append(stats)
        train_state = {name: state.state_dict() for name, state in self.states.items()}
        save_epoch(self.path, cfg, self.model, self.kwargs, self.metrics, train_state, device)
        if callback is not None:
            assert cfg.train.epochs is not None
            callback(TrainEvent("epoch", epoch + 1, cfg.train.epochs, self.n_batches, self.n_batches, stats))


def batches_per_epoch(n: int, cfg: TrainConfig) -> int:
    """Number of optimisation steps in one epoch over ``n`` images."""
    count = n // cfg.batch_size if cfg.drop_last else math.ceil(n / cfg.batch_size)
    count = max(count, 1)
    return min(count, cfg.limit_batches) if cfg.limit_batches else count


def load_data(cfg: RunConfig, data_dir: Path | None) -> tuple[ImageSet, ImageSet]:
    """The (seeded-subset) training and test sets a run uses."""
    assert cfg.data.dataset is not None
    train = load_split(cfg.data.dataset, True, data_dir)
    test = load_split(cfg.data.dataset, False, data_dir)
    train = train.subset(seeded_subset(len(train), cfg.data.train_subset, cfg.data.subset_seed))
    test = test.subset(seeded_subset(len(test), cfg.data.test_subset, cfg.data.subset_seed))
    return train, test


def open_run(cfg: RunConfig, path: Path, resume: bool) -> Checkpoint | TrainResult | None:
    """The checkpoint to resume from (None: start afresh), or the finished result of a complete run.

    A checkpoint that exists without ``resume``, or whose config differs from ``cfg``, is an error.
    """
    if not path.exists():
        return None
    if not resume:
        raise CheckpointError(f"{path} already exists; pass --resume to continue it, or use another --output-dir")
    ckpt = load_checkpoint(path)
    # through from_dict, so options added after the checkpoint was written compare as their defaults
    diffs = describe_differences(to_dict(from_dict(ckpt.config)), to_dict(cfg))
    if diffs:
        raise ConfigError(f"--resume: the config differs from {path}'s ({'; '.join(diffs)})")
    if ckpt.complete:
        return TrainResult(path, 0, ckpt.metrics, already_complete=True)
    if ckpt.train_state is None:
        raise CheckpointError(f"{path} holds no training state to resume from")
    return ckpt


def prepare_run(
    cfg: RunConfig,
    run_dir: Path,
    device: torch.device,
    data_dir: Path | None,
    resume: bool,
    callback: Callback | None,
    model_type: type[M],
    make_states: Callable[[M, int], dict[str, Stateful]],
) -> PreparedRun[M] | TrainResult:
    """Open ``run_dir``'s run (the finished result if it is complete), load the data, seed, build the
    model and, through ``make_states(model, batches_per_epoch)``, its optimiser and scheduler states;
    restore all of them and the RNG state from the checkpoint on resume; report "start" or "resume" and
    write ``config.yaml``. The seeding comes before the model is built, so its initial weights depend
    on the seed alone.
    """
    configure_torch()
    assert cfg.train.epochs is not None
    path = run_dir / CHECKPOINT_NAME
    ckpt = open_run(cfg, path, resume)
    if isinstance(ckpt, TrainResult):
        return ckpt
    train_set, test_set = load_data(cfg, data_dir)
    seed_everything(cfg.seed)
    kwargs = resolve_kwargs(cfg.model.name, {k: getattr(cfg.model, k) for k in MODEL_KNOBS})
    model = build_model(cfg.model.name, kwargs).to(device)
    assert isinstance(model, model_type)
    n_batches = batches_per_epoch(len(train_set), cfg.train)
    states = make_states(model, n_batches)
    metrics: list[dict[str, Any]] = []
    start_epoch = 0
    if ckpt is not None:
        assert ckpt.train_state is not None
        model.load_state_dict(ckpt.state_dict)
        for name, state in states.items():
            state.load_state_dict(ckpt.train_state[name])
        set_rng_state(ckpt.train_state["rng"])
        metrics = ckpt.metrics
        start_epoch = ckpt.epoch
    if callback is not None:
        info = {"path": str(path), "train_images": len(train_set)}
        kind = "resume" if ckpt is not None else "start"
        callback(TrainEvent(kind, start_epoch, cfg.train.epochs, 0, n_batches, info))
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_text(run_dir / "config.yaml", _yaml(to_dict(cfg)))
    return PreparedRun(path, model, kwargs, train_set, test_set, n_batches, states, metrics, start_epoch)


def save_epoch(
    path: Path,
    cfg: RunConfig,
    model: Classifier,
    kwargs: dict[str, Any],
    metrics: list[dict[str, Any]],
    train_state: dict[str, Any],
    device: torch.device,
) -> None:
    """Write the self-describing checkpoint after an epoch, and ``metrics.jsonl`` beside it."""
    assert cfg.train.epochs is not None
    epoch = len(metrics)
    save_checkpoint(
        path,
        {
            "model": {"name": cfg.model.name, "kwargs": kwargs},
            "state_dict": model.state_dict(),
            "config": to_dict(cfg),
            "metrics": metrics,
            "epoch": epoch,
            "complete": epoch == cfg.train.epochs,
            "train_state": {**train_state, "rng": rng_state()},
            "versions": {"cnnf_bench": __version__, "torch": str(torch.__version__), "device": str(device)},
        },
    )
    _write_text(path.parent / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())
