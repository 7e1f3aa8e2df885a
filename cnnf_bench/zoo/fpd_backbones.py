"""The backbones FPD is built on: the very modules of the benchmark's plain CNNs, run stage by stage.

FPD (fpd-reference.md section 1.8) needs the backbone's stage outputs (for the restoration pyramid), a
place to insert denoising layers between early stages, and the classifier head on its own. Each
backbone here owns the *same* module classes as its ``cnn-*`` twin (so state-dict keys, initialisation
and parameter counts of the backbone part match the twin), built with cycles 0 (no feedback), and
runs them with a chosen activation (ReLU as in the CNN, or ELU as in the released FPD code).

A backbone defines:

- ``features(z, denoisers, act)``: the stages on the [-1, 1] input, with ``denoisers[i]`` applied after
  the i-th early stage; returns the pyramid features (fine to coarse) and the top feature;
- ``head(top, act)``: the classifier (the part FPD_LCC bounds with tanh);
- ``denoise_channels``: the channels of the maps the inner denoising layers see;
- ``pyramid_channels``: the channels of the pyramid features, fine to coarse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from cnnf_bench.feedback import rms_norm
from cnnf_bench.zoo.fmnist import ConvUnit, FashionCNNF, FashionSmallCNNF, FCUnit
from cnnf_bench.zoo.wrn import BasicBlock, WideResNetCNNF, _blocks

Act = Callable[[Tensor], Tensor]


def _unit(unit: ConvUnit, x: Tensor, act: Act) -> Tensor:
    """conv -> RMS norm -> bias -> activation (the CNN's ConvUnit on its first pass)."""
    return act(unit.bias(rms_norm(unit.conv(x))))


def _fc(unit: FCUnit, x: Tensor, act: Act | None) -> Tensor:
    out = unit.bias(unit.fc(x))
    return out if act is None else act(out)


def _block(block: BasicBlock, x: Tensor, act: Act) -> Tensor:
    """The pre-activation WRN block on its first pass, with ``act`` for its two activations."""
    a = act(block.bias1(rms_norm(x)))
    main = block.conv2(act(block.bias2(rms_norm(block.conv1(a)))))
    return (x if block.shortcut is None else block.shortcut(a)) + main


class Backbone(nn.Module):
    """Interface of an FPD backbone (see the module docstring)."""

    in_shape: tuple[int, int, int] = (1, 28, 28)
    denoise_channels: tuple[int, ...] = ()
    pyramid_channels: tuple[int, ...] = ()

    def features(self, z: Tensor, denoisers: Sequence[nn.Module], act: Act) -> tuple[list[Tensor], Tensor]:
        raise NotImplementedError

    def head(self, top: Tensor, act: Act) -> Tensor:
        raise NotImplementedError

    def head_parameters(self) -> list[nn.Parameter]:
        """The classifier's parameters (excluded from FPD's phase-1 optimiser)."""
        raise NotImplementedError


class Fashion4C3F(Backbone):
    """The 4 conv + 3 FC network of ``cnn-fmnist``: S1 conv 16, D, S2 conv 32, D, S3 conv 32 + pool (14),
    S4 conv 64 + pool (7), head fc 1000 -> 128 -> 10. Pyramid: S2 (32@28), S3 (32@14), S4 (64@7)."""

    denoise_channels = (16, 32)
    pyramid_channels = (32, 32, 64)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.net = FashionCNNF(num_classes, ind=0, cycles=0, readout="last")

    def features(self, z: Tensor, denoisers: Sequence[nn.Module], act: Act) -> tuple[list[Tensor], Tensor]:
        units = self.net.units()
        f1 = denoisers[0](_unit(units[0], z, act))
        f2 = denoisers[1](_unit(units[1], f1, act))
        f3 = F.max_pool2d(_unit(units[2], f2, act), 2)
        f4 = F.max_pool2d(_unit(self.net.conv4, f3, act), 2)
        return [f2, f3, f4], f4

    def head(self, top: Tensor, act: Act) -> Tensor:
        h = _fc(self.net.fc2, _fc(self.net.fc1, top.flatten(1), act), act)
        return _fc(self.net.fc3, h, None)

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.net.fc1.parameters(), *self.net.fc2.parameters(), *self.net.fc3.parameters()]


class Fashion2C1F(Backbone):
    """The 2 conv + 1 FC network of ``cnn-fmnist-small``: conv 16 (28), D, pool, conv 32 (14), D, pool,
    fc 10. Pyramid: conv1 (16@28), conv2 (32@14); the restoration is read out at pixel resolution."""

    denoise_channels = (16, 32)
    pyramid_channels = (16, 32)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.net = FashionSmallCNNF(num_classes, ind=0, cycles=0, readout="last")

    def features(self, z: Tensor, denoisers: Sequence[nn.Module], act: Act) -> tuple[list[Tensor], Tensor]:
        f1 = denoisers[0](_unit(self.net.conv1, z, act))
        f2 = denoisers[1](_unit(self.net.conv2, F.max_pool2d(f1, 2), act))
        return [f1, f2], F.max_pool2d(f2, 2)

    def head(self, top: Tensor, act: Act) -> Tensor:
        return _fc(self.net.fc, top.flatten(1), None)

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.net.fc.parameters())


class WideResNet(Backbone):
    """WRN-40-2 of ``cnn-cifar10``: stem 16@32, D, stage1 32@32, D, stage2 64@16, stage3 128@8, head
    (RMS norm, bias, activation, average pool, fc). Pyramid: stage1..stage3."""

    in_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10, depth: int = 40, widen_factor: int = 2) -> None:
        super().__init__()
        self.net = WideResNetCNNF(num_classes, ind=0, cycles=0, readout="last", depth=depth, widen_factor=widen_factor)
        self.denoise_channels = (16, 16 * widen_factor)
        self.pyramid_channels = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)

    def features(self, z: Tensor, denoisers: Sequence[nn.Module], act: Act) -> tuple[list[Tensor], Tensor]:
        h = denoisers[0](self.net.stem(z))
        for block in _blocks(self.net.stage1):
            h = _block(block, h, act)
        f1 = denoisers[1](h)
        h = f1
        for block in _blocks(self.net.stage2):
            h = _block(block, h, act)
        f2 = h
        for block in _blocks(self.net.stage3):
            h = _block(block, h, act)
        return [f1, f2, h], h

    def head(self, top: Tensor, act: Act) -> Tensor:
        a = act(self.net.head_bias(rms_norm(top)))
        return self.net.fc_bias(self.net.fc(F.avg_pool2d(a, self.net.pool_size).flatten(1)))

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.net.head_bias.parameters(), *self.net.fc.parameters(), *self.net.fc_bias.parameters()]


BACKBONES: dict[str, type[Backbone]] = {"fmnist-4c3f": Fashion4C3F, "fmnist-2c1f": Fashion2C1F, "wrn": WideResNet}
