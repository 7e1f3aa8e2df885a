"""Attacks run by the adversarial-robustness-toolbox (ART 1.20), for cross-checks and stronger evaluations.

Each ``run()`` wraps the view as an ART classifier (:mod:`cnnf_bench.attacks.art_adapter`), builds the
ART attack with the whole batch as its batch size, and generates with the true labels. ART draws its
randomness (random starts, Square's windows) from numpy's and Python's global generators: ``run()``
seeds them from the attack's generator and restores them afterwards, so a result is deterministic for an
attack seed. The output is projected once more onto the eps-box and [0, 1] (a no-op up to rounding).

ART's ``AutoAttack`` wrapper is deliberately absent: it needs the ``multiprocess`` package and is not
Croce & Hein's standard AutoAttack (evaluation-rigor 2.4). ``apgd-ce``, ``apgd-dlr`` and ``square`` are
its components, one record each.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from cnnf_bench.attacks.art_adapter import art_classifier, art_generate, art_session
from cnnf_bench.attacks.art_progress import apgd_progress, square_progress
from cnnf_bench.attacks.base import ATTACKS, Attack, Forward, _positive_int
from cnnf_bench.attacks.pgd import project_linf
from cnnf_bench.errors import ConfigError


@dataclass(frozen=True)
class ARTAttack(Attack):
    """Base of the ART-backed attacks: subclasses build the ART attack in :meth:`build`."""

    def build(self, classifier: Any, batch_size: int) -> Any:
        """The ART attack object on ``classifier``."""
        raise NotImplementedError

    def progress(self) -> contextlib.AbstractContextManager[None]:
        """Context around ``generate`` that reports the attack's iterations (none by default)."""
        return contextlib.nullcontext()

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        x = x.detach()
        if x.shape[0] == 0 or self.eps == 0:
            return x.clone()  # nothing to search (and ART rejects eps 0 for Square and APGD)
        with torch.no_grad():
            nb_classes = int(forward(x[:1]).shape[1])
        with art_session(x.device, generator):
            classifier = art_classifier(forward, tuple(x.shape[1:]), nb_classes, x.device)
            attack = self.build(classifier, int(x.shape[0]))
            with self.progress():
                x_adv = art_generate(attack, x, y)
        return project_linf(x_adv, x, self.eps)


@ATTACKS.register("art-pgd")
@dataclass(frozen=True)
class ARTPGD(ARTAttack):
    """ART's ``ProjectedGradientDescent`` (L-inf, torch-native path), the in-house ``pgd``'s cross-check.

    Args:
        eps: L-inf budget in [0, 1] units.
        step_size: step per iteration (None: 2.5 eps / steps, as ``pgd``).
        steps: iterations.
        random_start: one uniform random start in the eps-ball (ART ``num_random_init`` 1), else none (0).
    """

    step_size: float | None = None
    steps: int = 7
    random_start: bool = True

    name: ClassVar[str] = "art-pgd"
    summary: ClassVar[str] = "L-inf PGD from ART (steps, step_size, random_start); cross-check of pgd"

    def validate(self) -> None:
        super().validate()
        _positive_int(self.steps, "art-pgd.steps")
        if self.step_size is None:
            object.__setattr__(self, "step_size", 2.5 * self.eps / self.steps)
        elif self.step_size < 0:
            raise ConfigError(f"art-pgd.step_size must be >= 0, got {self.step_size}")

    def build(self, classifier: Any, batch_size: int) -> Any:
        from art.attacks.evasion import ProjectedGradientDescent

        assert self.step_size is not None
        return ProjectedGradientDescent(
            classifier,
            norm=np.inf,
            eps=float(self.eps),
            eps_step=float(self.step_size),
            max_iter=self.steps,
            targeted=False,
            num_random_init=1 if self.random_start else 0,
            batch_size=batch_size,
            verbose=False,
        )


@ATTACKS.register("art-fgsm")
@dataclass(frozen=True)
class ARTFGSM(ARTAttack):
    """ART's ``FastGradientMethod`` in L-inf: one step of size eps along the gradient sign, clipped."""

    name: ClassVar[str] = "art-fgsm"
    summary: ClassVar[str] = "fast gradient sign method from ART (one step of size eps); cross-check of fgsm"

    def build(self, classifier: Any, batch_size: int) -> Any:
        from art.attacks.evasion import FastGradientMethod

        return FastGradientMethod(
            classifier,
            norm=np.inf,
            eps=float(self.eps),
            eps_step=float(self.eps),
            targeted=False,
            num_random_init=0,
            batch_size=batch_size,
            minimal=False,
        )


