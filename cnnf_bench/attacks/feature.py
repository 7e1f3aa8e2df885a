"""Feature attack on CNN-F's generative feedback: move the reconstruction towards another class's.

CNN-F's claim is that the feedback pulls a perturbed input back towards what the network believes the
image is. An attacker who knows this can aim at the belief itself: perturb the image (L-inf PGD) so that
the feedback's layer-k reconstruction (view ``recon``) or the layer-k input of the last iteration (view
``latent``) comes as close as possible to that of a clean image of *another* class; the feedback then
"restores" towards the wrong class. The examples are scored, as every attack's, with the deployed
readout; with ``track_best`` each example keeps the first step that the deployed model misclassifies.

The other-class image of example ``i`` is the next image of the same batch (cyclically) whose label
differs from ``y_i``, so the examples depend on the batch (the record keeps the batch size); an
example whose batch holds no other class is left at its random start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from cnnf_bench.attacks.base import ATTACKS, Attack, BestCandidate, Forward, _positive_int
from cnnf_bench.attacks.pgd import project_linf, uniform_start
from cnnf_bench.errors import ConfigError


def other_class_partner(y: Tensor) -> Tensor:
    """Per example, the index of the next example (cyclically) with another label; itself if there is none."""
    n = y.shape[0]
    index = torch.arange(n, device=y.device)
    partner = index.clone()
    found = torch.zeros(n, dtype=torch.bool, device=y.device)
    for shift in range(1, n):
        candidate = (index + shift) % n
        new = ~found & (y[candidate] != y)
        partner[new] = candidate[new]
        found |= new
        if bool(found.all()):
            break
    return partner


@ATTACKS.register("feature")
@dataclass(frozen=True)
class FeatureAttack(Attack):
    """L-inf PGD that minimises the squared distance from a feature view to another class's clean feature.

    Args:
        eps: L-inf budget in [0, 1] units.
        step_size: step per iteration (None: 2.5 eps / steps).
        steps: iterations.
        random_start: start uniformly in the eps-box.
        track_best: keep each example's first iterate that the deployed model misclassifies.
    """

    step_size: float | None = None
    steps: int = 40
    random_start: bool = True
    track_best: bool = True

    name: ClassVar[str] = "feature"
    summary: ClassVar[str] = (
        "feature attack: PGD moving the feedback's reconstruction (target recon / latent) towards another class's"
    )
    needs_view_kind: ClassVar[str] = "features"

    def validate(self) -> None:
        super().validate()
        _positive_int(self.steps, "feature.steps")
        if self.step_size is None:
            object.__setattr__(self, "step_size", 2.5 * self.eps / self.steps)
        elif self.step_size < 0:
            raise ConfigError(f"feature.step_size must be >= 0, got {self.step_size}")

    def uses_score(self) -> bool:
        return self.track_best

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        assert self.step_size is not None
        x = x.detach()
        with torch.no_grad():
            goal = forward(x[other_class_partner(y)]).detach()
        tracker = BestCandidate(x)
        x_adv = uniform_start(x, self.eps, generator) if self.random_start and self.eps > 0 else x.clone()
        for _ in range(self.steps):
            x_adv.requires_grad_(True)
            distance = (forward(x_adv) - goal).pow(2).flatten(1).mean(1).sum()
            (grad,) = torch.autograd.grad(distance, x_adv)
            x_adv = project_linf(x_adv.detach() - self.step_size * grad.sign(), x, self.eps)
            if self.track_best:
                tracker.offer(x_adv, y, score)
        if not self.track_best:
            tracker.offer(x_adv, y, None)
        return tracker.best
