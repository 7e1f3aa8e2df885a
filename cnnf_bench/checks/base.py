"""Verdicts, settings and the registry of automatic checks (torch-free: the report reads stored verdicts).

A check is a function of a :class:`~cnnf_bench.checks.context.CheckContext` (a model, a few hundred
images, cached attack runs) that returns a :class:`Outcome`: a verdict, the measured value, the
threshold it was held to and details. The runner adds the check's id, name, advice and wall time and
returns a :class:`CheckResult`. Thresholds follow evaluation-rigor.md and are documented per check in
``docs/checks.md``; they are constants here, not settings, so that verdicts mean the same everywhere.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from cnnf_bench.errors import ConfigError
from cnnf_bench.registry import Registry


class Verdict(str, Enum):
    """Outcome of one check. ``skip``: not applicable here (e.g. no transfer source)."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


#: a failure of any of these marks a row's robust numbers as potentially unreliable (RobustBench style)
UNRELIABLE_CHECKS: tuple[str, ...] = ("C6", "C10", "C11", "C13")

#: tolerances, as fractions (0.005 = 0.5 percentage points); see docs/checks.md
CONVERGENCE_TOL = 0.005  # C7, C9, C16
MONOTONE_TOL = 0.005  # C5 (or one example, whichever is larger)
BLACK_BOX_TOL = 0.002  # C11 (AutoAttack's check_square_sr alpha)
MASKING_GAP = 0.05  # C14
DETERMINISM_TOL = 1e-4  # C1: max abs difference of L2-normalised logits (AutoAttack's alpha)
BATCH_TOL = 1e-3  # C3: the same at batch 1 vs batch B (different kernels differ by ~1e-5 after the cycles)
VALIDITY_TOL = 1e-6  # C17
GRAD_RATIO_RANGE = (1e-6, 1e6)  # C13


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: verdict, headline value (a fraction or ratio), texts, details."""

    verdict: Verdict
    value: float | None
    value_text: str
    threshold: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict on one model and readout, with its measured value and threshold."""

    check: str
    name: str
    verdict: Verdict
    value: float | None
    value_text: str
    threshold: str
    advice: str
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def flagged(self) -> bool:
        """Whether the verdict is a warning or a failure."""
        return self.verdict in (Verdict.WARN, Verdict.FAIL)


#: a check function: context -> outcome (the context type lives in the torch part of the package)
CheckFn = Callable[[Any], Outcome]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: id (``C6``), short name, what it tests, what to do when it flags, function."""

    id: str
    name: str
    what: str
    advice: str
    func: CheckFn


CHECKS: Registry[CheckSpec] = Registry("check")


def register(check_id: str, name: str, what: str, advice: str) -> Callable[[CheckFn], CheckFn]:
    """Decorator registering a check function; registration order is the order checks run in."""

    def deco(func: CheckFn) -> CheckFn:
        CHECKS.add(check_id, CheckSpec(check_id, name, what, advice, func))
        return func

    return deco


def check_number(check_id: str) -> int:
    """Numeric part of a check id, for sorting (``C10`` after ``C9``)."""
    digits = "".join(ch for ch in check_id if ch.isdigit())
    return int(digits) if digits else 0


DEFAULT_VIEWS: tuple[str, ...] = ("first", "e2e", "e2e-avg", "bpda", "any-iter")


@dataclass(frozen=True)
class CheckSettings:
    """How much work the checks do: subset sizes and attack budgets (all part of a stored verdict's key).

    Small on purpose: the checks diagnose an evaluation, they do not replace it. Defaults run on a
    quick Fashion-MNIST CNN-F in a few minutes on two CPU cores.

    Args:
        n: images (a prefix of the fixed evaluation permutation, as ``evaluate`` uses).
        eps: L-inf budget in [0, 1] units (None: the dataset's).
        steps: PGD iterations of the base attack (step 2.5 eps / steps, one random start, best iterate).
        restarts: random restarts of C9's attack.
        views: attack views to check (CNN models collapse them into one).
        batch_size: images per attack batch.
        subset_seed: seed of the evaluation permutation.
        attack_seed: seed of the attacks' randomness.
        black_box_n: images attacked by Square (a prefix of the ``n``).
        square_iter: Square iterations.
        spsa_n: images attacked by SPSA (a prefix of the ``n``).
        spsa_iter: SPSA iterations (lr 2 eps / spsa_iter, so the whole budget is reachable).
        spsa_samples: SPSA directions per gradient estimate.
        noise_draws: draws of uniform noise per image (C12).
        passes: forward passes compared by C1.
        batch1_n: images classified one at a time by C3.
    """

    n: int = 200
    eps: float | None = None
    steps: int = 10
    restarts: int = 3
    views: tuple[str, ...] = DEFAULT_VIEWS
    batch_size: int = 200
    subset_seed: int = 0
    attack_seed: int = 0
    black_box_n: int = 50
    square_iter: int = 200
    spsa_n: int = 20
    spsa_iter: int = 10
    spsa_samples: int = 32
    noise_draws: int = 10
    passes: int = 5
    batch1_n: int = 32

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            counted = isinstance(value, int) and not isinstance(value, bool)
            if counted and f.name not in ("subset_seed", "attack_seed") and value < 1:
                raise ConfigError(f"check setting {f.name} must be >= 1, got {value}")
        if self.passes < 2:
            raise ConfigError(f"check setting passes must be >= 2, got {self.passes}")
        if self.eps is not None and not 0.0 < self.eps <= 1.0:
            raise ConfigError(f"check setting eps must be in (0, 1], got {self.eps}")
        if not self.views:
            raise ConfigError("check setting views must name at least one view")

    def identity(self) -> dict[str, Any]:
        """The settings as a plain dict (part of every stored verdict's key)."""
        out = dataclasses.asdict(self)
        out["views"] = list(self.views)
        return out

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str = "checks") -> CheckSettings:
        """Build from a mapping (suite YAML, CLI), rejecting unknown keys and coercing simple types."""
        from cnnf_bench.config import coerce_value

        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in hints:
                raise ConfigError(f"unknown key {where}.{key} (known: {', '.join(hints)})")
            if key == "views":
                items = value if isinstance(value, list | tuple) else [value]
                values[key] = tuple(coerce_value(v, str, f"{where}.views") for v in items)
            else:
                values[key] = coerce_value(value, hints[key], f"{where}.{key}")
        return cls(**values)


CHECKS_STORE_NAME = "checks.jsonl"


def default_checks_store(results: Path) -> Path:
    """Where verdicts live by default: ``checks.jsonl`` in the results store's folder."""
    return Path(results).parent / CHECKS_STORE_NAME


def pct(fraction: float | None) -> str:
    """A fraction as a percentage with one decimal ("-" for None)."""
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def pp(fraction: float) -> str:
    """A difference of fractions in percentage points, signed."""
    return f"{100 * fraction:+.1f} pp"
