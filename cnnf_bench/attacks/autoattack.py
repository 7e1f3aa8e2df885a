"""Standard AutoAttack (Croce & Hein, ICML 2020), run by the authors' own code.

The field's reference evaluation: an ensemble of parameter-free attacks, each run only on the examples
every earlier one failed on. ``standard`` is APGD-CE, APGD-T (targeted DLR, 9 targets), FAB-T (9
targets) and Square (5,000 queries); ``plus`` adds APGD-DLR and untargeted FAB with 5 restarts each;
``rand`` (for randomised defences) is APGD-CE and APGD-DLR with 20 EOT samples per gradient. The code
is the ``pyautoattack`` package from PyPI: Croce & Hein's repository (fra31/auto-attack) packaged, with
the attacks' modules (APGD, FAB, Square) as the authors wrote them and the driver's prints turned into
logging (checked for 0.2.0; docs/faithfulness.md).

The driver is run one stage at a time on the examples still robust, which is what its own loop does,
so that the robust accuracy after each stage is known per example (and the progress bar moves once per
stage, through :func:`cnnf_bench.progress.report_iteration`): it is kept as the record's per-stage
log (``extras.autoattack``), together with the warnings of AutoAttack's own checks (randomised or
dynamic defence, output range, zero gradients). The log counts what the attacked *view* predicts; the
record itself scores the returned examples with the deployed readout, as for every attack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from cnnf_bench.attacks.art_adapter import art_session, seed_from
from cnnf_bench.attacks.base import ATTACKS, Attack, Forward, _positive_int
from cnnf_bench.attacks.pgd import project_linf
from cnnf_bench.errors import ConfigError
from cnnf_bench.progress import report_iteration

VERSIONS = ("standard", "plus", "rand")
_LOGGER = "auto-attack"


class _View(nn.Module):
    """A view as the module AutoAttack expects (it calls ``model(x)`` and inspects it once)."""

    def __init__(self, forward: Forward) -> None:
        super().__init__()
        self.view = forward

    def forward(self, x: Tensor) -> Tensor:
        return self.view(x)


class _Collect(logging.Handler):
    """Keeps AutoAttack's warnings (its automatic checks) for the record instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().split(" See ")[0].strip()
        if message not in self.messages:
            self.messages.append(message)


@ATTACKS.register("autoattack")
@dataclass(frozen=True)
class AutoAttackLinf(Attack):
    """AutoAttack in L-inf, from the authors' implementation (see the module docstring).

    Args:
        eps: L-inf budget in [0, 1] units.
        version: ``standard``, ``plus`` or ``rand`` (with 20 EOT samples, for randomised models).
        n_iter: iterations of APGD and FAB (None: the version's 100). Fewer is *not* AutoAttack any more;
            it exists for smoke tests, and the record's parameters show it.
        n_queries: Square's query budget (None: the version's 5,000); the same caveat.
    """

    version: str = "standard"
    n_iter: int | None = None
    n_queries: int | None = None

    name: ClassVar[str] = "autoattack"
    summary: ClassVar[str] = (
        "Croce & Hein's AutoAttack (pyautoattack): standard = APGD-CE, APGD-T, FAB-T, Square; plus; rand (EOT)"
    )

    def validate(self) -> None:
        super().validate()
        if self.version not in VERSIONS:
            raise ConfigError(f"autoattack.version must be one of {', '.join(VERSIONS)}, got {self.version!r}")
        if self.n_iter is not None:
            _positive_int(self.n_iter, "autoattack.n_iter")
        if self.n_queries is not None:
            _positive_int(self.n_queries, "autoattack.n_queries")
        object.__setattr__(self, "_log", {})

    # -- the per-stage log, summed over the batches of one evaluation job -----------------------------
    def begin(self) -> None:
        """Forget the log of an earlier job (the evaluator calls this before a job's first batch)."""
        object.__setattr__(self, "_log", {"n": 0, "stages": {}, "warnings": []})

    def run_log(self) -> dict[str, Any]:
        """Robust accuracy of the attacked view after each stage, and AutoAttack's warnings."""
        log = self._log  # type: ignore[attr-defined]
        if not log.get("n"):
            return {}
        stages = [
            {"stage": stage, "robust": robust, "accuracy": robust / log["n"]} for stage, robust in log["stages"].items()
        ]
        return {"autoattack": {"version": self.version, "n": log["n"], "stages": stages, "warnings": log["warnings"]}}

    def _note(self, n: int, stages: dict[str, int], warnings: list[str]) -> None:
        log = self._log  # type: ignore[attr-defined]
        if "stages" not in log:
            self.begin()
            log = self._log  # type: ignore[attr-defined]
        log["n"] += n
        for stage, robust in stages.items():
            log["stages"][stage] = log["stages"].get(stage, 0) + robust
        log["warnings"].extend(w for w in warnings if w not in log["warnings"])

    def _budget(self, adversary: Any) -> None:
        """Apply ``n_iter`` / ``n_queries`` (and APGD's checkpoint schedule, which its constructor derives)."""
        if self.n_iter is not None:
            n = self.n_iter
            for apgd in (adversary.apgd, adversary.apgd_targeted):
                apgd.n_iter = apgd.n_iter_orig = n
                apgd.n_iter_2, apgd.n_iter_min = max(int(0.22 * n), 1), max(int(0.06 * n), 1)
                apgd.size_decr = max(int(0.03 * n), 1)
            adversary.fab.n_iter = n
        if self.n_queries is not None:
            adversary.square.n_queries = self.n_queries

    # -- the attack ------------------------------------------------------------------------------------
    def run(
        self,
        forward: Forward,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        score: Forward | None = None,
    ) -> Tensor:
        from pyautoattack import AutoAttack

        x = x.detach()
        x_adv = x.clone()
        if x.shape[0] == 0 or self.eps == 0:
            return x_adv
        seed = seed_from(generator)
        logger = logging.getLogger(_LOGGER)
        collect = _Collect()
        logger.addHandler(collect)
        logger.propagate = False  # the library never prints; warnings go to the record
        try:
            with art_session(x.device, None):
                adversary = AutoAttack(
                    _View(forward), eps=self.eps, norm="Linf", version=self.version, seed=seed, device=x.device
                )
                adversary.verbose = False
                self._budget(adversary)
                stages_to_run = list(adversary.attacks_to_run)
                with torch.no_grad():
                    robust = forward(x).argmax(1) == y
                stages = {"clean": int(robust.sum())}
                for done, stage in enumerate(stages_to_run, 1):
                    rows = robust.nonzero().flatten()
                    if rows.numel():
                        adversary.attacks_to_run = [stage]
                        found, _ = adversary.run_standard_evaluation(x[rows], y[rows], batch_size=int(rows.numel()))
                        found = project_linf(found.to(x.device, x.dtype), x[rows], self.eps)
                        with torch.no_grad():
                            fooled = forward(found).argmax(1) != y[rows]
                        x_adv[rows[fooled]] = found[fooled]
                        robust[rows[fooled]] = False
                    stages[stage] = int(robust.sum())
                    report_iteration(done, len(stages_to_run))  # a stage can take minutes on the CPU
        finally:
            logger.removeHandler(collect)
        self._note(int(x.shape[0]), stages, collect.messages)
        return x_adv
