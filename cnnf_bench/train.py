"""Training: ``train_one_epoch`` + ``evaluate_clean`` + a short ``fit`` that checkpoints every epoch.

Randomness is explicit and derived from (seed, epoch): the batch order, the augmentation and the PGD
or noise draws of epoch e do not depend on what ran before, so a run resumed from the checkpoint of
epoch e-1 continues bit for bit like an uninterrupted one (on the CPU).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnf_bench.attacks.pgd import pgd_linf
from cnnf_bench.config import RunConfig, TrainConfig
from cnnf_bench.data import ImageSet
from cnnf_bench.feedback import TiedLinear
from cnnf_bench.losses import adversarial_loss, standard_loss
from cnnf_bench.runtime import derive_seed, frozen_eval, generator
from cnnf_bench.train_run import (
    Callback,
    Stateful,
    TrainEvent,
    TrainResult,
    batches_per_epoch,
    prepare_run,
)
from cnnf_bench.zoo import Classifier, FeedbackNet

EVAL_BATCH = 500


def build_optimizer(model: FeedbackNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (or Adam) with FC weights in their own group, whose weight decay is multiplied by
    ``fc_weight_decay_factor`` (2 reproduces the original's aliased Linear pair, reference 1.2)."""
    fc_ids = {id(m.weight) for m in model.modules() if isinstance(m, TiedLinear)}
    fc = [p for p in model.parameters() if id(p) in fc_ids]
    rest = [p for p in model.parameters() if id(p) not in fc_ids]
    groups = [
        {"params": rest, "weight_decay": cfg.weight_decay},
        {"params": fc, "weight_decay": cfg.weight_decay * cfg.fc_weight_decay_factor},
    ]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)


