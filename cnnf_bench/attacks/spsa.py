"""L-inf SPSA (Uesato et al. 2018) with the semantics of advertorch 0.2.3's ``LinfSPSAAttack``.

The score-based attack the original CNN-F evaluation ran (reference sections 5 and 8.4), re-implemented
in torch. The perturbation ``dx`` starts at zero (no random start). Each of ``nb_iter`` iterations
estimates the gradient of the per-example loss at ``x + dx`` from ``nb_sample`` Rademacher directions
``v`` of one image's shape, each direction *shared by every image of the batch*:

    g = mean over v of (L(x + dx + delta v) - L(x + dx - delta v)) / (2 delta v),

drawn in chunks of ``max_batch_size`` directions, one random call per chunk as advertorch draws them
(this fixes the random stream of a seed), the query points not clipped to [0, 1], as in advertorch. The
queries are evaluated without autograd (``torch.inference_mode()``) in large forward calls that hold both
signs of many directions for the whole batch; the grouping is a speed setting that changes no number.
Then one ``torch.optim.Adam`` step on ``dx`` that increases the loss, and ``dx`` is projected in place
(Adam keeps its moments) to the eps-box with ``x + dx`` clipped to [0, 1].

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
from cnnf_bench.progress import report_iteration

#: per-example loss of (logits, labels), shape (n,)
LossFn = Callable[[Tensor, Tensor], Tensor]


SPSA_LOSSES: dict[str, LossFn] = {"ce": cross_entropy_loss, "margin": margin_loss}


#: images per forward call of the query evaluation on the CPU (batches of several hundred run up to 2-3x
#: slower per image there than batches of about a hundred: the activations leave the cache); on a GPU one
#: call takes every query of an estimate up to the cap
CPU_QUERY_IMAGES = 128
GPU_QUERY_IMAGES = 16384


def query_images(device: torch.device) -> int:
    """How many query images one forward call evaluates on ``device`` (a speed setting: never a result)."""
    return GPU_QUERY_IMAGES if device.type == "cuda" else CPU_QUERY_IMAGES


class _Estimator:
    """SPSA gradient estimates for one batch, with its query buffers allocated once.

    The Rademacher directions are drawn in chunks of ``max_batch_size``, one generator call per chunk
    exactly as advertorch does, so the random stream (hence the result) of a seed stays the same. The
    queries are then evaluated in forward calls of :func:`query_images` images (both signs of as many
    directions as fit, or slices of them for a large batch), under ``torch.inference_mode()``; a model's
    per-example logits do not depend on what else is in the batch (checked bit for bit for the CNN and
    CNN-F views on the CPU; a call of a single image can take another BLAS kernel, and none is made: the
    calls hold an even number of queries), so the grouping changes no number.
    The estimate sums ``diff * v`` chunk by chunk in the original order (floating-point sums are not
    associative: the same order gives the same bits).
    """

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
        self.image = image
        chunk = min(max_batch_size, nb_sample)
        self.chunks = [chunk] * (nb_sample // chunk) + ([nb_sample % chunk] if nb_sample % chunk else [])
        device = y.device
        #: directions per forward call: both signs of ``block`` directions for every image of the batch
        self.per_call = query_images(device)
        self.block = max(1, min(nb_sample, self.per_call // (2 * max(n, 1))))
        self.v = torch.empty((nb_sample, 1, *image), dtype=dtype, device=device)  # one direction per sample
        self.query = torch.empty((self.block, 2, n, *image), dtype=dtype, device=device)
        self.y = y.repeat(2 * self.block)  # image-minor, matching query.view(-1, ...)
        self.diff = torch.empty((nb_sample, n), dtype=dtype, device=device)
        self.grad = torch.empty(shape, dtype=dtype, device=device)

    @torch.inference_mode()
    def __call__(self, x: Tensor) -> Tensor:
        """The estimate at ``x`` (a view of an internal buffer: copy it to keep it past the next call)."""
        n = x.shape[0]
        lo = 0
        for k in self.chunks:  # the draws, chunk by chunk (the random stream of advertorch's loop)
            self.v[lo : lo + k].bernoulli_(0.5, generator=self.generator).mul_(2.0).sub_(1.0)
            lo += k
        for lo in range(0, self.nb_sample, self.block):
            b = min(self.block, self.nb_sample - lo)
            v, query = self.v[lo : lo + b], self.query[:b]
            torch.add(x, v, alpha=self.delta, out=query[:, 0])
            torch.sub(x, v, alpha=self.delta, out=query[:, 1])
            flat = query.view(2 * b * n, *self.image)
            logits = torch.cat([self.forward(flat[i : i + self.per_call]) for i in range(0, 2 * b * n, self.per_call)])
            losses = self.loss_fn(logits, self.y[: 2 * b * n]).view(b, 2, n)
            torch.sub(losses[:, 0], losses[:, 1], out=self.diff[lo : lo + b])
        grad = self.grad.view(n, -1)
        grad.zero_()
        lo = 0
        for k in self.chunks:
            # 1 / v == v for Rademacher v: sum_s diff[s, b] v_s, for every image b at once
            grad.addmm_(self.diff[lo : lo + k].t(), self.v[lo : lo + k].view(k, -1))
            lo += k
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
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """One run of L-inf SPSA from ``dx = 0``; returns ``x + dx``, detached, inside the eps-ball and [0, 1].

    ``progress(done, nb_iter)`` is called after every iteration (an SPSA batch can take minutes); by
    default the evaluator's listener hears it (:func:`cnnf_bench.progress.report_iteration`).
    """
    x = x.detach()
    if x.shape[0] == 0 or eps == 0:
        return x.clone()
    loss_fn = SPSA_LOSSES[loss] if isinstance(loss, str) else loss
    estimate = _Estimator(forward, loss_fn, y, x.shape, x.dtype, delta, nb_sample, max_batch_size, generator)
    dx = torch.zeros_like(x)
    opt = torch.optim.Adam([dx], lr=lr)
    point = torch.empty_like(x)
    for step in range(nb_iter):
        torch.add(x, dx, out=point)
        dx.grad = estimate(point).neg_()  # Adam minimises: descend the negated loss (as advertorch does)
        opt.step()
        with torch.no_grad():
            dx.clamp_(-eps, eps)
            torch.add(x, dx, out=point).clamp_(0.0, 1.0)
            torch.sub(point, x, out=dx)  # in place: the optimiser keeps its moments for this tensor
        (progress or report_iteration)(step + 1, nb_iter)
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
        max_batch_size: directions drawn per random call (advertorch's query chunk; it fixes the random
            stream of a seed). Forward calls group the queries by speed (:func:`query_images`).
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
