"""What an attack spent: images through the attacked view's forward and backward passes, and deployed queries.

A robust accuracy is a claim about a budget, and the budget an attack's parameters promise is not always
what it spends (early stopping, restarts on the unbroken examples only, extra prediction passes inside a
library). :class:`PassCounter` wraps the functions an attack receives and counts, per image, the forward
passes of the view (with and without autograd), the backward passes through it, and the queries of the
deployed inference (``score``). The wrappers return the wrapped function's own tensors (the backward
counter is an identity in autograd), so counting never changes a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from cnnf_bench.attacks.base import Forward


class _CountBackward(torch.autograd.Function):
    """Identity on the logits whose backward adds the batch size to a counter."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, counter: PassCounter) -> Tensor:  # type: ignore[override]
        ctx.counter = counter
        ctx.images = int(logits.shape[0])
        return logits.view_as(logits)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        ctx.counter.backward_images += ctx.images
        return grad, None


class _Counted:
    """A forward function that reports every call to a :class:`PassCounter` (``__wrapped__``: the original)."""

    def __init__(self, fn: Forward, counter: PassCounter, score: bool) -> None:
        self.__wrapped__ = fn
        self._counter = counter
        self._score = score

    def __call__(self, x: Tensor) -> Tensor:
        out = self.__wrapped__(x)
        images = int(x.shape[0])
        counter = self._counter
        if self._score:
            counter.score_images += images
            return out
        counter.forward_images += images
        if torch.is_grad_enabled() and out.requires_grad:
            counter.grad_forward_images += images
            return _CountBackward.apply(out, counter)  # type: ignore[no-any-return]
        return out


@dataclass
class PassCounter:
    """Images through the view (forward, of which under autograd, backward) and the deployed inference."""

    forward_images: int = 0
    grad_forward_images: int = 0
    backward_images: int = 0
    score_images: int = 0

    def view(self, fn: Forward) -> Forward:
        """``fn`` counted as the attacked view."""
        return _Counted(fn, self, score=False)

    def score(self, fn: Forward) -> Forward:
        """``fn`` counted as the deployed inference (queries an attack makes to choose its candidates)."""
        return _Counted(fn, self, score=True)

    def per_image(self, images: int, seconds: float) -> dict[str, float]:
        """The record's ``cost``: passes per attacked image and the wall time (0 images: zero counts)."""
        scale = 1.0 / images if images else 0.0
        return {
            "forward": round(self.forward_images * scale, 4),
            "backward": round(self.backward_images * scale, 4),
            "queries": round(self.score_images * scale, 4),
            "seconds": round(seconds, 3),
        }


def unwrap(fn: Any) -> Any:
    """The function under any counting wrappers (for code that inspects what a view belongs to)."""
    while isinstance(fn, _Counted):
        fn = fn.__wrapped__
    return fn
