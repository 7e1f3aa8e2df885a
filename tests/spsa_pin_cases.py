"""Fixed SPSA cases whose adversarial images were pinned with the implementation before its rewrite.

``tests/data/spsa_pinned.pt`` holds, per case, the adversarial images and the accuracy that the
chunked implementation of commit db7ac8a produced (``python -m tests.spsa_pin_cases`` wrote it). The
rewrite must give the same numbers for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnf_bench.runtime import configure_torch
from cnnf_bench.zoo import build_model, resolve_kwargs

PIN_FILE = Path(__file__).parent / "data" / "spsa_pinned.pt"

#: name -> (model, view, spsa kwargs); the chunk sizes cover a remainder chunk and one chunk of all samples
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "linear-ce-remainder": ("linear", "-", {"nb_iter": 3, "nb_sample": 10, "max_batch_size": 4}),
    "linear-margin-one-chunk": ("linear", "-", {"nb_iter": 2, "nb_sample": 8, "max_batch_size": 64, "loss": "margin"}),
    "cnnf-e2e-ce": ("cnnf", "e2e", {"nb_iter": 2, "nb_sample": 6, "max_batch_size": 4}),
    "cnnf-first-margin": ("cnnf", "first", {"nb_iter": 2, "nb_sample": 4, "max_batch_size": 2, "loss": "margin"}),
}
EPS, LR, DELTA, SEED = 0.1, 0.02, 0.01, 7


def case_inputs(kind: str) -> tuple[Callable[[str], Callable[[Tensor], Tensor]], Tensor, Tensor]:
    """(view getter, images, labels) of a case; weights and images come from fixed seeds, the labels are
    the model's clean predictions (so the accuracy starts at 1 and shows what the attack broke)."""
    configure_torch()
    gen = torch.Generator().manual_seed(0)
    if kind == "linear":
        torch.manual_seed(0)
        linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
        for p in linear.parameters():
            p.requires_grad_(False)
        x = torch.rand(6, 1, 8, 8, generator=gen)
        with torch.no_grad():
            return (lambda _view: linear), x, linear(x).argmax(1)
    torch.manual_seed(0)
    model = build_model("cnnf-fmnist-small", resolve_kwargs("cnnf-fmnist-small", {"cycles": 1})).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(4, 1, 28, 28, generator=gen)
    with torch.no_grad():
        return model.view, x, model.first(x).argmax(1)


def run_case(name: str) -> tuple[Tensor, float]:
    """The adversarial images of case ``name`` and the view's accuracy on them."""
    from cnnf_bench.attacks.spsa import spsa_linf

    kind, view, kwargs = CASES[name]
    get_view, x, y = case_inputs(kind)
    forward = get_view(view)
    x_adv = spsa_linf(forward, x, y, EPS, lr=LR, delta=DELTA, generator=torch.Generator().manual_seed(SEED), **kwargs)
    with torch.no_grad():
        accuracy = float((forward(x_adv).argmax(1) == y).float().mean())
    return x_adv, accuracy


if __name__ == "__main__":
    PIN_FILE.parent.mkdir(parents=True, exist_ok=True)
    pinned = {}
    for case in CASES:
        images, acc = run_case(case)
        pinned[case] = {"x_adv": images, "accuracy": acc}
        print(case, acc, float(images.sum()))
    torch.save(pinned, PIN_FILE)
