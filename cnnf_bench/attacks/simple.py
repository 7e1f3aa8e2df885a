"""The clean "attack" (``none``) and the single-step FGSM (Goodfellow et al. 2015)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from cnnf_bench.attacks.base import ATTACKS, Attack, Forward
from cnnf_bench.attacks.pgd import input_gradient


@ATTACKS.register("none")
@dataclass(frozen=True)
class NoAttack(Attack):
    """Clean accuracy through the same path and record shape as any attack."""

    name: ClassVar[str] = "none"
    summary: ClassVar[str] = "clean images (accuracy through the same path as the attacks)"
    uses_view: ClassVar[bool] = False

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        return x.detach().clone()


@ATTACKS.register("fgsm")
@dataclass(frozen=True)
class FGSM(Attack):
    """Fast gradient sign method: one step of size eps along the sign of the input gradient, clipped."""

    name: ClassVar[str] = "fgsm"
    summary: ClassVar[str] = "fast gradient sign method (one step of size eps)"

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        grad, _ = input_gradient(forward, x, y)
        return (x.detach() + self.eps * grad.sign()).clamp_(0.0, 1.0)