def build_scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-batch schedule: poly ``(1 - s/S)^power`` (the original), cosine to 1e-5, or constant."""
    total = max(total_steps, 1)
    if cfg.schedule == "poly":

        def factor(s: int) -> float:
            return max(0.0, 1.0 - s / total) ** cfg.power

    elif cfg.schedule == "cosine":

        def factor(s: int) -> float:
            return 1e-5 + (1.0 - 1e-5) * 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))

    else:

        def factor(s: int) -> float:
            return 1.0

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def augment_flip_crop(x: Tensor, gen: torch.Generator, pad: int = 4) -> Tensor:
    """Random horizontal flip and random crop with zero padding (torchvision's RandomCrop(pad=4)), batched."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen, device=gen.device) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]
    out = padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def perturb(model: FeedbackNet, x: Tensor, y: Tensor, cfg: TrainConfig, gen: torch.Generator) -> Tensor:
    """The second half of a training batch: PGD against the first pass, or random noise."""
    assert cfg.eps is not None and cfg.step is not None
    if cfg.mode == "adversarial":
        with frozen_eval(model):
            return pgd_linf(model.first, x, y, cfg.eps, cfg.step, cfg.pgd_steps, random_start=True, generator=gen)
    if cfg.noise == "gaussian":
        noise = torch.randn(x.shape, generator=gen, device=x.device) * cfg.eps
    else:
        noise = (2.0 * torch.rand(x.shape, generator=gen, device=x.device) - 1.0) * cfg.eps
    return (x + noise).clamp_(0.0, 1.0)


def train_one_epoch(
    model: FeedbackNet,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LambdaLR,
    data: ImageSet,
    cfg: RunConfig,
    epoch: int,
    device: torch.device,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """One epoch; returns mean loss terms, clean training accuracy (last iteration) and images/s."""
    t = cfg.train
    n_batches = batches_per_epoch(len(data), t)
    order = torch.randperm(len(data), generator=generator(derive_seed(cfg.seed, epoch, 1)))
    attack_gen = generator(derive_seed(cfg.seed, epoch, 2), device)
    aug_gen = generator(derive_seed(cfg.seed, epoch, 3), device)
    model.train()
    sums: dict[str, float] = {}
    correct = seen = 0
    elapsed = 0.0
    for i in range(n_batches):
        start = time.perf_counter()
        x, y = data.batch(order[i * t.batch_size : (i + 1) * t.batch_size], device)
        if t.augment:
            x = augment_flip_crop(x, aug_gen)
        if t.mode == "standard":
            traj = model.run(x)
            loss, parts = standard_loss(traj, y, t.mse_weight, t.recon_weight, t.block_weight)
        else:
            x_adv = perturb(model, x, y, t, attack_gen)
            traj = model.run(torch.cat([x, x_adv]))
            assert t.clean_weight is not None
            loss, parts = adversarial_loss(
                traj, y, t.clean_weight, t.mse_weight, t.clean_loss, t.recon_weight, t.block_weight
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        opt.step()
        sched.step()
        with torch.no_grad():
            correct += int((traj.logits[-1][: y.shape[0]].argmax(1) == y).sum())
        seen += int(y.shape[0])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed += time.perf_counter() - start
        for key, value in parts.items():
            sums[key] = sums.get(key, 0.0) + value
        if callback is not None:
            callback(
                TrainEvent(
                    "batch",
                    epoch + 1,
                    t.epochs or 0,
                    i + 1,
                    n_batches,
                    {"loss": parts["loss"], "train_acc": correct / seen, "images_per_s": seen / max(elapsed, 1e-9)},
                )
            )
    stats = {key: value / n_batches for key, value in sums.items()}
    stats.update(train_acc=correct / max(seen, 1), images=seen, train_seconds=elapsed)
    stats["images_per_s"] = seen / max(elapsed, 1e-9)
    stats["lr"] = opt.param_groups[0]["lr"]
    return stats


@torch.no_grad()
def predict(model: Classifier, data: ImageSet, device: torch.device, readout: str | None = None) -> Tensor:
    """Predicted labels of every image under the deployed (or the given) readout."""
    model.eval()
    how = readout or model.readout
    out = []
    for start in range(0, len(data), EVAL_BATCH):
        x, _ = data.batch(torch.arange(start, min(start + EVAL_BATCH, len(data))), device)
        out.append(model.logits(x, how).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)


def evaluate_clean(model: Classifier, data: ImageSet, device: torch.device, readout: str | None = None) -> float:
    """Clean accuracy of the deployed inference."""
    return float((predict(model, data, device, readout) == data.labels).float().mean())


def fit(
    cfg: RunConfig,
    run_dir: Path,
    device: torch.device,
    data_dir: Path | None = None,
    resume: bool = False,
    callback: Callback | None = None,
) -> TrainResult:
    """Train (or resume) the run described by the resolved ``cfg`` into ``run_dir``.

    FPD models train with their own two-phase step (:mod:`cnnf_bench.train_fpd`); the rest here.
    """
    if cfg.fpd is not None:
        from cnnf_bench.train_fpd import fit_fpd

        return fit_fpd(cfg, run_dir, device, data_dir, resume, callback)
    assert cfg.train.epochs is not None
    epochs = cfg.train.epochs

    def states(model: FeedbackNet, n_batches: int) -> dict[str, Stateful]:
        opt = build_optimizer(model, cfg.train)
        return {"optimizer": opt, "scheduler": build_scheduler(opt, cfg.train, epochs * n_batches)}

    run = prepare_run(cfg, run_dir, device, data_dir, resume, callback, FeedbackNet, states)
    if isinstance(run, TrainResult):
        return run
    opt, sched = run.states["optimizer"], run.states["scheduler"]
    assert isinstance(opt, torch.optim.Optimizer) and isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    for epoch in range(run.start_epoch, epochs):
        stats = train_one_epoch(run.model, opt, sched, run.train_set, cfg, epoch, device, callback)
        stats["test_acc"] = evaluate_clean(run.model, run.test_set, device)
        stats["test_images"] = len(run.test_set)
        stats.update(_restoration_metrics(run.model, run.test_set, cfg.train.monitor_images, device))
        run.end_epoch(cfg, epoch, stats, device, callback)
    return TrainResult(run.path, epochs - run.start_epoch, run.metrics)


def _restoration_metrics(model: FeedbackNet, test: ImageSet, n: int, device: torch.device) -> dict[str, Any]:
    """Per-epoch restoration of the feedback on the first ``n`` test images (clean and corrupted).

    ``restoration`` holds :class:`cnnf_bench.restore.RestorationStats` per input kind; ``recon_mse_clean``
    and ``recon_mse_noisy`` (Gaussian noise) are the last cycle's distances to the clean input, with
    ``noisy_input_mse`` the noisy input's own distance (what a restoration has to beat). Nothing for a CNN.
    """
    if model.cycles == 0 or n <= 0:
        return {}
    from cnnf_bench.restore import restoration_stats

    x, y = test.batch(torch.arange(min(n, len(test))), device)
    stats = restoration_stats(model, x, y)
    by_kind = {s.kind: s for s in stats}
    out: dict[str, Any] = {"restoration": [s.as_dict() for s in stats]}
    out["recon_mse_clean"] = by_kind["clean"].recon_mse[-1]
    if "gaussian-noise" in by_kind:
        out["recon_mse_noisy"] = by_kind["gaussian-noise"].recon_mse[-1]
        out["noisy_input_mse"] = by_kind["gaussian-noise"].input_mse
    return out
