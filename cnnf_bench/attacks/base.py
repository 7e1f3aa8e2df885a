"""The attack interface and registry.

An attack is a frozen dataclass of hyper-parameters (eps first, in [0, 1] units) that validates
itself and maps ``(forward, x, y)`` to adversarial images: detached, in [0, 1], inside the L-inf
eps-ball. ``forward`` is the *view* the attacker differentiates or queries (see
:mod:`cnnf_bench.attacks.views`); ``score``, when given, is the deployed inference, which an attack
uses only to choose among its own candidates (restarts, best iterate). An attack never sees the model
zoo and never prints.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from cnnf_bench.config import coerce_value
from cnnf_bench.errors import AttackError, ConfigError
from cnnf_bench.registry import Registry

Forward = Callable[[Tensor], Tensor]
VALIDITY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Attack:
    """Base class: subclasses add their hyper-parameters as dataclass fields and implement :meth:`run`."""

    eps: float = 0.0

    #: registry name
    name: ClassVar[str] = ""
    #: one-line description for listings
    summary: ClassVar[str] = ""
    #: False for attacks whose result does not depend on the view (none, noise)
    uses_view: ClassVar[bool] = True
    #: True when the attack only queries the view's outputs (score-based / black-box)
    black_box: ClassVar[bool] = False
    #: True when the evaluator must supply a *source* model's view (transfer attacks)
    needs_source: ClassVar[bool] = False
    #: the kind of view the attack takes: ``logits`` (or an iteration stack of them), or ``features``
    needs_view_kind: ClassVar[str] = "logits"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for invalid hyper-parameters."""
        if not 0.0 <= self.eps <= 1.0:
            raise ConfigError(f"{self.name}: eps is in [0, 1] pixel units and must be in [0, 1], got {self.eps}")

    def uses_score(self) -> bool:
        """Whether :meth:`run` consults the deployed inference (then its result depends on the readout)."""
        return False

    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        """Adversarial versions of ``x`` (labels ``y``) against ``forward``."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """All hyper-parameters as a plain dict (stored in every result record)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Attack:
        """Build from a mapping, rejecting unknown names and coercing simple types."""
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        values = {}
        for key, value in params.items():
            if key not in names:
                raise ConfigError(f"attack {cls.name} has no parameter {key!r} (it has: {', '.join(names)})")
            values[key] = coerce_value(value, hints[key], f"{cls.name}.{key}")
        return cls(**values)


def _positive_int(value: int, where: str) -> None:
    if value < 1:
        raise ConfigError(f"{where} must be >= 1, got {value}")


def _positive(value: float, where: str) -> None:
    if not value > 0:
        raise ConfigError(f"{where} must be > 0, got {value}")


ATTACKS: Registry[type[Attack]] = Registry("attack")


class BestCandidate:
    """Per example, the first candidate the deployed model misclassifies, else the latest one offered.

    This is how restarts, best-iterate tracking (check C16) and repeated random draws pick what to
    return: an example counts as broken as soon as any candidate broke it.
    """

    def __init__(self, x: Tensor) -> None:
        self.best = x.detach().clone()
        self.fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)

    def offer(self, candidate: Tensor, y: Tensor, score: Forward | None, rows: Tensor | None = None) -> None:
        """Consider ``candidate``; with ``score`` None it simply replaces every not-yet-fooled example.

        With ``rows`` (indices), ``candidate`` and ``y`` hold only those examples.
        """
        if rows is None:
            rows = torch.arange(self.best.shape[0], device=self.best.device)
        keep = ~self.fooled[rows]
        self.best[rows[keep]] = candidate.detach()[keep]
        if score is not None:
            with torch.no_grad():
                self.fooled[rows[score(candidate).argmax(1) != y]] = True


def check_adversarial(x_adv: Tensor, x: Tensor, eps: float, attack: str) -> float:
    """Check C17 on one batch: finite, in [0, 1], inside the eps-ball; return the max L-inf perturbation."""
    if x_adv.shape != x.shape:
        raise AttackError(f"{attack} returned shape {tuple(x_adv.shape)} for inputs of shape {tuple(x.shape)}")
    if not torch.isfinite(x_adv).all():
        raise AttackError(f"{attack} produced non-finite pixels")
    low, high = float(x_adv.min()), float(x_adv.max())
    if low < -VALIDITY_TOLERANCE or high > 1 + VALIDITY_TOLERANCE:
        raise AttackError(f"{attack} left [0, 1]: pixel range [{low:.6g}, {high:.6g}]")
    linf = float((x_adv - x).abs().max()) if x.numel() else 0.0
    if linf > eps + VALIDITY_TOLERANCE:
        raise AttackError(f"{attack} left the eps-ball: max L-inf perturbation {linf:.6g} > eps {eps:.6g}")
    return linf
