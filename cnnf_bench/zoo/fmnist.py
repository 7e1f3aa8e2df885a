"""Fashion-MNIST architectures: the 4-conv/3-FC CNN-F of Table 2 and the 2-conv/1-FC net of Figure 5."""

from __future__ import annotations

from typing import cast

from torch import Tensor, nn

from cnnf_bench.feedback import AdaPool2d, AdaReLU, Bias, Pass, TiedConv2d, TiedLinear, rms_norm
from cnnf_bench.zoo.base import FeedbackNet


class ConvUnit(nn.Module):
    """conv 3x3 (stride 1, padding 1, no bias) -> RMS norm -> Bias -> AdaReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = TiedConv2d(in_channels, out_channels, 3, stride=1, padding=1)
        self.bias = Bias(out_channels)
        self.relu = AdaReLU()

    def forward(self, x: Tensor, state: Pass) -> Tensor:  # type: ignore[override]
        return self.relu(self.bias(rms_norm(self.conv(x))), state)

    def feedback_masked(self, g: Tensor, state: Pass) -> Tensor:
        """ReLU mask of the feedback arriving at this unit's output (the block reconstruction)."""
        return self.relu.feedback(g, state)


class FCUnit(nn.Module):
    """fc (no bias) -> Bias -> optional AdaReLU."""

    def __init__(self, in_features: int, out_features: int, relu: bool = True) -> None:
        super().__init__()
        self.fc = TiedLinear(in_features, out_features)
        self.bias = Bias(out_features, spatial=False)
        self.relu = AdaReLU() if relu else None

    def forward(self, x: Tensor, state: Pass) -> Tensor:  # type: ignore[override]
        out = self.bias(self.fc(x))
        return out if self.relu is None else self.relu(out, state)

    def feedback(self, g: Tensor, state: Pass) -> Tensor:
        """ReLU mask (if any) then the transposed weight; the bias takes no part in feedback."""
        if self.relu is not None:
            g = self.relu.feedback(g, state)
        return self.fc.feedback(g)


class FashionCNNF(FeedbackNet):
    """The 4 conv + 3 FC network of the original ``model_mnist.CNNF`` (reference section 2.1).

    Forward: conv1 16, conv2 32, conv3 32 (= block1), AdaPool, conv4 64 (= block2), AdaPool, fc 1000,
    fc 128, fc 10. Encoder depth k in 0..2 (released CNN-F: k=2, the relu2 output). Feedback starts at
    the raw logits; RMS norm is applied before each unpooling (on the 7x7 and 14x14 maps) and before
    relu2/relu1 when k < 2; the reconstruction ``g(k)`` itself is not normalised.
    """

    max_ind = 2
    in_shape = (1, 28, 28)

    def __init__(
        self, num_classes: int = 10, ind: int = 2, cycles: int = 1, eta: float = 0.1, readout: str = "avg"
    ) -> None:
        super().__init__(num_classes, ind, cycles, eta, readout)
        self.convs = nn.ModuleList([ConvUnit(1, 16), ConvUnit(16, 32), ConvUnit(32, 32)])
        self.pool3 = AdaPool2d(2)
        self.conv4 = ConvUnit(32, 64)
        self.pool4 = AdaPool2d(2)
        self.fc1 = FCUnit(64 * 7 * 7, 1000)
        self.fc2 = FCUnit(1000, 128)
        self.fc3 = FCUnit(128, num_classes, relu=False)

    def units(self) -> list[ConvUnit]:
        """conv1..conv3 (the 28x28 units), typed."""
        return cast("list[ConvUnit]", list(self.convs))

    def encode(self, z: Tensor, state: Pass) -> Tensor:
        for unit in self.units()[: self.ind]:
            z = unit(z, state)
        return z

    def decode(self, h: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        for unit in self.units()[self.ind :]:
            h = unit(h, state)
        block1 = h
        block2 = self.conv4(self.pool3(block1, state), state)
        out = self.pool4(block2, state).flatten(1)
        logits = self.fc3(self.fc2(self.fc1(out, state), state), state)
        return logits, [block1, block2]

    def generate(self, logits: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        g = self.fc1.feedback(self.fc2.feedback(self.fc3.feedback(logits, state), state), state)
        g = self.pool4.feedback(rms_norm(g.view(-1, 64, 7, 7)), state)
        block2_recon = self.conv4.feedback_masked(g, state)
        g = self.pool3.feedback(rms_norm(self.conv4.conv.feedback(block2_recon)), state)
        conv3 = self.units()[2]
        block1_recon = conv3.feedback_masked(g, state)
        g = conv3.conv.feedback(block1_recon)
        for unit in reversed(self.units()[self.ind : 2]):
            g = unit.conv.feedback(unit.feedback_masked(rms_norm(g), state))
        return g, [block1_recon, block2_recon]


class FashionSmallCNNF(FeedbackNet):
    """The 2 conv + 1 FC network of the paper's Figure 5 (standard training); not in the original repo.

    A documented reconstruction (reference section 2.2): conv 16 -> AdaPool -> conv 32 -> AdaPool ->
    fc 10, with k=0 so that the feedback reconstructs in pixel space (for restoration figures). Feedback
    follows the 4C3F conventions (RMS norm before each unpooling, raw logits at the top).
    """

    max_ind = 0
    in_shape = (1, 28, 28)

    def __init__(
        self, num_classes: int = 10, ind: int = 0, cycles: int = 1, eta: float = 0.1, readout: str = "avg"
    ) -> None:
        super().__init__(num_classes, ind, cycles, eta, readout)
        self.conv1 = ConvUnit(1, 16)
        self.pool1 = AdaPool2d(2)
        self.conv2 = ConvUnit(16, 32)
        self.pool2 = AdaPool2d(2)
        self.fc = FCUnit(32 * 7 * 7, num_classes, relu=False)

    def encode(self, z: Tensor, state: Pass) -> Tensor:
        return z

    def decode(self, h: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        block1 = self.conv1(h, state)
        block2 = self.conv2(self.pool1(block1, state), state)
        logits = self.fc(self.pool2(block2, state).flatten(1), state)
        return logits, [block1, block2]

    def generate(self, logits: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        g = self.fc.feedback(logits, state)
        g = self.pool2.feedback(rms_norm(g.view(-1, 32, 7, 7)), state)
        block2_recon = self.conv2.feedback_masked(g, state)
        g = self.pool1.feedback(rms_norm(self.conv2.conv.feedback(block2_recon)), state)
        block1_recon = self.conv1.feedback_masked(g, state)
        return self.conv1.conv.feedback(block1_recon), [block1_recon, block2_recon]
