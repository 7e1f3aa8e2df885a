"""Peak memory and time of an exact end-to-end input gradient against the number of cycles T.

Usage:
    uv run python benchmarks/unroll_memory.py [--model cnnf-fmnist-small] [--cycles 1 2 5 10 20] [--batch 100]
                                              [--device auto]

For each T, one cross-entropy input gradient through all T cycles (the ``e2e-avg`` view, what PGD on
the deployed avg readout computes each step) on ``--batch`` real Fashion-MNIST test images, with plain
autograd and with activation checkpointing in segments of ceil(sqrt(T)) cycles (``cnnf_bench.zoo.unroll``;
the automatic setting from T = 8 on). Each measurement runs in a fresh subprocess: on the CPU the peak
is the rise of the process's peak resident set size over its size before the gradient (allocator
effects included); on CUDA it is ``torch.cuda.max_memory_allocated`` above the allocation before.
The largest difference between the two gradients is printed too (they should be equal). Prints a
table and writes ``benchmarks/results/unroll_memory.json``. The model is untrained (memory and time do
not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def child(model_name: str, cycles: int, segment: int, batch: int, device_name: str) -> dict[str, float]:
    """One measurement (runs in its own process)."""
    import torch
    import torch.nn.functional as F

    from cnnf_bench.data import load_split
    from cnnf_bench.runtime import configure_torch, resolve_device
    from cnnf_bench.zoo import MODELS, build_model

    configure_torch()
    device = resolve_device(device_name)
    torch.manual_seed(0)
    model = build_model(model_name, {**MODELS.get(model_name).kwargs, "cycles": cycles}).to(device).eval()
    model.checkpoint_cycles = segment
    x, y = load_split("fmnist", False).batch(torch.arange(batch), device)
    view = model.view("e2e-avg")
    with torch.no_grad():
        view(x[:2])  # warm-up (lazy initialisation outside the measurement)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = _rss_bytes()
    start = time.perf_counter()
    xa = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(view(xa), y, reduction="sum"), xa)
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    seconds = time.perf_counter() - start
    torch.save(grad.cpu(), f"/tmp/unroll_memory_grad_{cycles}_{segment}.pt")
    return {"peak_mib": peak / 2**20, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnnf-fmnist-small")
    parser.add_argument("--cycles", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cycles, segment = int(args.child[0]), int(args.child[1])
        print(json.dumps(child(args.model, cycles, segment, args.batch, args.device)))
        return

    import torch

    rows = []
    for cycles in args.cycles:
        row: dict[str, float | int] = {"cycles": cycles, "segment": math.ceil(math.sqrt(cycles))}
        for label, segment in (("plain", 0), ("checkpointed", int(row["segment"]))):
            cmd = [sys.executable, __file__, "--model", args.model, "--batch", str(args.batch), "--device", args.device]
            out = subprocess.run([*cmd, "--child", str(cycles), str(segment), "-", "-"], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            row[f"{label}_mib"], row[f"{label}_s"] = result["peak_mib"], result["seconds"]
        plain = torch.load(f"/tmp/unroll_memory_grad_{cycles}_0.pt")
        ckpt = torch.load(f"/tmp/unroll_memory_grad_{cycles}_{row['segment']}.pt")
        row["max_grad_diff"] = float((plain - ckpt).abs().max())
        rows.append(row)

    print(f"{args.model}, batch {args.batch}, device {args.device}: exact e2e-avg input gradient")
    print(
        "| T | segment | plain peak MiB | checkpointed peak MiB | ratio | plain s | checkpointed s | max |grad diff| |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = r["checkpointed_mib"] / r["plain_mib"] if r["plain_mib"] > 0 else float("nan")
        print(
            f"| {r['cycles']} | {r['segment']} | {r['plain_mib']:.0f} | {r['checkpointed_mib']:.0f} | {ratio:.2f} | "
            f"{r['plain_s']:.2f} | {r['checkpointed_s']:.2f} | {r['max_grad_diff']:.1e} |"
        )
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "unroll_memory.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
