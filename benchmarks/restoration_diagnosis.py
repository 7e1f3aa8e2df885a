"""Why does CNN-F's feedback not restore noisy images? Short training runs and measurements (issue 14).

Usage:
    uv run python benchmarks/restoration_diagnosis.py [--variants base pixel10 mse1] [--train-subset 30000]
                                                      [--epochs 1] [--cycles 2] [--n 500]

Trains the Figure 5 CNN-F (2 conv + 1 FC, encoder depth k = 0: the feedback reconstructs pixels) with the
converged suite's recipe (standard training, Adam 1e-3, cosine, batch 128) for ``--epochs`` on the first
``--train-subset`` training images (seeded), once per loss variant:

- ``base``: the original's weights (mse_weight 0.1 over n = 3 terms: pixel + 2 blocks, each weight 1);
- ``pixel10``: the pixel term x10 (``recon_weight 10``); ``pixel0``: no pixel term (``recon_weight 0``);
- ``mse1``: every reconstruction term x10 (``mse_weight 1``);
- ``blocks0``: only the pixel term (``block_weight 0``).

Then, on ``--n`` test images (clean and Gaussian noise at severity 3): the loss terms and the gradient
norm each weighted term sends into the weights (which loss drives the reconstruction), the
reconstruction's distance to the clean image, its distance after the best per-image affine rescaling
(is it only a matter of scale and offset?), the scale itself, how much of the noise survives in the
reconstruction, and test-time sweeps of eta and the number of cycles. Prints tables; writes
``benchmarks/results/restoration_diagnosis.json``. Checkpoints go to ``checkpoints/restoration-diagnosis``
and are reused (delete them to retrain).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from cnnf_bench.attacks.corruptions import corrupt
from cnnf_bench.checkpoint import load_checkpoint
from cnnf_bench.config import resolve, run_config_from_mapping
from cnnf_bench.data import load_split
from cnnf_bench.losses import standard_loss
from cnnf_bench.runtime import configure_torch, generator
from cnnf_bench.train import fit
from cnnf_bench.zoo import FeedbackNet

VARIANTS: dict[str, dict[str, float]] = {
    "base": {},
    "pixel10": {"recon_weight": 10.0},
    "pixel0": {"recon_weight": 0.0},
    "mse1": {"mse_weight": 1.0},
    "blocks0": {"block_weight": 0.0},
}


def train(variant: str, args: argparse.Namespace, out: Path) -> Path:
    """Train (or reuse) one variant; returns its checkpoint path."""
    train_cfg = {
        "mode": "standard",
        "epochs": args.epochs,
        "batch_size": 128,
        "optimizer": "adam",
        "lr": 0.001,
        "weight_decay": 0.0,
        "schedule": "cosine",
        "monitor_images": 0,
        **VARIANTS[variant],
    }
    cfg = resolve(
        run_config_from_mapping(
            {
                "model": {"name": "cnnf-fmnist-small", "cycles": args.cycles},
                "data": {"train_subset": args.train_subset, "test_subset": 2000},
                "train": train_cfg,
                "seed": 0,
            }
        )
    )
    run_dir = out / f"{variant}-T{args.cycles}-e{args.epochs}-n{args.train_subset}"
    return fit(cfg, run_dir, torch.device("cpu"), resume=True).path


def _mse01(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared distance in [0, 1] pixel units of two [-1, 1]-scale images."""
    return ((a - b) ** 2).flatten(1).mean(1) / 4


