"""Projected gradient descent in L-inf (Madry et al. 2018), as advertorch's ``LinfPGDAttack``.

Uniform random start in the eps-box (then clipped to [0, 1]), sign-gradient steps on the summed
cross-entropy, projection to the eps-box and clipping to [0, 1] after every step. Training uses
:func:`pgd_linf` directly (PGD-7 against the first pass); the registered attack adds restarts, keeps
each example's best iterate, and can ascend the CW margin loss instead (``loss="margin"``; Carlini &
Wagner 2017), which keeps a useful gradient where a confident prediction saturates the cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from cnnf_bench.attacks.base import ATTACKS, Attack, BestCandidate, Forward, _positive_int
from cnnf_bench.attacks.losses import LOSSES, example_loss, margin_loss  # noqa: F401  (margin_loss: re-export)
from cnnf_bench.errors import ConfigError
from cnnf_bench.progress import report_iteration


def project_linf(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Project into the L-inf ball of radius ``eps`` around ``x``, then into [0, 1]."""
    return torch.max(torch.min(x_adv, x + eps), x - eps).clamp_(0.0, 1.0)


def uniform_start(x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    """``x`` plus uniform noise in [-eps, eps], clipped to [0, 1]."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + (2.0 * noise - 1.0) * eps).clamp_(0.0, 1.0)


#: losses PGD can ascend (summed over the batch); "ce" is the original evaluation's
PGD_LOSSES = LOSSES


def input_gradient(forward: Forward, x: Tensor, y: Tensor, loss: str = "ce") -> tuple[Tensor, Tensor]:
    """Gradient of the summed loss (cross-entropy or CW margin) w.r.t. the input, and the view's output
    (logits, or the iteration stack of an ``any-iter`` view: see :mod:`cnnf_bench.attacks.losses`)."""
    x = x.detach().requires_grad_(True)
    logits = forward(x)
    total = example_loss(logits, y, loss).sum()
    (grad,) = torch.autograd.grad(total, x)
    return grad, logits.detach()


def pgd_linf(
    forward: Forward,
    x: Tensor,
    y: Tensor,
    eps: float,
    step: float,
    steps: int,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One run of L-inf PGD; returns the final iterate, detached, inside the eps-ball and [0, 1]."""
    x = x.detach()
    x_adv = uniform_start(x, eps, generator) if random_start and eps > 0 else x.clone()
    for _ in range(steps):
        grad, _ = input_gradient(forward, x_adv, y)
        x_adv = project_linf(x_adv + step * grad.sign(), x, eps)
    return x_adv.detach()


@ATTACKS.register("pgd")
@dataclass(frozen=True)
class PGD(Attack):
    """L-inf PGD with uniform random start, sign steps, projection and clipping after every step.

    With ``restarts`` > 1 (or ``track_best``) and a deployed ``score`` function, each example keeps an
    iterate the deployed model misclassifies when any restart (or, with ``track_best``, any step) found
    one (check C16, "silent success"); otherwise the last restart's final iterate. With one restart and
    no tracking this is exactly advertorch's ``LinfPGDAttack`` as the original evaluation used it.

    Args:
        eps: L-inf budget in [0, 1] units.
        step_size: step per iteration (None: 2.5 eps / steps, Madry et al.).
        steps: iterations per restart.
        random_start: start uniformly in the eps-box (else at the clean image).
        restarts: independent runs per example.
        track_best: check the deployed prediction after every step, not only after each restart.
        loss: ``ce`` (cross-entropy, the default) or ``margin`` (CW margin loss).
    """

    step_size: float | None = None
    steps: int = 7
    random_start: bool = True
    restarts: int = 1
    track_best: bool = False
    loss: str = "ce"

    name: ClassVar[str] = "pgd"
    summary: ClassVar[str] = "L-inf projected gradient descent (steps, step_size, random_start, restarts, loss)"

    def validate(self) -> None:
        super().validate()
        _positive_int(self.steps, "pgd.steps")
        _positive_int(self.restarts, "pgd.restarts")
        if self.loss not in PGD_LOSSES:
            raise ConfigError(f"{self.name}.loss must be one of {', '.join(PGD_LOSSES)}, got {self.loss!r}")
        if self.step_size is None:
            object.__setattr__(self, "step_size", 2.5 * self.eps / self.steps)
        elif self.step_size < 0:
            raise ConfigError(f"pgd.step_size must be >= 0, got {self.step_size}")

    def params(self) -> dict[str, Any]:
        """The hyper-parameters; ``loss`` only when it is not the default cross-entropy, so that every
        cross-entropy record keeps the key (and params) it had before the loss became a parameter."""
        params = super().params()
        if params["loss"] == "ce":
            del params["loss"]
        return params

    def uses_score(self) -> bool:
        return self.restarts > 1 or self.track_best

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        assert self.step_size is not None
        x = x.detach()
        tracker = BestCandidate(x)
        everyone = torch.arange(x.shape[0], device=x.device)
        for restart in range(self.restarts):
            # with a deployed score, later restarts attack only the examples no earlier restart broke:
            # the same per-example result at a fraction of the cost
            rows = everyone[~tracker.fooled] if restart and score is not None else everyone
            if rows.numel() == 0:
                break
            x0, y0 = x[rows], y[rows]
            x_adv = uniform_start(x0, self.eps, generator) if self.random_start and self.eps > 0 else x0.clone()
            for step in range(self.steps):
                grad, _ = input_gradient(forward, x_adv, y0, self.loss)
                x_adv = project_linf(x_adv + self.step_size * grad.sign(), x0, self.eps)
                if self.track_best:
                    tracker.offer(x_adv, y0, score, rows)
                report_iteration(restart * self.steps + step + 1, self.restarts * self.steps)
            if not self.track_best:
                tracker.offer(x_adv, y0, score if self.uses_score() else None, rows)
        return tracker.best
