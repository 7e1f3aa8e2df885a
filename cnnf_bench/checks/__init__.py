"""Automatic sanity checks of an adversarial evaluation (evaluation-rigor.md, C1-C20; docs/checks.md).

This package's top level is torch-free (verdicts, settings, the registry, table-level flags), so that the
report can read stored verdicts cheaply. The checks themselves live in :mod:`cnnf_bench.checks.runner`
and the modules it imports, which need torch.
"""

from cnnf_bench.checks.base import (
    CHECKS,
    UNRELIABLE_CHECKS,
    CheckResult,
    CheckSettings,
    CheckSpec,
    Verdict,
)

__all__ = ["CHECKS", "UNRELIABLE_CHECKS", "CheckResult", "CheckSettings", "CheckSpec", "Verdict"]
