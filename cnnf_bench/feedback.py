"""Feedback layers of CNN-F (Huang et al., NeurIPS 2020), as the original code defines them.

Every layer has a feedforward ``forward`` and a generative ``feedback`` direction (the latter is the
top-down pathway of the paper, not autograd's backward). The latent state the two directions share
(ReLU masks, the feedback that last reached a ReLU or pool, pool argmax/argmin indices) lives in a
:class:`Pass` object that exists for one inference call only, so a model call never depends on an
earlier one and nobody needs to ``reset()`` anything.

Faithfulness notes (see ``docs/faithfulness.md`` for the whole list):

* :class:`TiedConv2d` uses one weight for the convolution and its transposed convolution
  (``output_padding=1`` when strided), He fan-out initialisation, no bias.
* :class:`TiedLinear` uses one weight as ``W`` forward and ``W^T`` in feedback. The original aliases two
  Parameters through ``.data``, which doubles weight decay on FC weights; training reproduces that
  with ``fc_weight_decay_factor`` (default 2).
* :func:`rms_norm` is the original "instance norm": per-sample, per-channel RMS, no centring, no scale,
  with the original's arithmetic (a division by ``sqrt``, bit for bit).
* :class:`AdaReLU` is the code's resReLU: after feedback it mixes the pre-activation towards the
  feedback (``f + eta (g - f)``) and keeps it where ``f * g > 0`` (sign preserving; not Eq. 3).
* :class:`AdaPool2d` max-pools where the feedback is positive, min-pools where it is negative, outputs 0
  where it is exactly 0, and unpools the feedback to the stored argmax/argmin positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RMS_EPS = 1e-8


@dataclass
class Pass:
    """Latent state of one inference call: per-layer masks, hidden feedback and pool indices.

    Args:
        eta: the online-update rate (``res_param`` of the original) used by every AdaReLU.
    """

    eta: float
    _slots: dict[int, dict[str, Any]] = field(default_factory=dict)

    def slot(self, layer: nn.Module) -> dict[str, Any]:
        """The mutable state dict of ``layer`` for this call (created empty on first use)."""
        return self._slots.setdefault(id(layer), {})


def rms_norm(x: Tensor) -> Tensor:
    """Divide each (sample, channel) map by its root mean square over H and W.

    This is the original code's ``InsNorm``: no mean subtraction, no learned scale, no running
    statistics, identical in training and evaluation, and per sample (so batches never couple).

    It divides by ``sqrt(m + 1e-8)`` as the original does. Multiplying by ``rsqrt`` instead differs by one
    ulp, enough to move AdaPool's pick among near-equal values and AdaReLU masks near zero (so feedback
    maps and input gradients change); it is no faster end to end (benchmarks/rms_norm_speed.py).
    """
    return x / torch.sqrt(x.pow(2).mean(dim=(-2, -1), keepdim=True) + RMS_EPS)


class Bias(nn.Module):
    """A learnable bias, initialised to zero; the original never applies it in feedback."""

    def __init__(self, channels: int, spatial: bool = True) -> None:
        super().__init__()
        shape = (1, channels, 1, 1) if spatial else (1, channels)
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class TiedConv2d(nn.Module):
    """Convolution whose feedback is the transposed convolution with the very same weight.

    The weight is drawn from N(0, sqrt(2 / (k * k * out_channels))) (He, fan-out) as in the original.
    A stride above 1 gives the transposed convolution ``output_padding=1`` so that e.g. 8 -> 16 and
    16 -> 32 invert exactly.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0
    ) -> None:
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.output_padding = 1 if stride > 1 else 0
        weight = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        nn.init.normal_(weight, 0.0, math.sqrt(2.0 / (kernel_size * kernel_size * out_channels)))
        self.weight = nn.Parameter(weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding)

    def feedback(self, y: Tensor) -> Tensor:
        """The adjoint of :meth:`forward`: transposed convolution with the tied weight, no bias."""
        return F.conv_transpose2d(
            y, self.weight, stride=self.stride, padding=self.padding, output_padding=self.output_padding
        )


class TiedLinear(nn.Module):
    """Linear map ``x W^T`` whose feedback is ``y W`` with the same single weight; no bias."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        weight = torch.empty(out_features, in_features)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # PyTorch's nn.Linear default, as the original
        self.weight = nn.Parameter(weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight)

    def feedback(self, y: Tensor) -> Tensor:
        """Apply the transposed weight."""
        return y @ self.weight


class AdaReLU(nn.Module):
    """The original ``resReLU``: AdaReLU with the online update of Eq. 7.

    First pass (no feedback seen yet in this call): a plain ReLU that stores its mask ``1[f > 0]``.
    Later passes: ``f <- f + eta (g - f)`` with ``g`` the feedback that reached this ReLU, then the mask
    ``1[f * g > 0]`` and the output ``f * mask`` (sign preserving, as coded; paper Eq. 3 differs).
    Feedback stores the arriving signal as ``g`` and returns it masked by the latest forward mask.
    """

    def forward(self, x: Tensor, state: Pass) -> Tensor:  # type: ignore[override]
        slot = state.slot(self)
        hidden = slot.get("hidden")
        if hidden is None:
            mask = (x > 0).to(x.dtype)
        else:
            x = x + state.eta * (hidden - x)
            mask = ((x * hidden) > 0).to(x.dtype)
        slot["mask"] = mask  # kept as floats: cast once, multiplied twice (forward and feedback)
        return x * mask

    def feedback(self, g: Tensor, state: Pass) -> Tensor:
        """Store ``g`` (before masking) for the next forward pass and mask it with the forward mask."""
        slot = state.slot(self)
        slot["hidden"] = g
        return g * slot["mask"]


class AdaPool2d(nn.Module):
    """The original ``MaxPool2d``: AdaPool forward, unpooling to stored indices in feedback.

    First pass: max-pool, storing the argmax indices. Later passes: max-pool where the stored feedback
    is positive, min-pool (``-maxpool(-x)``) where it is negative, 0 where it is exactly 0; no eta
    mixing. Feedback unpools to the argmax positions, or, after an adaptive forward, unpools the
    positive part to the argmax and the negative part to the argmin positions.
    """

    def __init__(self, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: Tensor, state: Pass) -> Tensor:  # type: ignore[override]
        slot = state.slot(self)
        slot["size"] = x.shape[-2:]
        out_max, slot["pos_ind"] = F.max_pool2d(x, self.kernel_size, return_indices=True)
        hidden = slot.get("hidden")
        if hidden is None:
            return out_max
        neg_max, slot["neg_ind"] = F.max_pool2d(-x, self.kernel_size, return_indices=True)
        pos_state = (hidden > 0).to(x.dtype)
        neg_state = (hidden < 0).to(x.dtype)
        slot["pos_state"], slot["neg_state"] = pos_state, neg_state
        return out_max * pos_state - neg_max * neg_state

    def feedback(self, g: Tensor, state: Pass) -> Tensor:
        """Store ``g`` and unpool it to the positions the latest forward pass selected."""
        slot = state.slot(self)
        slot["hidden"] = g
        k, size = (self.kernel_size, self.kernel_size), slot["size"]
        pos_state = slot.get("pos_state")
        if pos_state is None:
            return F.max_unpool2d(g, slot["pos_ind"], k, output_size=size)
        return F.max_unpool2d(g * pos_state, slot["pos_ind"], k, output_size=size) + F.max_unpool2d(
            g * slot["neg_state"], slot["neg_ind"], k, output_size=size
        )
