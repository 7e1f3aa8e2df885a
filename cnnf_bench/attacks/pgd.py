"""Projected gradient descent in L-inf (Madry et al. 2018), as advertorch's ``LinfPGDAttack``.

Uniform random start in the eps-box (then clipped to [0, 1]), sign-gradient steps on the summed
cross-entropy, projection to the eps-box and clipping to [0, 1] after every step. Training uses
:func:`pgd_linf` directly (PGD-7 against the first pass); the registered attack adds restarts and
keeps each example's best iterate.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Forward = Callable[[Tensor], Tensor]


def project_linf(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Project into the L-inf ball of radius ``eps`` around ``x``, then into [0, 1]."""
    return torch.max(torch.min(x_adv, x + eps), x - eps).clamp_(0.0, 1.0)


def uniform_start(x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    """``x`` plus uniform noise in [-eps, eps], clipped to [0, 1]."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + (2.0 * noise - 1.0) * eps).clamp_(0.0, 1.0)


def input_gradient(forward: Forward, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Gradient of the summed cross-entropy w.r.t. the input, and the logits it came from."""
    x = x.detach().requires_grad_(True)
    logits = forward(x)
    loss = F.cross_entropy(logits, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
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
