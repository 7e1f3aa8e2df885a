"""Training steps against their floor: how much of a step is the passes the recipe needs.

Usage:
    uv run python benchmarks/train_floor.py [--models cnn-fmnist cnnf-fmnist] [--batch 64] [--batches 6]

For each model and mode, on real Fashion-MNIST batches, it times ``--batches`` real training steps
(``train_one_epoch``: data, PGD, forward, loss, backward, clipping, SGD, schedule, bookkeeping) and the
floor of one step, timed directly on the same batch:

* standard: one forward+backward of the whole inference (all cycles) with the recipe's loss;
* adversarial: PGD-7 against the first pass (7 x forward+backward of the first pass on ``batch``
  images) plus one forward+backward of the whole inference with the adversarial loss on the
  ``2 x batch`` clean and adversarial images.

``ratio`` is floor time / step time (1.0: nothing but the passes). Writes
``benchmarks/results/train_floor.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from cnnf_bench.attacks.pgd import input_gradient
from cnnf_bench.config import resolve, run_config_from_mapping
from cnnf_bench.data import load_split
from cnnf_bench.losses import adversarial_loss, standard_loss
from cnnf_bench.runtime import configure_torch, describe_device, frozen_eval, resolve_device, seed_everything
from cnnf_bench.train import build_optimizer, build_scheduler, train_one_epoch
from cnnf_bench.zoo import build_model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, mode: str, batch: int, batches: int, device: torch.device, repeat: int) -> dict[str, Any]:
    """Seconds per training step and per floor of one step."""
    mapping = {"model": name, "train": {"mode": mode, "epochs": 1, "limit_batches": batches, "batch_size": batch}}
    cfg = resolve(run_config_from_mapping(mapping))
    t = cfg.train
    data = load_split(cfg.data.dataset or "fmnist", True)
    seed_everything(0)
    model = build_model(name).to(device)
    opt = build_optimizer(model, t)
    sched = build_scheduler(opt, t, 2 * batches)
    train_one_epoch(model, opt, sched, data, cfg, 0, device)  # warm-up
    sync(device)
    start = time.perf_counter()
    train_one_epoch(model, opt, sched, data, cfg, 1, device)
    sync(device)
    step = (time.perf_counter() - start) / batches

    x, y = data.batch(torch.arange(batch), device)
    model.train()

    def floor_once() -> None:
        if mode == "standard":
            traj = model.run(x)
            loss, _ = standard_loss(traj, y, t.mse_weight, t.recon_weight, t.block_weight)
        else:
            assert t.clean_weight is not None
            with frozen_eval(model):
                for _ in range(t.pgd_steps):
                    input_gradient(model.first, x, y)
            traj = model.run(torch.cat([x, x]))
            loss, _ = adversarial_loss(
                traj, y, t.clean_weight, t.mse_weight, t.clean_loss, t.recon_weight, t.block_weight
            )
        loss.backward()
        model.zero_grad(set_to_none=True)

    floor_once()
    best = float("inf")
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        floor_once()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return {"model": name, "mode": mode, "batch": batch, "step_seconds": step, "floor_seconds": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["cnn-fmnist", "cnnf-fmnist"])
    parser.add_argument("--modes", nargs="+", default=["standard", "adversarial"])
    parser.add_argument("--batch", type=int, default=64, help="clean images per step (the quick suite's 64)")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train_floor.json")
    args = parser.parse_args()
    configure_torch()
    device = resolve_device(args.device)
    rows = []
    print(f"{'model':14s} {'mode':12s} {'step s':>8s} {'floor s':>8s} {'ratio':>6s} {'img/s':>8s}")
    for name in args.models:
        for mode in args.modes:
            row = measure(name, mode, args.batch, args.batches, device, args.repeat)
            row["ratio_to_floor"] = row["floor_seconds"] / row["step_seconds"]
            row["images_per_s"] = args.batch / row["step_seconds"]
            rows.append(row)
            print(
                f"{name:14s} {mode:12s} {row['step_seconds']:8.3f} {row['floor_seconds']:8.3f} "
                f"{row['ratio_to_floor']:6.2f} {row['images_per_s']:8.1f}",
                flush=True,
            )
    result = {
        "benchmark": "train_floor",
        "machine": describe_device(device),
        "device": str(device),
        "torch": str(torch.__version__),
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nmachine: {result['machine']}; load average {result['load_average']}; written to {args.out}")


if __name__ == "__main__":
    main()
