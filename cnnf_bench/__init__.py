"""cnnf-bench: adversarial-robustness benchmark for CNNs with recurrent generative feedback.

The public Python API (``wrap``, ``evaluate_model``, ``check_model``, ``Evaluation``; see
:mod:`cnnf_bench.api`) is imported on first use, so ``import cnnf_bench`` (and the CLI's ``--help``)
does not load torch. The names differ from the submodules ``evaluate`` and ``checks`` on purpose.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: public names, all from :mod:`cnnf_bench.api`
_API = ("Evaluation", "check_model", "evaluate_model", "wrap")
__all__ = ["Evaluation", "__version__", "check_model", "evaluate_model", "wrap"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from cnnf_bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'cnnf_bench' has no attribute {name!r}")
