"""Transfer attack: PGD examples made on a source model (by default the CNN baseline of the same seed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cnnf_bench.attacks.base import ATTACKS
from cnnf_bench.attacks.pgd import PGD


@ATTACKS.register("transfer")
@dataclass(frozen=True)
class Transfer(PGD):
    """PGD run against a *source* model's view; the examples are then scored on the target model.

    The evaluator passes the source's view as ``forward`` (``needs_source``); the parameters are the
    inner PGD's. The original evaluation used PGD-7 with the training step and a random start on the
    adversarially trained CNN (``attack_pgd_transfer``).
    """

    name: ClassVar[str] = "transfer"
    summary: ClassVar[str] = "PGD examples made on a source checkpoint (default: the CNN baseline, same seed)"
    needs_source: ClassVar[bool] = True