def affine_fit(g: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image the least-squares ``a g + b`` to ``z``: (residual MSE in [0, 1] units, a, b)."""
    gf, zf = g.flatten(1), z.flatten(1)
    gm, zm = gf.mean(1, keepdim=True), zf.mean(1, keepdim=True)
    a = ((gf - gm) * (zf - zm)).sum(1) / ((gf - gm) ** 2).sum(1).clamp_min(1e-12)
    b = zm.squeeze(1) - a * gm.squeeze(1)
    fit_ = a[:, None] * gf + b[:, None]
    return ((fit_ - zf) ** 2).mean(1) / 4, a, b


def loss_drivers(model: FeedbackNet, x: torch.Tensor, y: torch.Tensor, cfg: dict[str, Any]) -> dict[str, Any]:
    """Each weighted loss term's value and the L2 norm of its gradient w.r.t. all weights (train mode)."""
    model.train()
    traj = model.run(x)
    cycles, n_terms = len(traj.recons), 1 + len(traj.blocks)
    scale = cfg["mse_weight"] / (n_terms * cycles)
    ce = sum(F.cross_entropy(v, y) for v in traj.logits) / len(traj.logits)
    pixel = sum(F.mse_loss(r, traj.h0) for r in traj.recons) * scale * cfg["recon_weight"]
    blocks = (
        sum(F.mse_loss(g, f) for gs in traj.block_recons for g, f in zip(gs, traj.blocks, strict=True))
        * scale
        * cfg["block_weight"]
    )
    total, _ = standard_loss(traj, y, cfg["mse_weight"], cfg["recon_weight"], cfg["block_weight"])
    params = [p for p in model.parameters() if p.requires_grad]
    out: dict[str, Any] = {}
    for name, term in (("ce", ce), ("pixel", pixel), ("blocks", blocks)):
        if not isinstance(term, torch.Tensor) or not term.requires_grad:
            out[name] = {"value": float(term), "grad_norm": 0.0}
            continue
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        norm = torch.sqrt(sum((g.pow(2).sum() for g in grads if g is not None), torch.zeros(())))
        out[name] = {"value": float(term.detach()), "grad_norm": float(norm)}
    out["total"] = float(total.detach())
    model.eval()
    return out


@torch.no_grad()
def restoration(model: FeedbackNet, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Distances to the clean image of the reconstruction and of the mixed input, per kind of input."""
    z = x * 2 - 1
    noisy = corrupt(x, "gaussian-noise", 3, generator(0))
    clean_traj, noisy_traj = model.run(x), model.run(noisy)
    out: dict[str, Any] = {}
    for kind, traj, inp in (("clean", clean_traj, x), ("noise", noisy_traj, noisy)):
        g = traj.recons[-1]
        residual, a, b = affine_fit(g, z)
        out[kind] = {
            "input_mse": float(_mse01(inp * 2 - 1, z).mean()),
            "recon_mse": float(_mse01(g, z).mean()),
            "recon_affine_mse": float(residual.mean()),
            "scale_a": float(a.median()),
            "offset_b": float(b.median()),
            "recon_rms": float(g.pow(2).mean().sqrt()),
            "mixed_mse": float(_mse01(traj.inputs[-1], z).mean()),
            "acc_first": float((traj.logits[0].argmax(1) == y).float().mean()),
            "acc_last": float((traj.logits[-1].argmax(1) == y).float().mean()),
        }
    # how much of the input noise reaches the reconstruction: distance between the reconstructions of
    # the noisy and the clean image, against the distance between the images themselves
    out["noise_in_recon"] = float(_mse01(noisy_traj.recons[-1], clean_traj.recons[-1]).mean())
    out["noise_in_input"] = out["noise"]["input_mse"]
    return out


@torch.no_grad()
def sweeps(model: FeedbackNet, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Test-time eta and cycles on noisy images: last mixed input's distance and last-iteration accuracy."""
    z = x * 2 - 1
    noisy = corrupt(x, "gaussian-noise", 3, generator(0))
    eta0, cycles0 = model.eta, model.cycles
    out: dict[str, Any] = {"eta": {}, "cycles": {}}
    try:
        for eta in (0.1, 0.3, 0.5, 1.0):
            model.eta = eta
            traj = model.run(noisy)
            out["eta"][str(eta)] = {
                "mixed_mse": float(_mse01(traj.inputs[-1], z).mean()),
                "recon_mse": float(_mse01(traj.recons[-1], z).mean()),
                "acc_last": float((traj.logits[-1].argmax(1) == y).float().mean()),
                "acc_avg": float((traj.readout("avg").argmax(1) == y).float().mean()),
            }
        model.eta = eta0
        for cycles in sorted({1, cycles0, 5, 10}):
            traj = model.run(noisy, cycles=cycles)
            out["cycles"][str(cycles)] = {
                "mixed_mse": float(_mse01(traj.inputs[-1], z).mean()),
                "recon_mse": float(_mse01(traj.recons[-1], z).mean()),
                "acc_last": float((traj.logits[-1].argmax(1) == y).float().mean()),
                "acc_avg": float((traj.readout("avg").argmax(1) == y).float().mean()),
            }
    finally:
        model.eta, model.cycles = eta0, cycles0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["base", "pixel10", "mse1"], choices=sorted(VARIANTS))
    parser.add_argument("--train-subset", type=int, default=30000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--output", type=Path, default=Path("checkpoints/restoration-diagnosis"))
    args = parser.parse_args()
    configure_torch()
    test = load_split("fmnist", False)
    x, y = test.batch(torch.arange(args.n))
    train_set = load_split("fmnist", True)
    xt, yt = train_set.batch(torch.arange(256))
    results: dict[str, Any] = {}
    for variant in args.variants:
        ckpt = load_checkpoint(train(variant, args, args.output))
        model = ckpt.build_model()
        cfg = replace(resolve(run_config_from_mapping({"model": "cnnf-fmnist-small"})).train, **VARIANTS[variant])
        weights = {"mse_weight": cfg.mse_weight, "recon_weight": cfg.recon_weight, "block_weight": cfg.block_weight}
        results[variant] = {
            "weights": weights,
            "test_acc": ckpt.metrics[-1]["test_acc"],
            "drivers": loss_drivers(model, xt, yt, weights),
            "restoration": restoration(model, x, y),
            "sweeps": sweeps(model, x, y),
        }
    print(f"CNN-F (2C1F, k=0) T={args.cycles}, {args.epochs} epoch(s) on {args.train_subset} images; n={args.n} test")
    print("\n| variant | test acc | CE (grad) | pixel term (grad) | block terms (grad) |")
    print("|---|---:|---:|---:|---:|")
    for v, r in results.items():
        d = r["drivers"]
        print(
            f"| {v} | {100 * r['test_acc']:.1f}% | {d['ce']['value']:.3f} ({d['ce']['grad_norm']:.3g}) | "
            f"{d['pixel']['value']:.4f} ({d['pixel']['grad_norm']:.3g}) | "
            f"{d['blocks']['value']:.4f} ({d['blocks']['grad_norm']:.3g}) |"
        )
    print(
        "\n| variant | input | recon MSE clean / noise | affine-fit MSE clean / noise | scale a | offset b | "
        "noise in recon / input | mixed MSE noise | acc first / last (noise) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for v, r in results.items():
        c, n = r["restoration"]["clean"], r["restoration"]["noise"]
        print(
            f"| {v} | {n['input_mse']:.4f} | {c['recon_mse']:.4f} / {n['recon_mse']:.4f} | "
            f"{c['recon_affine_mse']:.4f} / {n['recon_affine_mse']:.4f} | {c['scale_a']:.3g} | {c['offset_b']:.3g} | "
            f"{r['restoration']['noise_in_recon']:.4f} / {r['restoration']['noise_in_input']:.4f} | "
            f"{n['mixed_mse']:.4f} | {100 * n['acc_first']:.1f}% / {100 * n['acc_last']:.1f}% |"
        )
    for key in ("eta", "cycles"):
        print(f"\nTest-time {key} on Gaussian noise (mixed MSE / recon MSE / acc last / acc avg):")
        for v, r in results.items():
            cells = ", ".join(
                f"{k}: {s['mixed_mse']:.4f} / {s['recon_mse']:.4f} / "
                f"{100 * s['acc_last']:.1f}% / {100 * s['acc_avg']:.1f}%"
                for k, s in r["sweeps"][key].items()
            )
            print(f"- {v}: {cells}")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    args_dict = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    (out_dir / "restoration_diagnosis.json").write_text(json.dumps({"args": args_dict, "results": results}, indent=2))


if __name__ == "__main__":
    main()
