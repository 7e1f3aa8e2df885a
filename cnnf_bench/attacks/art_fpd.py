"""The ART attacks of FPD's released evaluation (fpd-reference.md section 1.5) that the registry lacked.

``bim`` (Basic Iterative Method, L-inf), and three attacks without an L-inf budget: ``cw-l2``
(Carlini & Wagner L2), ``deepfool`` and ``hsj`` (HopSkipJump, decision-based, L2). The last three
search for the *smallest* perturbation that changes the label. They carry eps 1.0 (the whole pixel
range, so the validity check claims no L-inf budget) and an ``l2_budget``: the evaluator measures each
example's L2 distance, records the median over the evaluated images (an example the attack did not
break counts as infinitely far), and scores the attack *at that L2 budget*: an adversarial example
farther than the budget counts as not found (the original image is scored instead).

Defaults are the released harness's (ART 0.10.0 defaults where it passed nothing): C&W confidence 0,
lr 0.01, 10 binary-search steps of 10 iterations, initial constant 0.01; DeepFool 100 iterations,
overshoot 1e-6, every class; HopSkipJump untargeted L2 with max_eval 100 (ART's default is 10,000),
50 iterations, init_eval 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cnnf_bench.attacks.art_attacks import ARTAttack
from cnnf_bench.attacks.base import ATTACKS, _positive, _positive_int
from cnnf_bench.errors import ConfigError


@ATTACKS.register("bim")
@dataclass(frozen=True)
class BIM(ARTAttack):
    """ART's ``BasicIterativeMethod`` (Kurakin et al. 2017): L-inf iterative FGSM from the clean image.

    Args:
        eps: L-inf budget in [0, 1] units (the released harness never passed one: ART's 0.3 everywhere).
        step_size: step per iteration.
        steps: iterations.
    """

    eps: float = 0.3
    step_size: float = 0.1
    steps: int = 100

    name: ClassVar[str] = "bim"
    summary: ClassVar[str] = "basic iterative method from ART, L-inf (step_size, steps; no random start)"

    def validate(self) -> None:
        super().validate()
        _positive_int(self.steps, "bim.steps")
        _positive(self.step_size, "bim.step_size")

    def build(self, classifier: Any, batch_size: int) -> Any:
        from art.attacks.evasion import BasicIterativeMethod

        return BasicIterativeMethod(
            classifier,
            eps=float(self.eps),
            eps_step=float(self.step_size),
            max_iter=self.steps,
            targeted=False,
            batch_size=batch_size,
            verbose=False,
        )


@dataclass(frozen=True)
class MinimumNormAttack(ARTAttack):
    """Base of the attacks scored at an L2 budget (see the module docstring)."""

    eps: float = 1.0
    l2_budget: float = 1.5

    def validate(self) -> None:
        super().validate()
        _positive(self.l2_budget, f"{self.name}.l2_budget")
        if self.eps != 1.0:
            raise ConfigError(f"{self.name} has no L-inf budget (its eps is 1.0); bound it with l2_budget")


@ATTACKS.register("cw-l2")
@dataclass(frozen=True)
class CarliniWagnerL2(MinimumNormAttack):
    """ART's ``CarliniL2Method`` (Carlini & Wagner 2017), scored at ``l2_budget``.

    Args:
        confidence: margin kappa.
        lr: Adam learning rate.
        binary_search_steps: searches over the constant c.
        steps: iterations per search step.
        initial_const: first c.
    """

    confidence: float = 0.0
    lr: float = 0.01
    binary_search_steps: int = 10
    steps: int = 10
    initial_const: float = 0.01

    name: ClassVar[str] = "cw-l2"
    summary: ClassVar[str] = "Carlini-Wagner L2 from ART, minimum-norm; scored at l2_budget with the median L2"

    def validate(self) -> None:
        super().validate()
        _positive_int(self.steps, "cw-l2.steps")
        _positive_int(self.binary_search_steps, "cw-l2.binary_search_steps")
        _positive(self.lr, "cw-l2.lr")
        _positive(self.initial_const, "cw-l2.initial_const")
        if self.confidence < 0:
            raise ConfigError(f"cw-l2.confidence must be >= 0, got {self.confidence}")

    def build(self, classifier: Any, batch_size: int) -> Any:
        from art.attacks.evasion import CarliniL2Method

        return CarliniL2Method(
            classifier,
            confidence=float(self.confidence),
            targeted=False,
            learning_rate=float(self.lr),
            binary_search_steps=self.binary_search_steps,
            max_iter=self.steps,
            initial_const=float(self.initial_const),
            batch_size=batch_size,
            verbose=False,
        )


@ATTACKS.register("deepfool")
@dataclass(frozen=True)
class DeepFool(MinimumNormAttack):
    """ART's ``DeepFool`` (Moosavi-Dezfooli et al. 2016) over every class, scored at ``l2_budget``.

    Args:
        steps: iterations.
        overshoot: ART's ``epsilon``, the step past the linearised boundary.
    """

    steps: int = 100
    overshoot: float = 1e-6

    name: ClassVar[str] = "deepfool"
    summary: ClassVar[str] = "DeepFool from ART (every class), minimum-norm; scored at l2_budget with the median L2"

    def validate(self) -> None:
        super().validate()
        _positive_int(self.steps, "deepfool.steps")
        if self.overshoot < 0:
            raise ConfigError(f"deepfool.overshoot must be >= 0, got {self.overshoot}")

    def build(self, classifier: Any, batch_size: int) -> Any:
        from art.attacks.evasion import DeepFool as ARTDeepFool

        return ARTDeepFool(
            classifier,
            max_iter=self.steps,
            epsilon=float(self.overshoot),
            nb_grads=int(classifier.nb_classes),
            batch_size=batch_size,
            verbose=False,
        )


@ATTACKS.register("hsj")
@dataclass(frozen=True)
class HopSkipJump(MinimumNormAttack):
    """ART's ``HopSkipJump`` (Chen et al. 2020), untargeted L2, decision-based, scored at ``l2_budget``.

    Args:
        max_eval: gradient-estimation queries per step (the released 100; ART's default 10,000).
        steps: iterations.
        init_eval: initial queries per step.
    """

    max_eval: int = 100
    steps: int = 50
    init_eval: int = 100

    name: ClassVar[str] = "hsj"
    summary: ClassVar[str] = "HopSkipJump from ART, L2, decision-based; scored at l2_budget with the median L2"
    black_box: ClassVar[bool] = True

    def validate(self) -> None:
        super().validate()
        for name in ("max_eval", "steps", "init_eval"):
            _positive_int(getattr(self, name), f"hsj.{name}")

    def build(self, classifier: Any, batch_size: int) -> Any:
        from art.attacks.evasion import HopSkipJump as ARTHopSkipJump

        return ARTHopSkipJump(
            classifier,
            batch_size=batch_size,
            targeted=False,
            norm=2,
            max_iter=self.steps,
            max_eval=self.max_eval,
            init_eval=self.init_eval,
            verbose=False,
        )