@ATTACKS.register("square")
@dataclass(frozen=True)
class Square(ARTAttack):
    """ART's ``SquareAttack`` in L-inf (Andriushchenko et al. 2020): random square updates, margin loss.

    Score-based: it only queries the view's logits, so it is not fooled by masked gradients.

    Args:
        eps: L-inf budget in [0, 1] units.
        max_iter: iterations (queries per image, about).
        p_init: initial fraction of pixels in a square, in (0, 1).
        nb_restarts: restarts (each keeps the images already misclassified).
    """

    max_iter: int = 1000
    p_init: float = 0.8
    nb_restarts: int = 1

    name: ClassVar[str] = "square"
    summary: ClassVar[str] = "Square attack from ART, L-inf (max_iter, p_init, nb_restarts; score-based)"
    black_box: ClassVar[bool] = True

    def validate(self) -> None:
        super().validate()
        _positive_int(self.max_iter, "square.max_iter")
        _positive_int(self.nb_restarts, "square.nb_restarts")
        if not 0.0 < self.p_init < 1.0:
            raise ConfigError(f"square.p_init must be in (0, 1), got {self.p_init}")

    def build(self, classifier: Any, batch_size: int) -> Any:
        from art.attacks.evasion import SquareAttack

        return SquareAttack(
            classifier,
            norm=np.inf,
            max_iter=self.max_iter,
            eps=float(self.eps),
            p_init=float(self.p_init),
            nb_restarts=self.nb_restarts,
            batch_size=batch_size,
            verbose=False,
        )

    def progress(self) -> contextlib.AbstractContextManager[None]:
        """Square's iterations, as they finish (a batch runs minutes; see :mod:`~cnnf_bench.attacks.art_progress`)."""
        return square_progress(self.max_iter, self.nb_restarts)


@dataclass(frozen=True)
class _APGD(ARTAttack):
    """ART's ``AutoProjectedGradientDescent`` in L-inf (Croce & Hein 2020), initial step 2 eps.

    Every restart starts uniformly in the eps-ball; images the view already misclassifies are skipped.
    Note ART returns each image's *last* iterate where it is misclassified (not the best-loss iterate
    of the reference implementation).

    Args:
        eps: L-inf budget in [0, 1] units.
        max_iter: iterations per restart.
        nb_random_init: restarts.
    """

    max_iter: int = 100
    nb_random_init: int = 1

    loss_type: ClassVar[str] = ""

    def validate(self) -> None:
        super().validate()
        _positive_int(self.max_iter, f"{self.name}.max_iter")
        _positive_int(self.nb_random_init, f"{self.name}.nb_random_init")

    def progress(self) -> contextlib.AbstractContextManager[None]:
        """APGD's iterations, as they finish (see :mod:`~cnnf_bench.attacks.art_progress`)."""
        return apgd_progress(self.max_iter, self.nb_random_init)

    def build(self, classifier: Any, batch_size: int) -> Any:
        from art.attacks.evasion import AutoProjectedGradientDescent

        return AutoProjectedGradientDescent(
            classifier,
            norm=np.inf,
            eps=float(self.eps),
            eps_step=2.0 * float(self.eps),
            max_iter=self.max_iter,
            targeted=False,
            nb_random_init=self.nb_random_init,
            batch_size=batch_size,
            loss_type=self.loss_type,
            verbose=False,
        )


@ATTACKS.register("apgd-ce")
@dataclass(frozen=True)
class APGDCE(_APGD):
    """APGD-CE: :class:`_APGD` on the cross-entropy loss."""

    name: ClassVar[str] = "apgd-ce"
    summary: ClassVar[str] = "APGD from ART with cross-entropy, L-inf (max_iter, nb_random_init)"
    loss_type: ClassVar[str] = "cross_entropy"


@ATTACKS.register("apgd-dlr")
@dataclass(frozen=True)
class APGDDLR(_APGD):
    """APGD-DLR: :class:`_APGD` on the difference-of-logits-ratio loss (invariant to logit scaling)."""

    name: ClassVar[str] = "apgd-dlr"
    summary: ClassVar[str] = "APGD from ART with the difference-of-logits-ratio loss, L-inf (max_iter, nb_random_init)"
    loss_type: ClassVar[str] = "difference_logits_ratio"
