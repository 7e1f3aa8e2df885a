"""The pass counter: counts forward, backward and deployed passes per image, and changes no result."""

from __future__ import annotations

import torch
from torch import nn

from cnnf_bench.attacks import ATTACKS
from cnnf_bench.attacks.art_adapter import owner_module
from cnnf_bench.attacks.cost import PassCounter, unwrap


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_counts_passes_per_image_without_changing_the_examples() -> None:
    model = _model()
    x, y = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(1)), torch.arange(5)
    pgd = ATTACKS.get("pgd").from_params({"eps": 0.1, "steps": 4, "restarts": 2})
    plain = pgd.run(model, x, y, torch.Generator().manual_seed(0), model)
    counter = PassCounter()
    counted = pgd.run(counter.view(model), x, y, torch.Generator().manual_seed(0), counter.score(model))
    assert torch.equal(plain, counted)
    cost = counter.per_image(5, 1.23456)
    # restarts after the first attack only the unbroken examples, so at most 2 x 4 gradients per image
    assert 4 <= cost["forward"] == cost["backward"] <= 8 and cost["queries"] >= 1
    assert cost["seconds"] == 1.235
    assert PassCounter().per_image(0, 0.0)["forward"] == 0


def test_no_grad_calls_are_forwards_only_and_the_owner_is_still_found() -> None:
    model = _model()
    counter = PassCounter()
    view = counter.view(model)
    with torch.no_grad():
        view(torch.rand(3, 1, 4, 4))
    assert (counter.forward_images, counter.backward_images) == (3, 0)
    assert unwrap(view) is model and owner_module(view) is model
