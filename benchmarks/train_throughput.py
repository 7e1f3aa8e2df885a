"""Training throughput: images/s of standard and adversarial training steps, CNN vs CNN-F.

Usage:
    uv run python benchmarks/train_throughput.py [--models cnn-fmnist cnnf-fmnist] [--batches 8] [--device auto]

Runs a warm-up batch, then ``--batches`` real training steps (batch 256 clean, + 256 adversarial
images in adversarial mode) on real data through ``train_one_epoch``, and prints a table. Numbers are
clean training images per second (an adversarial step also makes and trains on 256 PGD-7 images).
Writes ``benchmarks/results/train_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from amp import AMP_CHOICES, amp_context  # benchmarks/amp.py (this script's folder is on the path)

from cnnf_bench.config import resolve, run_config_from_mapping
from cnnf_bench.data import load_split
from cnnf_bench.runtime import configure_torch, describe_device, resolve_device, seed_everything
from cnnf_bench.train import build_optimizer, build_scheduler, train_one_epoch
from cnnf_bench.zoo import build_model


def measure(
    name: str, mode: str, batches: int, device: torch.device, amp: str = "off", batch_size: int | None = None
) -> float:
    """Images/s of ``batches`` training steps after one warm-up step."""
    train = {"mode": mode, "epochs": 1, "limit_batches": 1, **({"batch_size": batch_size} if batch_size else {})}
    cfg = resolve(run_config_from_mapping({"model": name, "train": train}))
    data = load_split(cfg.data.dataset or "fmnist", True)
    seed_everything(0)
    model = build_model(name).to(device)
    opt = build_optimizer(model, cfg.train)
    sched = build_scheduler(opt, cfg.train, batches + 1)
    with amp_context(device, amp):
        train_one_epoch(model, opt, sched, data, cfg, 0, device)  # warm-up
    cfg = resolve(run_config_from_mapping({"model": name, "train": {**train, "limit_batches": batches}}))
    start = time.perf_counter()
    with amp_context(device, amp):
        stats = train_one_epoch(model, opt, sched, data, cfg, 1, device)
    elapsed = time.perf_counter() - start
    return float(stats["images"]) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["cnn-fmnist", "cnnf-fmnist"])
    parser.add_argument("--modes", nargs="+", default=["standard", "adversarial"])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", choices=AMP_CHOICES, default="off", help="autocast the steps in bfloat16")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train_throughput.json")
    parser.add_argument("--batch-size", type=int, default=None, help="clean images per step (default: the recipe's)")
    args = parser.parse_args()
    configure_torch()
    device = resolve_device(args.device)
    rows = []
    for name in args.models:
        for mode in args.modes:
            ips = measure(name, mode, args.batches, device, args.amp, args.batch_size)
            rows.append({"model": name, "mode": mode, "amp": args.amp, "images_per_s": ips})
            print(f"{name:20s} {mode:12s} {ips:10.1f} img/s", flush=True)
    result = {
        "benchmark": "train_throughput",
        "machine": describe_device(device),
        "device": str(device),
        "torch": str(torch.__version__),
        "batches": args.batches,
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nmachine: {result['machine']}; written to {args.out}")


if __name__ == "__main__":
    main()
