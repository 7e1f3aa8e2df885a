"""How well a CNN-F's feedback restores its input: distances to the clean image and accuracy per iteration.

The paper's Figure 6 and poster claim that the generative feedback repairs corrupted images. This module
measures it on labelled clean images and corrupted copies of them (common corruptions at a severity):

- ``recon``: the feedback's reconstruction at layer k after each cycle, ``g_t(k)``, compared with the
  clean image's own layer-k feature. At k=0 that is the image the feedback generates, mapped from the
  model's [-1, 1] scale to [0, 1] (``(g_t + 1) / 2``, *not* clipped, so a badly scaled reconstruction
  shows as such); at k>0 it is a feature-space distance (the clean first pass's layer-k feature).
- ``mixed``: the layer-k input of each iteration, ``h_t = h_{t-1} + eta (g_t - h_{t-1})``, which is what
  the next forward pass actually sees (at k=0, in [0, 1] pixel units as above).
- ``input``: the corrupted input's own distance to the clean one (0 for clean inputs): the bar a
  restoration has to beat.
- ``accuracy``: the class predicted from each iteration's logits, ``v_0 .. v_T``.

Training records these per epoch (``metrics.jsonl``) and ``cnnf-bench plot`` draws them; both call
:func:`restoration_stats`, so the numbers of the curves and of the restoration grid are one computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from cnnf_bench.attacks.corruptions import corrupt
from cnnf_bench.runtime import generator
from cnnf_bench.zoo.base import FeedbackNet

#: corruptions monitored during training (the noise and blur of Figure 6d) and their severity
MONITOR_KINDS: tuple[str, ...] = ("gaussian-noise", "shot-noise", "blur")
MONITOR_SEVERITY = 3


@dataclass
class RestorationStats:
    """Distances to the clean input and accuracies, per iteration, for one kind of input."""

    kind: str  # "clean" or a corruption kind
    severity: int  # 0 for clean
    n: int
    pixel_space: bool  # True when k=0 (distances in [0, 1] pixel units), False for feature distances
    input_mse: float
    recon_mse: list[float] = field(default_factory=list)  # t = 1..T
    mixed_mse: list[float] = field(default_factory=list)  # t = 1..T
    accuracy: list[float] = field(default_factory=list)  # t = 0..T

    def as_dict(self) -> dict[str, Any]:
        """Plain primitives, for metrics files and CSVs."""
        return asdict(self)


def _distance(a: Tensor, b: Tensor, pixel_space: bool) -> float:
    """Mean squared distance; at k=0 both sides are mapped from [-1, 1] to [0, 1] first (a factor 1/4)."""
    scale = 0.25 if pixel_space else 1.0
    return float(((a - b) ** 2).mean()) * scale


@torch.no_grad()
def restoration_stats(
    model: FeedbackNet,
    x: Tensor,
    y: Tensor,
    kinds: Sequence[str] = MONITOR_KINDS,
    severity: int = MONITOR_SEVERITY,
    seed: int = 0,
    batch_size: int = 500,
) -> list[RestorationStats]:
    """Restoration statistics of ``model`` on clean ``x`` (in [0, 1]) and on each corruption of it.

    Deterministic for ``seed`` (the corruption draws come from their own generator; no global RNG is
    touched, so training that calls this between epochs continues bit for bit).
    """
    was_training = model.training
    model.eval()
    try:
        inputs: list[tuple[str, int, Tensor]] = [("clean", 0, x)]
        inputs += [(kind, severity, corrupt(x, kind, severity, generator(seed, x.device))) for kind in kinds]
        pixel_space = model.ind == 0
        out = []
        for kind, sev, images in inputs:
            sums: dict[str, list[float]] = {}
            total = int(x.shape[0])
            for lo in range(0, total, batch_size):
                hi = min(lo + batch_size, total)
                clean_h = model.run(x[lo:hi], cycles=0).h0
                traj = model.run(images[lo:hi])
                weight = (hi - lo) / total
                values = {
                    "input": [_distance(traj.h0, clean_h, pixel_space)],
                    "recon": [_distance(r, clean_h, pixel_space) for r in traj.recons],
                    "mixed": [_distance(h, clean_h, pixel_space) for h in traj.inputs[1:]],
                    "accuracy": [float((v.argmax(1) == y[lo:hi]).float().mean()) for v in traj.logits],
                }
                for key, vals in values.items():
                    acc = sums.setdefault(key, [0.0] * len(vals))
                    for i, v in enumerate(vals):
                        acc[i] += weight * v
            out.append(
                RestorationStats(
                    kind=kind,
                    severity=sev,
                    n=total,
                    pixel_space=pixel_space,
                    input_mse=sums["input"][0],
                    recon_mse=sums["recon"],
                    mixed_mse=sums["mixed"],
                    accuracy=sums["accuracy"],
                )
            )
        return out
    finally:
        model.train(was_training)
