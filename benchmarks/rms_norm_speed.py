"""Speed of the two arithmetic forms of the RMS "instance norm": ``x / sqrt(m + eps)`` vs ``x * rsqrt(m + eps)``.

Usage:
    uv run python benchmarks/rms_norm_speed.py [--device auto] [--repeat 15] [--batch 128]

The original CNN-F code divides by ``sqrt``; an earlier version of this tool multiplied by ``rsqrt``,
which differs by one ulp and moves AdaPool's choice among near-equal values (docs/faithfulness.md).
The division form is the default; this script decides whether the multiplication form is worth keeping
as an option. It times, for both forms, interleaved and reporting the median of ``--repeat`` runs:

  * the norm alone, forward + backward, on the feature-map shapes of the Fashion-MNIST 4C3F and the WRN;
  * one forward + input-gradient of the Fashion-MNIST CNN-F end to end (k=2, T=1; random weights: speed
    does not depend on them), the unit of work of every white-box attack step.

Writes ``benchmarks/results/rms_norm_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch
from torch import Tensor

from cnnf_bench.feedback import RMS_EPS
from cnnf_bench.runtime import configure_torch, describe_device, resolve_device
from cnnf_bench.zoo import build_model


def norm_div(x: Tensor) -> Tensor:
    """The original's arithmetic (the default)."""
    return x / torch.sqrt(x.pow(2).mean(dim=(-2, -1), keepdim=True) + RMS_EPS)


def norm_rsqrt(x: Tensor) -> Tensor:
    """The multiply-by-rsqrt form."""
    return x * torch.rsqrt(x.pow(2).mean(dim=(-2, -1), keepdim=True) + RMS_EPS)


FORMS: dict[str, Callable[[Tensor], Tensor]] = {"div": norm_div, "rsqrt": norm_rsqrt}


def once(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def interleaved(cases: dict[str, Callable[[], object]], device: torch.device, repeat: int) -> dict[str, float]:
    """Median seconds per case, the cases alternating so that load on shared cores hits both alike."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            times[name].append(once(fn, device))
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rms_norm_speed.json")
    args = parser.parse_args()
    configure_torch()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    rows = []
    shapes = {"4c3f conv2 28x28": (32, 28, 28), "4c3f conv4 14x14": (64, 14, 14), "wrn block3 8x8": (128, 8, 8)}
    for label, shape in shapes.items():
        x = torch.randn(args.batch, *shape, device=device, requires_grad=True)

        def step(f: Callable[[Tensor], Tensor] = norm_div, x: Tensor = x) -> None:
            torch.autograd.grad(f(x).sum(), x)

        medians = interleaved({form: (lambda f=f: step(f)) for form, f in FORMS.items()}, device, args.repeat)
        rows.append({"case": f"norm fwd+bwd, {label}", **medians})

    model = build_model("cnnf-fmnist").to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    images = torch.rand(args.batch, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (args.batch,), device=device)

    def model_step(form: str) -> None:
        with mock.patch("cnnf_bench.zoo.fmnist.rms_norm", FORMS[form]):
            x = images.clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model.e2e(x), labels)
            torch.autograd.grad(loss, x)

    medians = interleaved({form: (lambda form=form: model_step(form)) for form in FORMS}, device, args.repeat)
    rows.append({"case": "cnnf-fmnist e2e fwd+input grad", **medians})

    print(f"{'case':34s} {'div ms':>9s} {'rsqrt ms':>9s} {'rsqrt/div':>9s}")
    for row in rows:
        row["ratio_rsqrt_to_div"] = row["rsqrt"] / row["div"]
        print(f"{row['case']:34s} {row['div'] * 1e3:9.3f} {row['rsqrt'] * 1e3:9.3f} {row['ratio_rsqrt_to_div']:9.3f}")
    result = {
        "benchmark": "rms_norm_speed",
        "machine": describe_device(device),
        "device": str(device),
        "torch": str(torch.__version__),
        "batch": args.batch,
        "repeat": args.repeat,
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nmachine: {result['machine']}; written to {args.out}")


if __name__ == "__main__":
    main()
