"""Training losses of CNN-F: the original adversarial loss (reference section 4.2) and Table 1's standard one."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from cnnf_bench.zoo.base import Trajectory


def _recon_terms(
    traj: Trajectory, half: slice, target: slice, recon_weight: float = 1.0, block_weight: float = 1.0
) -> list[Tensor]:
    """Per cycle: ``a`` MSE(g_t(k), h0) + ``b`` sum over blocks MSE(g_t(block), f_0(block)), mean reduction.

    ``half`` selects whose reconstructions are penalised, ``target`` whose first-pass features they are
    pulled towards. Targets are not detached, as in the original. ``a`` (``recon_weight``) and ``b``
    (``block_weight``) are 1 in the original (Table 1's reconstruction and intermediate-reconstruction
    terms, equally weighted); a weight of exactly 1 multiplies nothing, so the defaults are bit-identical.
    """
    out = []
    for recon, block_recons in zip(traj.recons, traj.block_recons, strict=True):
        term = F.mse_loss(recon[half], traj.h0[target])
        if recon_weight != 1.0:
            term = term * recon_weight
        for g, f in zip(block_recons, traj.blocks, strict=True):
            block = F.mse_loss(g[half], f[target])
            term = term + (block if block_weight == 1.0 else block * block_weight)
        out.append(term)
    return out


def adversarial_loss(
    traj: Trajectory,
    y: Tensor,
    clean_weight: float,
    mse_weight: float,
    clean_loss: bool = True,
    recon_weight: float = 1.0,
    block_weight: float = 1.0,
) -> tuple[Tensor, dict[str, float]]:
    """Loss of ``train_adv`` on a batch laid out as [clean; adversarial] (both halves labelled ``y``).

    Every iteration t = 0..T adds ``(c CE(v_t^clean) + CE(v_t^adv)) / (2 (T + 1))`` (only
    ``CE(v_t^adv) / (T + 1)`` without the clean term); every cycle t = 1..T adds ``m / (n T)`` times
    the MSEs of the adversarial half's feedback towards the clean half's first-pass features, with
    n = 1 + number of blocks (3 for Fashion-MNIST, 4 for CIFAR-10).
    """
    b = y.shape[0]
    clean, adv = slice(0, b), slice(b, 2 * b)
    iters = len(traj.logits)
    ce = traj.logits[0].new_zeros(())
    for v in traj.logits:
        if clean_loss:
            ce = ce + (clean_weight * F.cross_entropy(v[clean], y) + F.cross_entropy(v[adv], y)) / (2 * iters)
        else:
            ce = ce + F.cross_entropy(v[adv], y) / iters
    terms = _recon_terms(traj, adv, clean, recon_weight, block_weight)
    return _combine(ce, terms, mse_weight, 1 + len(traj.blocks))


def standard_loss(
    traj: Trajectory, y: Tensor, mse_weight: float, recon_weight: float = 1.0, block_weight: float = 1.0
) -> tuple[Tensor, dict[str, float]]:
    """Table 1 on clean images: CE at every iteration (mean over iterations) plus the reconstruction
    and intermediate-reconstruction losses of every cycle, weighted ``m / (n T)`` as in the original."""
    iters = len(traj.logits)
    ce = traj.logits[0].new_zeros(())
    for v in traj.logits:
        ce = ce + F.cross_entropy(v, y) / iters
    everything = slice(None)
    terms = _recon_terms(traj, everything, everything, recon_weight, block_weight)
    return _combine(ce, terms, mse_weight, 1 + len(traj.blocks))


def _combine(ce: Tensor, recon_terms: list[Tensor], mse_weight: float, n: int) -> tuple[Tensor, dict[str, float]]:
    cycles = len(recon_terms)
    loss = ce
    recon = ce.new_zeros(())
    if cycles:
        recon = sum(recon_terms, ce.new_zeros(())) * (mse_weight / (n * cycles))
        loss = loss + recon
    return loss, {"loss": float(loss.detach()), "ce": float(ce.detach()), "recon": float(recon.detach())}
