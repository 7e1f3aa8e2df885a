"""The accuracy effect of bf16 autocast on one short training run: the same run in fp32 and in bf16.

Usage:
    uv run python benchmarks/amp_accuracy.py [--model cnnf-fmnist] [--train-subset 10000] [--epochs 1]
        [--device cuda] [--out benchmarks/results/amp_accuracy.json]

Trains the model twice from the same seed (adversarial recipe, the given subset and epochs), once in
fp32 and once with every training step under ``torch.autocast(dtype=torch.bfloat16)`` (weights, SGD
and the checkpoint stay fp32), then evaluates both checkpoints in fp32 with the paper protocol's clean
and PGD-7 (first pass, and end to end) on 1,000 test images, and prints training wall time and the
accuracies side by side.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from amp import amp_context

from cnnf_bench.config import resolve, run_config_from_mapping, run_name
from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint
from cnnf_bench.runtime import configure_torch, describe_device, resolve_device
from cnnf_bench.train import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cnnf-fmnist")
    parser.add_argument("--train-subset", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "amp_accuracy.json")
    args = parser.parse_args()
    configure_torch()
    device = resolve_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for amp in ("off", "bf16"):
            mapping = {
                "model": args.model,
                "data": {"train_subset": args.train_subset},
                "train": {"mode": "adversarial", "epochs": args.epochs},
            }
            cfg = resolve(run_config_from_mapping(mapping))
            start = time.perf_counter()
            with amp_context(device, amp):
                result = fit(cfg, Path(tmp) / amp / run_name(cfg), device)
            seconds = time.perf_counter() - start
            row: dict[str, object] = {"amp": amp, "train_seconds": seconds}
            for attack, targets in (("none", ("first",)), ("pgd", ("first", "e2e"))):
                request = EvalRequest(attack=attack, targets=targets, n=args.n)
                for record in evaluate_checkpoint(result.path, request, None, device):
                    row[f"{attack} {record['target']} {record['readout']}"] = record["n_correct"] / record["n"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    result_json = {
        "benchmark": "amp_accuracy",
        "machine": describe_device(device),
        "device": str(device),
        "torch": str(torch.__version__),
        "model": args.model,
        "train_subset": args.train_subset,
        "epochs": args.epochs,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result_json, indent=2) + "\n")
    print(f"\nmachine: {result_json['machine']}; written to {args.out}")


if __name__ == "__main__":
    main()
