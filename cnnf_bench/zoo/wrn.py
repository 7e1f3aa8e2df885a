"""CIFAR-10 CNN-F on a pre-activation WideResNet-40-2 (reference section 2.3).

Batch norm is replaced by RMS norm + Bias and ReLU by AdaReLU. The encoder depth k counts the
BasicBlocks of the first stage that have no feedback (released CNN-F: k=5; k=0 also inverts the stem).
"""

from __future__ import annotations

from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from cnnf_bench.errors import ConfigError
from cnnf_bench.feedback import AdaReLU, Bias, Pass, TiedConv2d, TiedLinear, rms_norm
from cnnf_bench.zoo.base import FeedbackNet


class BasicBlock(nn.Module):
    """Pre-activation block: ``a = relu1(bias1(IN(x)))``, main path conv1 -> IN -> bias2 -> relu2 -> conv2.

    Output is ``shortcut(a) + main`` when the width changes (the 1x1 shortcut taps the activated
    ``a``), else ``x + main``. In feedback the skip signal joins before relu1's mask in projection
    blocks and after it in identity blocks, mirroring where it taps in the forward pass.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.bias1 = Bias(in_channels)
        self.relu1 = AdaReLU()
        self.conv1 = TiedConv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.bias2 = Bias(out_channels)
        self.relu2 = AdaReLU()
        self.conv2 = TiedConv2d(out_channels, out_channels, 3, stride=1, padding=1)
        self.shortcut = (
            TiedConv2d(in_channels, out_channels, 1, stride=stride, padding=0) if in_channels != out_channels else None
        )

    def forward(self, x: Tensor, state: Pass) -> Tensor:  # type: ignore[override]
        a = self.relu1(self.bias1(rms_norm(x)), state)
        main = self.conv2(self.relu2(self.bias2(rms_norm(self.conv1(a))), state))
        return (x if self.shortcut is None else self.shortcut(a)) + main

    def feedback(self, y: Tensor, state: Pass) -> Tensor:
        """Feedback from the block output ``y`` to the block input."""
        u = self.relu2.feedback(rms_norm(self.conv2.feedback(y)), state)
        u = rms_norm(self.conv1.feedback(u))
        if self.shortcut is not None:
            return self.relu1.feedback(self.shortcut.feedback(y) + u, state)
        return self.relu1.feedback(u, state) + y


def _stage(n: int, in_channels: int, out_channels: int, stride: int) -> nn.ModuleList:
    return nn.ModuleList(
        [BasicBlock(in_channels if i == 0 else out_channels, out_channels, stride if i == 0 else 1) for i in range(n)]
    )


def _blocks(stage: nn.ModuleList) -> list[BasicBlock]:
    return cast("list[BasicBlock]", list(stage))


class WideResNetCNNF(FeedbackNet):
    """WRN-depth-widen with feedback; defaults are the released CIFAR-10 CNN-F (WRN-40-2, k=5, T=2).

    Feedback: fc^T on the raw logits, 128x1x1 nearest-upsampled x8, RMS norm, the head ReLU's mask
    (= block3 reconstruction), the stages' blocks in reverse, and the stem's transposed conv if k=0.
    """

    in_shape = (3, 32, 32)

    def __init__(
        self,
        num_classes: int = 10,
        ind: int = 5,
        cycles: int = 2,
        eta: float = 0.1,
        readout: str = "avg",
        depth: int = 40,
        widen_factor: int = 2,
    ) -> None:
        if (depth - 4) % 6 != 0:
            raise ConfigError(f"WideResNet depth must be 6n+4, got {depth}")
        self.max_ind = (depth - 4) // 6
        super().__init__(num_classes, ind, cycles, eta, readout)
        n = self.max_ind
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.width = widths[3]
        self.pool_size = self.in_shape[-1] // 4  # two stride-2 stages: 32 -> 8
        self.stem = TiedConv2d(3, widths[0], 3, stride=1, padding=1)
        self.stage1 = _stage(n, widths[0], widths[1], 1)
        self.stage2 = _stage(n, widths[1], widths[2], 2)
        self.stage3 = _stage(n, widths[2], widths[3], 2)
        self.head_bias = Bias(widths[3])
        self.head_relu = AdaReLU()
        self.fc = TiedLinear(widths[3], num_classes)
        self.fc_bias = Bias(num_classes, spatial=False)

    def encode(self, z: Tensor, state: Pass) -> Tensor:
        if self.ind == 0:
            return z
        z = self.stem(z)
        for block in self.stage1[: self.ind]:
            z = block(z, state)
        return z

    def decode(self, h: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        if self.ind == 0:
            h = self.stem(h)
        for block in self.stage1[self.ind :]:
            h = block(h, state)
        block1 = h
        for block in self.stage2:
            h = block(h, state)
        block2 = h
        for block in self.stage3:
            h = block(h, state)
        block3 = h
        a = self.head_relu(self.head_bias(rms_norm(h)), state)
        logits = self.fc_bias(self.fc(F.avg_pool2d(a, self.pool_size).flatten(1)))
        return logits, [block1, block2, block3]

    def generate(self, logits: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        g = self.fc.feedback(logits).view(-1, self.width, 1, 1)
        g = F.interpolate(g, scale_factor=self.pool_size, mode="nearest")
        block3_recon = self.head_relu.feedback(rms_norm(g), state)
        g = block3_recon
        for block in reversed(_blocks(self.stage3)):
            g = block.feedback(g, state)
        block2_recon = g
        for block in reversed(_blocks(self.stage2)):
            g = block.feedback(g, state)
        block1_recon = g
        for block in reversed(_blocks(self.stage1)[self.ind :]):
            g = block.feedback(g, state)
        if self.ind == 0:
            g = self.stem.feedback(g)
        return g, [block1_recon, block2_recon, block3_recon]
