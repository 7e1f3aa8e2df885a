"""The denoising layers of FPD (Li et al., CVPR 2020), fpd-reference.md section 1.2.

The paper describes a non-local-means block whose Gaussian kernel is replaced by a dot product. The
released code uses a *parameter-free channel-Gram* form instead, which is the default here
(``gram``): for a feature map ``f`` with C channels and H x W positions (``F`` its C x HW matrix),

    D(f) = f + (F F^T) F / (H W)

i.e. the C x C Gram matrix summed over all positions multiplies the feature map, divided by H W, added
back as a residual. It is cubic in the activations and amplifies them strongly (reference 1.7.3).
The paper's Fig. 2 variants are options: ``nonlocal`` (the same dot product over *positions*, an
HW x HW affinity, still parameter-free) and ``bottleneck`` (1x1 embeddings to C/2 channels and a 1x1
output convolution, the "with bottleneck" block; the only variant with weights).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

DENOISE_KINDS: tuple[str, ...] = ("gram", "nonlocal", "bottleneck")


def gram_denoise(f: Tensor) -> Tensor:
    """The released op: ``f + (F F^T) F / (H W)`` per sample, with the Gram matrix over channels."""
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    gram = torch.bmm(flat, flat.transpose(1, 2))  # (n, c, c), summed over positions
    return f + torch.bmm(gram, flat).reshape(n, c, h, w) / (h * w)


def nonlocal_denoise(f: Tensor) -> Tensor:
    """Dot-product non-local means over positions: ``f + F (F^T F) / (H W)`` (an HW x HW affinity)."""
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    affinity = torch.bmm(flat.transpose(1, 2), flat)  # (n, hw, hw)
    return f + torch.bmm(flat, affinity).reshape(n, c, h, w) / (h * w)


class Denoise(nn.Module):
    """One denoising layer of kind ``gram`` / ``nonlocal`` (no weights) or ``bottleneck`` (1x1 convs).

    Args:
        kind: one of :data:`DENOISE_KINDS`.
        channels: channels of the feature map it denoises (used by ``bottleneck`` only).
    """

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        if kind not in DENOISE_KINDS:
            raise ValueError(f"unknown denoise kind {kind!r}")
        self.kind = kind
        if kind == "bottleneck":
            inner = max(1, channels // 2)
            self.theta = nn.Conv2d(channels, inner, 1, bias=False)
            self.phi = nn.Conv2d(channels, inner, 1, bias=False)
            self.g = nn.Conv2d(channels, inner, 1, bias=False)
            self.out = nn.Conv2d(inner, channels, 1, bias=False)
            nn.init.zeros_(self.out.weight)  # starts as the identity, as residual non-local blocks do

    def forward(self, f: Tensor) -> Tensor:
        if self.kind == "gram":
            return gram_denoise(f)
        if self.kind == "nonlocal":
            return nonlocal_denoise(f)
        n, _, h, w = f.shape
        theta = self.theta(f).flatten(2)  # (n, c', hw)
        phi = self.phi(f).flatten(2)
        g = self.g(f).flatten(2)
        affinity = torch.bmm(theta.transpose(1, 2), phi) / (h * w)  # (n, hw, hw)
        y = torch.bmm(g, affinity.transpose(1, 2)).reshape(n, -1, h, w)
        return f + self.out(y)
