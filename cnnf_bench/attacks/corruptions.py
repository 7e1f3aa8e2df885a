"""Common corruptions at severities 1-5, in the style of MNIST-C (Mu & Gilmer 2019) and CIFAR-10-C
(Hendrycks & Dietterich 2019), computed on the fly in torch.

The paper's restoration figure (6d) and poster show CNN-F's feedback repairing Gaussian noise, shot
noise, blur and a dotted-line occlusion; the benchmark measures accuracy under those and a few more
cheap ones. Each corruption maps [0, 1] images (N, C, H, W) to [0, 1] images. Randomness comes only
from the given generator, and every random draw is made at the size of the strongest severity, so
the same seed gives the same images and a higher severity corrupts at least as much (for the noise
kinds pixel by pixel, for the dotted line by adding lines).

Corruptions are registered as one view-free "attack", ``corruption`` (parameters ``kind`` and
``severity``), so they run through ``cnnf-bench evaluate`` and suites and are stored as records. They
are not L-inf bounded: their ``eps`` is 1.0, the whole pixel range, whatever a protocol supplies, so
the evaluator's validity check still checks finiteness and the [0, 1] range but no budget, and records
say honestly that the perturbation is unbounded. Their protocol label is ``corruptions`` (registered
here), which keeps them in a report group of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnf_bench.attacks.base import ATTACKS, Attack, Forward
from cnnf_bench.errors import ConfigError
from cnnf_bench.protocols import PROTOCOLS, AttackDefaults, Protocol
from cnnf_bench.registry import Registry

SEVERITIES = 5
#: eps recorded for every corruption: they are not L-inf bounded, so the budget is the whole [0, 1] range
UNBOUNDED_EPS = 1.0

Corrupt = Callable[[Tensor, float, torch.Generator], Tensor]


@dataclass(frozen=True)
class CorruptionKind:
    """One corruption: the function and its level at each severity 1..5 (increasing strength)."""

    name: str
    summary: str
    levels: tuple[float, ...]
    apply: Corrupt

    def level(self, severity: int) -> float:
        """The corruption's parameter at ``severity`` (1..5)."""
        return self.levels[severity - 1]


CORRUPTIONS: Registry[CorruptionKind] = Registry("corruption")


def _rand(x: Tensor, generator: torch.Generator) -> Tensor:
    return torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def gaussian_noise(x: Tensor, std: float, generator: torch.Generator) -> Tensor:
    """Additive Gaussian noise of standard deviation ``std`` (CIFAR-10-C levels)."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * noise).clamp(0.0, 1.0)


def shot_noise(x: Tensor, photons: float, generator: torch.Generator) -> Tensor:
    """Poisson (photon) noise: ``Poisson(photons * x) / photons``; fewer photons is noisier."""
    return (torch.poisson(x * photons, generator=generator) / photons).clamp(0.0, 1.0)


def impulse_noise(x: Tensor, amount: float, generator: torch.Generator) -> Tensor:
    """Salt-and-pepper noise on a fraction ``amount`` of the pixel values (half white, half black)."""
    u = _rand(x, generator)
    out = torch.where(u < amount / 2, torch.ones_like(x), x)
    return torch.where(u > 1 - amount / 2, torch.zeros_like(x), out)


def _gaussian_kernel(sigma: float, device: torch.device, dtype: torch.dtype) -> Tensor:
    radius = max(1, math.ceil(3 * sigma))
    grid = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-(grid**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def blur(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """Gaussian blur of standard deviation ``sigma`` pixels (separable, reflected borders)."""
    del generator  # deterministic
    c = x.shape[1]
    kernel = _gaussian_kernel(sigma, x.device, x.dtype)
    r = kernel.numel() // 2
    out = F.pad(x, (r, r, 0, 0), mode="reflect" if r < x.shape[-1] else "replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, r, r), mode="reflect" if r < x.shape[-2] else "replicate")
    out = F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return out.clamp(0.0, 1.0)


#: spacing of the dots of a dotted line, in pixels
DOT_SPACING = 2.0


def dotted_line(x: Tensor, lines: float, generator: torch.Generator) -> Tensor:
    """White dotted lines across the image (MNIST-C's "dotted line" occlusion); ``lines`` of them.

    Every image gets the start point, direction and length (half to the whole image size) of
    ``SEVERITIES`` lines; the first ``lines`` are drawn, so a higher severity adds lines.
    """
    n, _, h, w = x.shape
    size = float(max(h, w))
    draws = torch.rand((n, SEVERITIES, 4), generator=generator, device=x.device, dtype=x.dtype)
    start_y, start_x = draws[..., 0] * (h - 1), draws[..., 1] * (w - 1)
    angle = draws[..., 2] * 2 * math.pi
    length = (0.5 + 0.5 * draws[..., 3]) * size
    steps = torch.arange(0.0, size + DOT_SPACING, DOT_SPACING, device=x.device, dtype=x.dtype)  # (K,)
    ys = (start_y[..., None] + steps * torch.sin(angle)[..., None]).round().long()  # (n, L, K)
    xs = (start_x[..., None] + steps * torch.cos(angle)[..., None]).round().long()
    keep = (steps <= length[..., None]) & (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    keep[:, int(lines) :, :] = False
    image = torch.arange(n, device=x.device)[:, None, None].expand_as(ys)
    mask = torch.zeros((n, h, w), dtype=torch.bool, device=x.device)
    mask[image[keep], ys[keep], xs[keep]] = True
    return torch.where(mask[:, None], torch.ones_like(x), x)


def contrast(x: Tensor, factor: float, generator: torch.Generator) -> Tensor:
    """Contrast reduced to ``factor`` around each image's mean (CIFAR-10-C levels)."""
    del generator
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0.0, 1.0)


