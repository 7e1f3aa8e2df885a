"""Per-example attack losses over a view's output: one logits vector, or a stack of them per iteration.

Most views return logits ``(B, C)``. A view over every iteration of an iterative inference (CNN-F's
``any-iter``) returns the stack ``(B, K, C)`` of its K iterations' logits. An attack that ascends a loss
on such a view ascends, per example, a smooth maximum over the iterations of the per-iteration loss
(``logsumexp``, between the worst iteration's loss and that plus ``log K``): every iteration gets a
gradient, weighted by how close it is to being the worst, so the attack drives towards inputs where
*some* iteration is wrong (Croce et al. 2022 on test-time-iterative defences) instead of the one
iteration a single view exposes. Every gradient and score-based attack goes through :func:`example_loss`,
so any view can be attacked with any of them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: losses the gradient and score-based attacks can ascend; "ce" is the original evaluation's
LOSSES: tuple[str, ...] = ("ce", "margin")


def margin_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Per-example CW margin: the largest wrong logit minus the true logit (> 0 iff misclassified).

    For an iteration stack ``(B, K, C)``: the smooth maximum over iterations (see the module docstring).
    """
    if logits.dim() == 3:
        return _over_iterations(margin_loss, logits, y)
    true = logits.gather(1, y[:, None]).squeeze(1)
    wrong = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return wrong - true


def cross_entropy_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Per-example cross-entropy; for an iteration stack, the smooth maximum over iterations."""
    if logits.dim() == 3:
        return _over_iterations(cross_entropy_loss, logits, y)
    return F.cross_entropy(logits, y, reduction="none")


def _over_iterations(loss, logits: Tensor, y: Tensor) -> Tensor:  # type: ignore[no-untyped-def]
    """``logsumexp`` over K of the per-iteration losses of a ``(B, K, C)`` stack."""
    b, k, c = logits.shape
    per_iteration = loss(logits.reshape(b * k, c), y.repeat_interleave(k)).view(b, k)
    return torch.logsumexp(per_iteration, dim=1)


def example_loss(logits: Tensor, y: Tensor, loss: str = "ce") -> Tensor:
    """Per-example loss ``loss`` (``ce`` or ``margin``) of a view's output (logits or an iteration stack)."""
    return cross_entropy_loss(logits, y) if loss == "ce" else margin_loss(logits, y)


def predicted_per_iteration(logits: Tensor) -> Tensor:
    """Predicted labels of a view's output: ``(B,)`` for logits, ``(B, K)`` for an iteration stack."""
    return logits.argmax(-1)
