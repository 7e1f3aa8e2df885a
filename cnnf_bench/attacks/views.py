"""Targets (views): the function of the input that an attacker differentiates or queries.

``first`` is the first feedforward pass (the original ``forward_adv``); ``e2e`` unrolls all cycles and
returns the last iteration's logits (the original ``run_cycles_adv``, attacked by the original even when
the avg readout was deployed); ``e2e-avg`` differentiates the averaged logits that the avg readout
deploys; ``bpda`` outputs the deployed logits but back-propagates through the first pass only (a
straight-through estimator). Scoring always uses the deployed readout, whatever view produced the
examples. For a model with cycles 0 every view is the same function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from cnnf_bench.registry import Registry
from cnnf_bench.zoo.base import FeedbackNet

Forward = Callable[[Tensor], Tensor]

VIEWS: Registry[Callable[[FeedbackNet], Forward]] = Registry("target")
VIEW_HELP: dict[str, str] = {}


def _view(name: str, help_text: str) -> Callable[[Callable[[FeedbackNet], Forward]], Callable[[FeedbackNet], Forward]]:
    VIEW_HELP[name] = help_text
    return VIEWS.register(name)


@_view("first", "the first feedforward pass (original forward_adv)")
def _first(model: FeedbackNet) -> Forward:
    return model.first


@_view("e2e", "unrolled through all cycles, last-iteration logits (original run_cycles_adv)")
def _e2e(model: FeedbackNet) -> Forward:
    return model.e2e


@_view("e2e-avg", "unrolled through all cycles, mean logits of all iterations (what the avg readout deploys)")
def _e2e_avg(model: FeedbackNet) -> Forward:
    def forward(x: Tensor) -> Tensor:
        return model.run(x).readout("avg")

    return forward


@_view("bpda", "deployed logits forward, first-pass gradient backward (straight-through, Athalye et al. 2018)")
def _bpda(model: FeedbackNet) -> Forward:
    def forward(x: Tensor) -> Tensor:
        first = model.first(x)
        with torch.no_grad():
            full = model(x)
        return first + (full - first).detach()

    return forward


def view(model: FeedbackNet, name: str) -> Forward:
    """The forward function of view ``name`` on ``model``."""
    return VIEWS.get(name)(model)


def same_function(model: FeedbackNet, a: str, b: str) -> bool:
    """Whether two views are the very same function on ``model`` (true for every pair at cycles 0)."""
    return a == b or model.cycles == 0