def brightness(x: Tensor, shift: float, generator: torch.Generator) -> Tensor:
    """Every pixel brightened by ``shift`` (clipped at white)."""
    del generator
    return (x + shift).clamp(0.0, 1.0)


def pixelate(x: Tensor, block: float, generator: torch.Generator) -> Tensor:
    """Each ``block`` x ``block`` tile replaced by its mean (integer tiles, so strength grows with ``block``)."""
    del generator
    b = int(block)
    h, w = x.shape[-2:]
    tiles = F.avg_pool2d(x, b, stride=b, ceil_mode=True)
    return tiles.repeat_interleave(b, dim=-2).repeat_interleave(b, dim=-1)[..., :h, :w].clamp(0.0, 1.0)


for _kind in (
    CorruptionKind("gaussian-noise", "additive Gaussian noise, std", (0.08, 0.12, 0.18, 0.26, 0.38), gaussian_noise),
    CorruptionKind("shot-noise", "Poisson noise, photons per unit intensity", (60, 25, 12, 5, 3), shot_noise),
    CorruptionKind("impulse-noise", "salt and pepper, fraction", (0.03, 0.06, 0.09, 0.17, 0.27), impulse_noise),
    CorruptionKind("blur", "Gaussian blur, sigma in pixels", (0.6, 0.9, 1.2, 1.6, 2.0), blur),
    CorruptionKind("dotted-line", "white dotted lines, count", (1, 2, 3, 4, 5), dotted_line),
    CorruptionKind("contrast", "contrast factor", (0.4, 0.3, 0.2, 0.1, 0.05), contrast),
    CorruptionKind("brightness", "added brightness", (0.1, 0.2, 0.3, 0.4, 0.5), brightness),
    CorruptionKind("pixelate", "tile size in pixels", (2, 3, 4, 5, 6), pixelate),
):
    CORRUPTIONS.add(_kind.name, _kind)


def check_severity(severity: int) -> None:
    """Raise a :class:`ConfigError` unless ``severity`` is in 1..5."""
    if not 1 <= severity <= SEVERITIES:
        raise ConfigError(f"corruption severity must be in 1..{SEVERITIES}, got {severity}")


def corrupt(x: Tensor, kind: str, severity: int, generator: torch.Generator) -> Tensor:
    """Corrupted copies of [0, 1] images ``x`` (N, C, H, W): detached, in [0, 1], deterministic for a seed."""
    spec = CORRUPTIONS.get(kind)
    check_severity(severity)
    with torch.no_grad():
        return spec.apply(x.detach(), float(spec.level(severity)), generator).contiguous()


@ATTACKS.register("corruption")
@dataclass(frozen=True)
class Corruption(Attack):
    """A common corruption as a view-free "attack" (clean accuracy's path, corrupted images).

    ``kind`` is one of :data:`CORRUPTIONS` (``cnnf-bench attacks`` lists them), ``severity`` 1..5. Not an
    L-inf attack: ``eps`` is always :data:`UNBOUNDED_EPS` (a protocol's eps is replaced, see the module
    docstring), so the record's eps reads "unbounded" rather than pretending to a budget.
    """

    eps: float = UNBOUNDED_EPS
    kind: str = "gaussian-noise"
    severity: int = 3

    name: ClassVar[str] = "corruption"
    summary: ClassVar[str] = "common corruption, not L-inf bounded (eps recorded as 1); kinds: " + ", ".join(
        CORRUPTIONS.names()
    )
    uses_view: ClassVar[bool] = False

    def validate(self) -> None:
        if self.eps != UNBOUNDED_EPS:
            raise ConfigError(f"corruption: eps is not a budget of a corruption and is always {UNBOUNDED_EPS:g}")
        CORRUPTIONS.get(self.kind)
        check_severity(self.severity)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Attack:
        """As :meth:`Attack.from_params`, with any protocol eps replaced by :data:`UNBOUNDED_EPS`."""
        return super().from_params({**params, "eps": UNBOUNDED_EPS})

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        return corrupt(x, self.kind, self.severity, generator)


class CorruptionsProtocol(Protocol):
    """Label for corruption records (their own report group); corruptions get eps 1.0, others the dataset's."""

    def defaults(self, attack: str, dataset: str) -> AttackDefaults:
        if attack == Corruption.name:
            return AttackDefaults({"eps": UNBOUNDED_EPS})
        return super().defaults(attack, dataset)


PROTOCOLS.add(
    "corruptions",
    CorruptionsProtocol("corruptions", "common corruptions (MNIST-C / CIFAR-10-C style), severities 1-5, eps 1"),
)
