"""FPD's two-phase training (fpd-reference.md section 1.3), beside :func:`cnnf_bench.train.fit`.

Per mini-batch:

1. ``x_noisy = x + U(-eps0, eps0)`` (not clipped, as released);
2. phase 1: ``(x_hat, y_hat) = FPD(x_noisy)``, ``L2 = MSE(x_hat, x)``. The gate: if ``L2 > T`` only
   ``alpha2 L2`` is back-propagated, by an optimiser that holds every parameter *except the classifier
   head* (the paper's intent: FPD_FD and FPD_R, which share the backbone with FPD_BD; the released
   code's exhausted-iterator quirk left only the last transposed convolutions in it, see
   docs/faithfulness.md). Otherwise ``alpha1 CE(y_hat, y) + alpha2 L2`` updates the whole model;
3. phase 2 (gate open only): the *detached* restoration goes through FPD again and
   ``alpha1 CE + alpha2 MSE(x_hat2, x)`` updates the whole model (the released code reused the
   first graph after the optimiser step, which current PyTorch refuses).

With ``train.mode: adversarial``, from epoch ``fpd.adv_delay`` on, PGD examples against the deployed
pipeline (the CNN-F recipe: eps, step, PGD-7 with a random start, true labels) join each batch, so
every loss is the mean of its clean-noisy and adversarial halves (the released ``adv_train.py``
averaged a clean and an adversarial loss too). Randomness is derived from (seed, epoch), so a run
resumed from the checkpoint of epoch e-1 continues bit for bit like an uninterrupted one (CPU).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnf_bench.attacks.pgd import pgd_linf
from cnnf_bench.config import RunConfig
from cnnf_bench.config_fpd import FPDConfig
from cnnf_bench.data import ImageSet
from cnnf_bench.runtime import derive_seed, frozen_eval, generator
from cnnf_bench.train import augment_flip_crop, evaluate_clean
from cnnf_bench.train_run import Callback, Stateful, TrainEvent, TrainResult, batches_per_epoch, prepare_run
from cnnf_bench.zoo import FPDNet


def build_fpd_optimizers(model: FPDNet, cfg: FPDConfig) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """The whole-model optimiser and the gated phase-1 optimiser (everything but the classifier head)."""
    head = {id(p) for p in model.classifier_parameters()}
    every = list(model.parameters())
    phase1 = [p for p in every if id(p) not in head]

    def make(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
        return torch.optim.Adamax(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    return make(every), make(phase1)


def _step(opt: torch.optim.Optimizer, loss: Tensor, clip: float | None) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        params = [p for group in opt.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()


def fpd_step(
    model: FPDNet,
    opts: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
    x_in: Tensor,
    x_clean: Tensor,
    y: Tensor,
    cfg: FPDConfig,
) -> tuple[dict[str, float], Tensor]:
    """One gated two-phase update on inputs ``x_in`` with targets ``x_clean`` and ``y``.

    Returns the loss terms (``gate_open`` 1 or 0) and the phase-1 logits (for the training accuracy).
    """
    opt_all, opt_phase1 = opts
    out = model.run(x_in)
    mse1 = F.mse_loss(out.restored, x_clean)
    parts: dict[str, float] = {"mse1": mse1.item()}
    if parts["mse1"] > cfg.gate:
        _step(opt_phase1, cfg.mse_weight * mse1, cfg.grad_clip)
        parts.update(gate_open=0.0, loss=cfg.mse_weight * parts["mse1"])
        return parts, out.logits.detach()
    ce1 = F.cross_entropy(out.logits, y)
    loss1 = cfg.ce_weight * ce1 + cfg.mse_weight * mse1
    _step(opt_all, loss1, cfg.grad_clip)
    second = model.run(out.restored.detach())
    ce2 = F.cross_entropy(second.logits, y)
    mse2 = F.mse_loss(second.restored, x_clean)
    loss2 = cfg.ce_weight * ce2 + cfg.mse_weight * mse2
    _step(opt_all, loss2, cfg.grad_clip)
    parts.update(gate_open=1.0, ce1=ce1.item(), ce2=ce2.item(), mse2=mse2.item(), loss=loss1.item() + loss2.item())
    return parts, out.logits.detach()


def train_one_epoch_fpd(
    model: FPDNet,
    opts: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
    data: ImageSet,
    cfg: RunConfig,
    epoch: int,
    device: torch.device,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """One epoch; returns mean loss terms (CE terms over gate-open batches), how often the gate was
    open, clean training accuracy (phase 1, noisy inputs) and images/s."""
    t, f = cfg.train, cfg.fpd
    assert f is not None and t.eps is not None and t.step is not None
    n_batches = batches_per_epoch(len(data), t)
    order = torch.randperm(len(data), generator=generator(derive_seed(cfg.seed, epoch, 1)))
    attack_gen = generator(derive_seed(cfg.seed, epoch, 2), device)
    aug_gen = generator(derive_seed(cfg.seed, epoch, 3), device)
    noise_gen = generator(derive_seed(cfg.seed, epoch, 4), device)
    adversarial = t.mode == "adversarial" and epoch >= f.adv_delay
    model.train()
    sums: dict[str, float] = {}
    open_batches = correct = seen = 0
    elapsed = 0.0
    for i in range(n_batches):
        start = time.perf_counter()
        x, y = data.batch(order[i * t.batch_size : (i + 1) * t.batch_size], device)
        if t.augment:
            x = augment_flip_crop(x, aug_gen)
        noise = (2.0 * torch.rand(x.shape, generator=noise_gen, device=x.device) - 1.0) * f.noise_eps
        x_in, x_clean, labels = x + noise, x, y
        if adversarial:
            with frozen_eval(model):
                x_adv = pgd_linf(model.e2e, x, y, t.eps, t.step, t.pgd_steps, random_start=True, generator=attack_gen)
            x_in, x_clean, labels = torch.cat([x_in, x_adv]), torch.cat([x, x]), torch.cat([y, y])
        parts, logits = fpd_step(model, opts, x_in, x_clean, labels, f)
        correct += int((logits[: y.shape[0]].argmax(1) == y).sum())
        seen += int(y.shape[0])
        open_batches += int(parts["gate_open"])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed += time.perf_counter() - start
        for key, value in parts.items():
            sums[key] = sums.get(key, 0.0) + value
        if callback is not None:
            info = {"loss": parts["loss"], "train_acc": correct / seen, "images_per_s": seen / max(elapsed, 1e-9)}
            callback(TrainEvent("batch", epoch + 1, t.epochs or 0, i + 1, n_batches, info))
    stats = {k: v / n_batches for k, v in sums.items() if k in ("loss", "mse1", "gate_open")}
    stats.update({k: v / open_batches for k, v in sums.items() if k in ("ce1", "ce2", "mse2") and open_batches})
    stats.update(train_acc=correct / max(seen, 1), images=seen, train_seconds=elapsed, adversarial=adversarial)
    stats["images_per_s"] = seen / max(elapsed, 1e-9)
    stats["lr"] = opts[0].param_groups[0]["lr"]
    return stats


@torch.no_grad()
def restoration_metrics(
    model: FPDNet, test: ImageSet, n: int, noise_eps: float, device: torch.device
) -> dict[str, Any]:
    """Restoration on the first ``n`` test images: MSE to the clean image of ``x_hat`` from a clean input
    (``recon_mse_clean``), from a uniformly noisy one (``recon_mse_noisy``, with ``noisy_input_mse`` the
    noisy input's own MSE), and of the second pass's ``x_hat2`` (``recon_mse_second``)."""
    if n <= 0:
        return {}
    model.eval()
    x, _ = test.batch(torch.arange(min(n, len(test))), device)
    gen = generator(0, device)
    noisy = x + (2.0 * torch.rand(x.shape, generator=gen, device=x.device) - 1.0) * noise_eps
    clean_out = model.run(x)
    second = model.run(clean_out.restored)
    return {
        "recon_mse_clean": float(F.mse_loss(clean_out.restored, x)),
        "recon_mse_noisy": float(F.mse_loss(model.run(noisy).restored, x)),
        "noisy_input_mse": float(F.mse_loss(noisy, x)),
        "recon_mse_second": float(F.mse_loss(second.restored, x)),
    }


def fit_fpd(
    cfg: RunConfig,
    run_dir: Path,
    device: torch.device,
    data_dir: Path | None = None,
    resume: bool = False,
    callback: Callback | None = None,
) -> TrainResult:
    """Train (or resume) an FPD run into ``run_dir``: checkpoint and ``metrics.jsonl`` every epoch."""
    fpd = cfg.fpd
    assert fpd is not None and cfg.train.epochs is not None

    def states(model: FPDNet, n_batches: int) -> dict[str, Stateful]:
        opt_all, opt_phase1 = build_fpd_optimizers(model, fpd)
        return {"optimizer": opt_all, "optimizer_phase1": opt_phase1}

    run = prepare_run(cfg, run_dir, device, data_dir, resume, callback, FPDNet, states)
    if isinstance(run, TrainResult):
        return run
    opt_all, opt_phase1 = run.states["optimizer"], run.states["optimizer_phase1"]
    assert isinstance(opt_all, torch.optim.Optimizer) and isinstance(opt_phase1, torch.optim.Optimizer)
    opts = (opt_all, opt_phase1)
    for epoch in range(run.start_epoch, cfg.train.epochs):
        stats = train_one_epoch_fpd(run.model, opts, run.train_set, cfg, epoch, device, callback)
        stats["test_acc"] = evaluate_clean(run.model, run.test_set, device)
        stats["test_images"] = len(run.test_set)
        stats.update(restoration_metrics(run.model, run.test_set, cfg.train.monitor_images, fpd.noise_eps, device))
        run.end_epoch(cfg, epoch, stats, device, callback)
    return TrainResult(run.path, cfg.train.epochs - run.start_epoch, run.metrics)
