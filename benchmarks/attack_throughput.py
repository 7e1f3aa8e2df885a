"""Attack throughput: in-house PGD (first pass and end to end) vs ART's PGD vs the floor.

Usage:
    uv run python benchmarks/attack_throughput.py [--n 512] [--batch 256] [--steps 7] [--device auto]

On the Fashion-MNIST CNN-F (4 conv + 3 FC, k=2, T=1; random weights: speed does not depend on them)
it measures images/s of
  * in-house PGD-k against the first pass and end to end,
  * the same PGD through ART's ``ProjectedGradientDescent`` (torch path) against the first pass,
  * the floor no PGD implementation can beat: k x one forward+backward of the target on a batch
    (timed directly), i.e. the gradient computations alone, without projection, scoring or copies.
Ratios are floor time / measured time (1.0 = no overhead). Writes ``benchmarks/results/attack_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from cnnf_bench.attacks import ATTACKS
from cnnf_bench.attacks.pgd import input_gradient
from cnnf_bench.runtime import configure_torch, describe_device, resolve_device
from cnnf_bench.zoo import build_model


def timed(fn: Callable[[], object], device: torch.device, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=512, help="images attacked per measurement")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "attack_throughput.json")
    args = parser.parse_args()
    configure_torch()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = build_model("cnnf-fmnist").to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(args.n, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (args.n,), device=device)
    params = {"eps": 0.1, "step_size": 0.0355, "steps": args.steps, "random_start": True}

    def batches(fn: Callable[[torch.Tensor, torch.Tensor], object]) -> Callable[[], None]:
        def run() -> None:
            for lo in range(0, args.n, args.batch):
                fn(x[lo : lo + args.batch], y[lo : lo + args.batch])

        return run

    pgd = ATTACKS.get("pgd").from_params(params)
    art = ATTACKS.get("art-pgd").from_params(params)
    gen = torch.Generator(device=device).manual_seed(0)
    rows = []
    for view_name, view in (("first", model.first), ("e2e", model.e2e)):
        floor = timed(batches(lambda xb, yb, v=view: input_gradient(v, xb, yb)), device, args.repeat) * args.steps
        ours = timed(batches(lambda xb, yb, v=view: pgd.run(v, xb, yb, gen)), device, args.repeat)
        rows.append({"attack": "pgd (in-house)", "target": view_name, "seconds": ours, "floor_seconds": floor})
        if view_name == "first":
            theirs = timed(batches(lambda xb, yb, v=view: art.run(v, xb, yb, gen)), device, args.repeat)
            rows.append({"attack": "pgd (ART)", "target": view_name, "seconds": theirs, "floor_seconds": floor})
    print(f"{'attack':16s} {'target':6s} {'img/s':>9s} {'floor img/s':>12s} {'floor/time':>10s}")
    for row in rows:
        row["images_per_s"] = args.n / row["seconds"]
        row["floor_images_per_s"] = args.n / row["floor_seconds"]
        row["ratio_to_floor"] = row["floor_seconds"] / row["seconds"]
        print(
            f"{row['attack']:16s} {row['target']:6s} {row['images_per_s']:9.1f} {row['floor_images_per_s']:12.1f} "
            f"{row['ratio_to_floor']:10.2f}"
        )
    result = {
        "benchmark": "attack_throughput",
        "machine": describe_device(device),
        "device": str(device),
        "torch": str(torch.__version__),
        "n": args.n,
        "batch": args.batch,
        "steps": args.steps,
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nmachine: {result['machine']}; written to {args.out}")


if __name__ == "__main__":
    main()
