"""Targets (views): the functions of the input that an attacker differentiates or queries.

Each model family defines its own views (:meth:`cnnf_bench.zoo.classifier.Classifier.view`); CNN-F's are
``first`` (the first feedforward pass, the original ``forward_adv``), ``e2e`` (unrolled through all
cycles, last-iteration logits, the original ``run_cycles_adv``), ``e2e-avg`` (the averaged logits the avg
readout deploys) and ``bpda`` (the deployed logits forward with the scored readout, the first pass's
gradient backward). ``deployed`` is an alias for the view that computes what the model deploys. Scoring
always uses the deployed readout, whatever view produced the examples. This module keeps the registry of
view *names* (for listings and for validating suites before any model is built).
"""

from __future__ import annotations

import cnnf_bench.zoo  # noqa: F401  (every model family registers its view names on import)
from cnnf_bench.registry import Registry
from cnnf_bench.zoo.classifier import VIEW_HELP, Classifier, Forward

__all__ = ["VIEWS", "VIEW_HELP", "Forward", "view"]

VIEWS: Registry[str] = Registry("target")
for _name, _help in VIEW_HELP.items():
    VIEWS.add(_name, _help)


def view(model: Classifier, name: str, readout: str | None = None) -> Forward:
    """The forward function of view ``name`` on ``model`` (``readout``: the scored one, for bpda)."""
    return model.view(name, readout)
