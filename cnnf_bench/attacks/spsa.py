"""L-inf SPSA (Uesato et al. 2018) with the semantics of advertorch 0.2.3's ``LinfSPSAAttack``.

The score-based attack the original CNN-F evaluation ran (reference sections 5 and 8.4), re-implemented
in torch. The perturbation ``dx`` starts at zero (no random start). Each of ``nb_iter`` iterations
estimates the gradient of the per-example loss at ``x + dx`` from ``nb_sample`` Rademacher directions
``v`` of one image's shape, each direction *shared by every image of the batch*:

    g = mean over v of (L(x + dx + delta v) - L(x + dx - delta v)) / (2 delta v),

queried in chunks of at most ``max_batch_size`` directions (one forward evaluates batch x chunk images;
the query points are not clipped to [0, 1], as in advertorch). Then one ``torch.optim.Adam`` step on
``dx`` that increases the loss, and ``dx`` is projected in place (Adam keeps its moments) to the eps-box
with ``x + dx`` clipped to [0, 1].

Adam moves each pixel by about ``lr`` per step, so the attack reaches at most about ``nb_iter * lr`` in
L-inf (:meth:`SPSA.reach`): the original's lr 0.01 on [-1, 1] inputs (0.005 here) and 7 steps reach
0.035, about 35% of Fashion-MNIST's eps 0.1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from cnnf_bench.attacks.base import ATTACKS, Attack, Forward, _positive, _positive_int
from cnnf_bench.attacks.losses import cross_entropy_loss, margin_loss
from cnnf_bench.attacks.pgd import project_linf
from cnnf_bench.errors import ConfigError

#: per-example loss of (logits, labels), shape (n,)
LossFn = Callable[[Tensor, Tensor], Tensor]


SPSA_LOSSES: dict[str, LossFn] = {"ce": cross_entropy_loss, "margin": margin_loss}


class _Estimator:
    """SPSA gradient estimates for one batch, with its query buffers allocated once."""

    def __init__(
        self,
        forward: Forward,
        loss_fn: LossFn,
        y: Tensor,
        shape: torch.Size,
        dtype: torch.dtype,
        delta: float,
        nb_sample: int,
        max_batch_size: int,
        generator: torch.Generator | None,
    ) -> None:
        self.forward, self.loss_fn, self.delta, self.nb_sample = forward, loss_fn, delta, nb_sample
        self.generator = generator
        n, image = shape[0], shape[1:]
        chunk = min(max_batch_size, nb_sample)
        self.chunks = [chunk] * (nb_sample // chunk) + ([nb_sample % chunk] if nb_sample % chunk else [])
        device = y.device
        self.v = torch.empty((chunk, 1, *image), dtype=dtype, device=device)  # one direction per sample
        self.query = torch.empty((chunk, n, *image), dtype=dtype, device=device)
        self.y = y.repeat(chunk)  # sample-major, matching query.view(chunk * n, ...)
        self.grad = torch.empty(shape, dtype=dtype, device=device)

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        """The estimate at ``x`` (a view of an internal buffer: copy it to keep it past the next call)."""
        n = x.shape[0]
        grad = self.grad.view(n, -1)
        grad.zero_()
        for k in self.chunks:
            v, query, y = self.v[:k], self.query[:k], self.y[: k * n]
            v.bernoulli_(0.5, generator=self.generator).mul_(2.0).sub_(1.0)
            torch.add(x, v, alpha=self.delta, out=query)
            plus = self.loss_fn(self.forward(query.view(k * n, *x.shape[1:])), y)
            torch.sub(x, v, alpha=self.delta, out=query)
            minus = self.loss_fn(self.forward(query.view(k * n, *x.shape[1:])), y)
            diff = (plus - minus).view(k, n)
            # 1 / v == v for Rademacher v: sum_s diff[s, b] v_s, for every image b at once
            grad.addmm_(diff.t().to(grad.dtype), v.view(k, -1))
        return self.grad.mul_(1.0 / (2.0 * self.delta * self.nb_sample))


def spsa_gradient(
    forward: Forward,
    x: Tensor,
    y: Tensor,
    delta: float = 0.01,
    nb_sample: int = 128,
    max_batch_size: int = 64,
    loss: str | LossFn = "ce",
    generator: torch.Generator | None = None,
) -> Tensor:
    """SPSA estimate of the gradient of the per-example loss at ``x`` (shared Rademacher directions)."""
    loss_fn = SPSA_LOSSES[loss] if isinstance(loss, str) else loss
    estimate = _Estimator(forward, loss_fn, y, x.shape, x.dtype, delta, nb_sample, max_batch_size, generator)
    return estimate(x.detach()).clone()


def spsa_linf(
    forward: Forward,
    x: Tensor,
    y: Tensor,
    eps: float,
    nb_iter: int = 7,
    lr: float = 0.01,
    delta: float = 0.01,
    nb_sample: int = 128,
    max_batch_size: int = 64,
    loss: str | LossFn = "ce",
    generator: torch.Generator | None = None,
) -> Tensor:
    """One run of L-inf SPSA from ``dx = 0``; returns ``x + dx``, detached, inside the eps-ball and [0, 1]."""
    x = x.detach()
    if x.shape[0] == 0 or eps == 0:
        return x.clone()
    loss_fn = SPSA_LOSSES[loss] if isinstance(loss, str) else loss
    estimate = _Estimator(forward, loss_fn, y, x.shape, x.dtype, delta, nb_sample, max_batch_size, generator)
    dx = torch.zeros_like(x)
    opt = torch.optim.Adam([dx], lr=lr)
    point = torch.empty_like(x)
    for _ in range(nb_iter):
        torch.add(x, dx, out=point)
        dx.grad = estimate(point).neg_()  # Adam minimises: descend the negated loss (as advertorch does)
        opt.step()
        with torch.no_grad():
            dx.clamp_(-eps, eps)
            torch.add(x, dx, out=point).clamp_(0.0, 1.0)
            torch.sub(point, x, out=dx)  # in place: the optimiser keeps its moments for this tensor
    return project_linf(x + dx, x, eps)


@ATTACKS.register("spsa")
@dataclass(frozen=True)
class SPSA(Attack):
    """L-inf SPSA as advertorch's ``LinfSPSAAttack``: Adam on the perturbation, zero start, shared directions.

    Score-based: it only queries the view's logits, never its gradients. Deterministic for a generator
    seed (the Rademacher draws come from it); everything runs on the input's device.

    Args:
        eps: L-inf budget in [0, 1] units.
        nb_iter: Adam steps.
        lr: Adam learning rate (about the L-inf distance moved per step; see :meth:`reach`).
        delta: finite-difference step of the gradient estimate.
        nb_sample: Rademacher directions per estimate.
        max_batch_size: directions evaluated per forward call (a call sees batch x this many images).
        loss: ``ce`` (per-example cross-entropy, as the original evaluation) or ``margin`` (CW margin).
    """

    nb_iter: int = 7
    lr: float = 0.01
    delta: float = 0.01
    nb_sample: int = 128
    max_batch_size: int = 64
    loss: str = "ce"

    name: ClassVar[str] = "spsa"
    summary: ClassVar[str] = "L-inf SPSA, advertorch semantics (nb_iter, lr, delta, nb_sample; score-based)"
    black_box: ClassVar[bool] = True

    def validate(self) -> None:
        super().validate()
        _positive_int(self.nb_iter, "spsa.nb_iter")
        _positive_int(self.nb_sample, "spsa.nb_sample")
        _positive_int(self.max_batch_size, "spsa.max_batch_size")
        _positive(self.lr, "spsa.lr")
        _positive(self.delta, "spsa.delta")
        for field in ("lr", "delta"):
            if not math.isfinite(getattr(self, field)):
                raise ConfigError(f"spsa.{field} must be finite, got {getattr(self, field)}")
        if self.loss not in SPSA_LOSSES:
            raise ConfigError(f"spsa.loss must be one of {', '.join(SPSA_LOSSES)}, got {self.loss!r}")

    def reach(self) -> float:
        """How far in L-inf the attack can move: min(eps, nb_iter * lr), as Adam moves about lr per step."""
        return min(self.eps, self.nb_iter * self.lr)

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        return spsa_linf(
            forward,
            x,
            y,
            self.eps,
            nb_iter=self.nb_iter,
            lr=self.lr,
            delta=self.delta,
            nb_sample=self.nb_sample,
            max_batch_size=self.max_batch_size,
            loss=self.loss,
            generator=generator,
        )
