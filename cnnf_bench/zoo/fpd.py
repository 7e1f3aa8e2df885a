"""FPD: a Feature Pyramid Decoder around a plain CNN (Li, Ding, Luo, Liu, CVPR 2020; fpd-reference.md).

One inference call (``model(x)``) runs, on [0, 1] images:

1. **FPD_FD**, the front pass: the backbone's stages on ``x`` with inner denoising layers after the first
   two stages (the released placement: after the stem and after ``layer1``);
2. **FPD_R**, the restoration: an FPN-style decoder (1x1 laterals to ``width`` channels, bilinear
   top-down sum, 3x3 smoothing, 1x1 to image channels) from the pyramid back to a full-size image
   ``x_hat``, in [0, 1] pixel units and *not* clamped (as released);
3. the **middle denoise**: ``x_in = x_hat + (D(x) - x)``, the restored image plus the denoise term of the
   raw input (on a one-channel image the Gram term is ``x * mean(x^2)``, a scaled copy of the input);
4. **FPD_BD**, the back pass: the *same* backbone modules (one set of weights) on ``x_in``, with the
   same denoising layers;
5. **FPD_LCC**: the backbone's classifier head followed by tanh (logits in [-1, 1]; ``tanh=False``
   turns it off for ablations).

The backbone sees its input mapped to [-1, 1], as the benchmark's CNNs do. The released code also
swaps every ReLU for ELU; that is the ``elu`` option, off by default so that only the FPD parts
differ from the ``cnn-*`` twin. Views: ``e2e`` (the deployed pipeline, both passes, tanh logits),
``pre-tanh`` (the same path before tanh: the adaptive attack on the bound), ``first`` (the front pass
through the head, no restoration) and ``bpda`` (deployed logits forward, the front pass's gradient
backward).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnf_bench.errors import ConfigError
from cnnf_bench.zoo.classifier import Classifier, Forward, register_view, straight_through
from cnnf_bench.zoo.denoise import DENOISE_KINDS, Denoise
from cnnf_bench.zoo.fpd_backbones import BACKBONES, Act, Backbone

#: FPD's attack views, in report order, with their help lines
FPD_VIEWS: dict[str, str] = {
    "first": "FPD: the front pass (FPD_FD) through the tanh head, without restoration and second pass",
    "e2e": "FPD: the deployed pipeline, both passes and the tanh head (what FPD deploys)",
    "pre-tanh": "FPD: the deployed pipeline's logits before tanh (an adaptive attack on the tanh bound)",
    "bpda": "FPD: the deployed logits forward, the front pass's gradient backward (straight-through)",
}
for _name, _help in FPD_VIEWS.items():
    register_view(_name, _help)


@dataclass
class FPDOutput:
    """Everything one FPD call produced, for the training losses, views and figures.

    Attributes:
        restored: ``x_hat``, the restoration of the input from the front pass (FPD_R).
        second_input: ``x_in``, what the back pass saw (``x_hat`` plus the input's denoise term).
        pre_tanh: the head's logits on the back pass, before tanh.
        logits: the deployed logits (``tanh(pre_tanh)``, or ``pre_tanh`` with tanh off).
        front_top: the front pass's top feature (for the ``first`` view).
    """

    restored: Tensor
    second_input: Tensor
    pre_tanh: Tensor
    logits: Tensor
    front_top: Tensor


class Restoration(nn.Module):
    """FPD_R: an FPN decoder from the pyramid (fine to coarse) back to a full-size image.

    1x1 laterals to ``width`` channels, bilinear top-down upsampling and addition down to the finest
    level, a 3x3 smoothing convolution, the activation, and a 1x1 convolution to the image channels
    (no transposed convolutions are needed: the finest level is already at input resolution).
    """

    def __init__(self, pyramid_channels: Sequence[int], out_channels: int, width: int) -> None:
        super().__init__()
        self.laterals = nn.ModuleList([nn.Conv2d(c, width, 1) for c in pyramid_channels])
        self.smooth = nn.Conv2d(width, width, 3, padding=1)
        self.out = nn.Conv2d(width, out_channels, 1)

    def forward(self, pyramid: Sequence[Tensor], act: Act, size: tuple[int, int]) -> Tensor:  # type: ignore[override]
        top = self.laterals[-1](pyramid[-1])
        for lateral, feature in zip(reversed(self.laterals[:-1]), reversed(pyramid[:-1]), strict=True):
            top = F.interpolate(top, size=feature.shape[-2:], mode="bilinear", align_corners=False) + lateral(feature)
        if tuple(top.shape[-2:]) != size:
            top = F.interpolate(top, size=size, mode="bilinear", align_corners=False)
        return self.out(act(self.smooth(top)))


class FPDNet(Classifier):
    """A Feature-Pyramid-Decoder-enhanced backbone (see the module docstring).

    Args:
        num_classes: number of output classes.
        backbone: ``fmnist-4c3f``, ``fmnist-2c1f`` or ``wrn`` (the ``cnn-*`` twins' networks).
        denoise: ``gram`` (released, parameter-free over channels), ``nonlocal`` or ``bottleneck``.
        tanh: bound the logits with tanh (FPD_LCC); False for the ablation.
        elu: ELU activations everywhere (the released code) instead of the backbone's ReLU.
        width: channels of the restoration pyramid.
        depth, widen_factor: WideResNet size (``wrn`` backbone only).
    """

    family = "fpd"
    readout = "last"

    def __init__(
        self,
        num_classes: int = 10,
        backbone: str = "fmnist-4c3f",
        denoise: str = "gram",
        tanh: bool = True,
        elu: bool = False,
        width: int = 32,
        depth: int = 40,
        widen_factor: int = 2,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ConfigError(f"FPD backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
        if denoise not in DENOISE_KINDS:
            raise ConfigError(f"FPD denoise must be one of {', '.join(DENOISE_KINDS)}, got {denoise!r}")
        if width < 1:
            raise ConfigError(f"FPD width must be >= 1, got {width}")
        self.num_classes = num_classes
        self.backbone_name = backbone
        self.denoise = denoise
        self.tanh = tanh
        self.elu = elu
        wrn = {"depth": depth, "widen_factor": widen_factor} if backbone == "wrn" else {}
        self.backbone: Backbone = BACKBONES[backbone](num_classes, **wrn)
        self.in_shape = self.backbone.in_shape
        self.denoisers = nn.ModuleList([Denoise(denoise, c) for c in self.backbone.denoise_channels])
        self.middle = Denoise(denoise, self.in_shape[0])
        self.restoration = Restoration(self.backbone.pyramid_channels, self.in_shape[0], width)

    # -- the pipeline ---------------------------------------------------------------------------
    def act(self, x: Tensor) -> Tensor:
        """The activation of every layer: ReLU (the backbone's) or ELU (``elu``)."""
        return F.elu(x) if self.elu else F.relu(x)

    def front(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """FPD_FD (and FPD_BD: the same call) on [0, 1] images: pyramid features and top feature."""
        return self.backbone.features(x * 2.0 - 1.0, list(self.denoisers), self.act)

    def bound(self, logits: Tensor) -> Tensor:
        """FPD_LCC's bound: tanh, unless turned off."""
        return torch.tanh(logits) if self.tanh else logits

    def run(self, x: Tensor) -> FPDOutput:
        """The whole inference on [0, 1] images, keeping every intermediate the losses and views need."""
        pyramid, front_top = self.front(x)
        restored = self.restoration(pyramid, self.act, tuple(x.shape[-2:]))
        second_input = restored + (self.middle(x) - x)
        _, back_top = self.front(second_input)
        pre_tanh = self.backbone.head(back_top, self.act)
        return FPDOutput(restored, second_input, pre_tanh, self.bound(pre_tanh), front_top)

    def classifier_parameters(self) -> list[nn.Parameter]:
        """FPD_LCC's parameters: the head, which FPD's gated phase-1 step leaves alone."""
        return self.backbone.head_parameters()

    # -- views ----------------------------------------------------------------------------------
    def first(self, x: Tensor) -> Tensor:
        """The front pass only, through the (bounded) head: FPD without restoration and back pass."""
        _, top = self.front(x)
        return self.bound(self.backbone.head(top, self.act))

    def e2e(self, x: Tensor) -> Tensor:
        """The deployed logits, differentiated through both passes."""
        return self.run(x).logits

    def readout_logits(self, x: Tensor, readouts: Sequence[str]) -> dict[str, Tensor]:
        logits = self.run(x).logits
        return dict.fromkeys(readouts, logits)

    def views(self) -> tuple[str, ...]:
        return ("e2e", "first", "pre-tanh", "bpda")

    def deployed_view(self, readout: str | None = None) -> str:
        return "e2e"

    def view(self, name: str, readout: str | None = None) -> Forward:
        name = self.resolve_view(name, readout)
        if name == "e2e":
            return self.e2e
        if name == "first":
            return self.first
        if name == "pre-tanh":
            return lambda x: self.run(x).pre_tanh

        def bpda(x: Tensor) -> Tensor:
            surrogate = self.first(x)
            with torch.no_grad():
                full = self.run(x).logits
            return straight_through(full, surrogate)

        return bpda
