"""The clean "attack" (``none``), random noise in the eps-ball (``noise``, check C12) and FGSM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from cnnf_bench.attacks.base import ATTACKS, Attack, BestCandidate, Forward, _positive_int
from cnnf_bench.attacks.pgd import input_gradient, uniform_start


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


@ATTACKS.register("noise")
@dataclass(frozen=True)
class UniformNoise(Attack):
    """Uniform noise in the L-inf eps-ball, ``draws`` times per example (the random baseline of check C12).

    With a deployed ``score`` function an example keeps a draw that the model misclassifies, if any;
    otherwise the last draw. Any gradient attack worth its name must do at least as well.
    """

    draws: int = 10

    name: ClassVar[str] = "noise"
    summary: ClassVar[str] = "uniform noise in the eps-ball, best of `draws` (random baseline, check C12)"
    uses_view: ClassVar[bool] = False

    def validate(self) -> None:
        super().validate()
        _positive_int(self.draws, "noise.draws")

    def uses_score(self) -> bool:
        return True

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        tracker = BestCandidate(x)
        for _ in range(self.draws):
            tracker.offer(uniform_start(x.detach(), self.eps, generator), y, score)
        return tracker.best


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
