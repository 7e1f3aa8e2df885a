"""What the checks run on: a model, a small labelled batch, the deployed readout, and cached attack runs.

The model is any :class:`cnnf_bench.zoo.classifier.Classifier` (CNN-F, FPD, a wrapped user model): the
checks use only its deployed ``logits(x, readout)``, its named ``view``s and ``training`` (and
``modules()``), so planted-failure models can be checked as well as checkpoints. Correctness is always
scored with the deployed readout, whatever view produced the examples. Attack runs are memoised by
(attack, parameters, view, images), so checks share work; each batch draws its randomness from a
generator seeded by (attack seed, batch start), so two runs that differ only in steps or restarts begin
from the same random start (which makes C7, C9 and C16 exact comparisons, not noisy ones).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from cnnf_bench.attacks import ATTACKS
from cnnf_bench.checks.base import DEFAULT_VIEWS, VALIDITY_TOL, CheckSettings
from cnnf_bench.errors import UsageError
from cnnf_bench.runtime import derive_seed, generator

Forward = Callable[[Tensor], Tensor]

#: white-box attacks that follow the view's input gradient
GRADIENT_ATTACKS = frozenset({"pgd", "fgsm", "apgd-ce", "apgd-dlr", "art-pgd", "art-fgsm"})


def fraction(flags: Tensor) -> float:
    """Fraction of True entries, computed from the integer count (0 for no entries)."""
    n = int(flags.shape[0])
    return int(flags.sum()) / n if n else 0.0


@dataclass
class AttackRun:
    """One attack on the first ``n`` images through one view, scored with the deployed readout.

    ``correct`` is per example (on the CPU). The validity fields feed C17: non-finite pixels, the worst
    excursion outside [0, 1], and the largest L-inf perturbation (which must not exceed ``eps``).
    """

    label: str
    attack: str
    view: str
    params: dict[str, Any]
    eps: float
    correct: Tensor
    max_linf: float = 0.0
    nonfinite: int = 0
    range_excess: float = 0.0
    seconds: float = 0.0
    transfer: bool = False

    @property
    def n(self) -> int:
        """Number of images attacked."""
        return int(self.correct.shape[0])

    @property
    def accuracy(self) -> float:
        """Fraction still correctly classified (exact: a count over n, so equal counts compare equal)."""
        return fraction(self.correct)

    @property
    def valid(self) -> bool:
        """Finite, inside [0, 1] and inside the eps-ball (up to the tolerance)."""
        return self.nonfinite == 0 and self.range_excess <= VALIDITY_TOL and self.max_linf <= self.eps + VALIDITY_TOL


@dataclass
class CheckEvent:
    """Progress of the checks (rendered by the CLI; the library never prints)."""

    kind: str  # "check" (a check starts), "run" (an attack run finished), "done" (a check finished)
    label: str
    info: dict[str, Any] = field(default_factory=dict)


class CheckContext:
    """A model, ``n`` labelled images on its device and the settings; computes and caches attack runs.

    Args:
        model: the Classifier under test (never modified).
        x: images in [0, 1], shape (n, C, H, W), on the model's device.
        y: labels, shape (n,).
        readout: the deployed readout used for scoring (``last`` or ``avg``).
        settings: budgets and subset sizes.
        eps: the L-inf budget of the checks (already resolved).
        source: optional transfer source model (e.g. the CNN baseline), for C11.
        callback: receives :class:`CheckEvent` objects.
    """

    def __init__(
        self,
        model: Any,
        x: Tensor,
        y: Tensor,
        readout: str,
        settings: CheckSettings,
        eps: float,
        source: Any | None = None,
        callback: Callable[[CheckEvent], None] | None = None,
    ) -> None:
        self.model = model
        self.x = x
        self.y = y
        self.readout = readout
        self.settings = settings
        self.eps = eps
        self.source = source
        self.callback = callback
        self.cycles = int(getattr(model, "cycles", 0))
        self.single_function = bool(model.single_function)
        self._runs: dict[str, AttackRun] = {}
        self._clean: Tensor | None = None
        with torch.no_grad():
            self.num_classes = int(self.score(x[:1]).shape[1])

    # -- model access ---------------------------------------------------------------------------
    def score(self, x: Tensor) -> Tensor:
        """The deployed inference (logits with the context's readout)."""
        return self.model.logits(x, self.readout)  # type: ignore[no-any-return]

    def predict(self, x: Tensor) -> Tensor:
        """Deployed predicted labels, batched, without gradients."""
        out = []
        with torch.no_grad():
            for lo in range(0, x.shape[0], self.settings.batch_size):
                out.append(self.score(x[lo : lo + self.settings.batch_size]).argmax(1))
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=x.device)

    def view(self, name: str) -> Forward:
        """The forward function of view ``name`` on the model under test (scored readout for bpda)."""
        return self.model.view(name, self.readout)  # type: ignore[no-any-return]

    def views(self) -> list[str]:
        """The distinct views to check: the requested ones the model has, or one for a single-function model.

        The default setting (the CNN-F views) also takes every further logits view the model's family
        offers, e.g. FPD's ``pre-tanh``, so a family's own adaptive view is checked without naming it (and
        the stored identity of the default settings stays what it was); feature views (CNN-F's ``recon``)
        take only feature attacks and stay out."""
        offered = list(self.model.views())
        requested = list(dict.fromkeys(self.settings.views))
        if tuple(self.settings.views) == DEFAULT_VIEWS:
            requested += [v for v in offered if v not in requested and self.model.view_kind(v) == "logits"]
        views = [v for v in requested if v in offered] or [self.model.deployed_view()]
        return views[:1] if self.single_function else views

    @property
    def primary_view(self) -> str:
        """The view that differentiates the deployed inference (``e2e-avg`` for avg, ``e2e`` for last)."""
        views = self.views()
        wanted = self.model.deployed_view(self.readout)
        return wanted if wanted in views else views[-1]

    @property
    def chance(self) -> float:
        """Accuracy of random guessing, 1/K."""
        return 1.0 / self.num_classes

    @property
    def n(self) -> int:
        """Number of images under test."""
        return int(self.x.shape[0])

    def clean_correct(self) -> Tensor:
        """Per-example correctness on the clean images (deployed readout), on the CPU."""
        if self._clean is None:
            self._clean = (self.predict(self.x) == self.y).cpu()
        return self._clean

    # -- attacks ----------------------------------------------------------------------------------
    def pgd_params(self, eps: float | None = None, **overrides: Any) -> dict[str, Any]:
        """The checks' base PGD: ``steps`` steps of 2.5 eps / steps, one random start, best iterate kept."""
        eps = self.eps if eps is None else eps
        steps = self.settings.steps
        params = {
            "eps": eps,
            "steps": steps,
            "step_size": 2.5 * eps / steps,
            "random_start": True,
            "restarts": 1,
            "track_best": True,
        }
        params.update(overrides)
        return params

    def run(
        self, attack: str, params: dict[str, Any], view: str = "-", n: int | None = None, transfer: bool = False
    ) -> AttackRun:
        """Run (or fetch from the cache) ``attack`` with ``params`` through ``view`` on the first ``n`` images.

        With ``transfer`` the examples are made on the source model's ``view`` and scored on the model.
        """
        n = self.n if n is None else min(n, self.n)
        key = json.dumps([attack, params, view, n, transfer], sort_keys=True, default=str)
        if key in self._runs:
            return self._runs[key]
        instance = ATTACKS.get(attack).from_params(params)
        owner: Any = self.source if transfer else self.model
        if owner is None:
            raise UsageError("a transfer run needs a source model")
        forward: Any = owner.view(view, self.readout) if instance.uses_view else owner
        score = self.score if instance.uses_score() else None
        start = time.perf_counter()
        flags, max_linf, nonfinite, excess = [], 0.0, 0, 0.0
        batch = self.settings.batch_size
        for lo in range(0, n, batch):
            x, y = self.x[lo : min(lo + batch, n)], self.y[lo : min(lo + batch, n)]
            gen = generator(derive_seed(self.settings.attack_seed, lo), x.device)
            x_adv = instance.run(forward, x, y, gen, score).detach()
            finite = torch.isfinite(x_adv)
            nonfinite += int((~finite).sum())
            safe = torch.where(finite, x_adv, x)
            excess = max(excess, float((safe - 1).clamp(min=0).max()), float((-safe).clamp(min=0).max()))
            max_linf = max(max_linf, float((safe - x).abs().max()) if x.numel() else 0.0)
            with torch.no_grad():
                flags.append((self.score(safe).argmax(1) == y).cpu())
        seconds = time.perf_counter() - start
        label = f"{attack} {view}" + (" (transfer)" if transfer else "")
        result = AttackRun(
            label=label,
            attack=attack,
            view=view,
            params=dict(params),
            eps=float(params["eps"]),
            correct=torch.cat(flags) if flags else torch.empty(0, dtype=torch.bool),
            max_linf=max_linf,
            nonfinite=nonfinite,
            range_excess=excess,
            seconds=seconds,
            transfer=transfer,
        )
        self._runs[key] = result
        if self.callback is not None:
            self.callback(CheckEvent("run", label, {"accuracy": result.accuracy, "n": result.n, "seconds": seconds}))
        return result

    def pgd(self, view: str, eps: float | None = None, **overrides: Any) -> AttackRun:
        """The base PGD (see :meth:`pgd_params`) through ``view``, with parameter overrides."""
        return self.run("pgd", self.pgd_params(eps, **overrides), view)

    def fgsm(self, view: str, eps: float | None = None) -> AttackRun:
        """FGSM through ``view``."""
        return self.run("fgsm", {"eps": self.eps if eps is None else eps}, view)

    def runs(self) -> list[AttackRun]:
        """Every attack run so far (for C17 and C18)."""
        return list(self._runs.values())

    def gradient_runs(self) -> list[AttackRun]:
        """Runs at the checks' eps by white-box gradient attacks on the model itself (not transfer)."""
        return [r for r in self._runs.values() if r.eps == self.eps and r.attack in GRADIENT_ATTACKS and not r.transfer]
