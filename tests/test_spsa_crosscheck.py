"""SPSA cross-check against advertorch 0.2.3's LinfSPSAAttack, the original CNN-F evaluation's library.

Both draw their random directions differently (advertorch from torch's global generator, ours from the
attack's generator), so the adversarial examples differ and only the accuracies can agree. Tolerance:
per seed, the two runs are paired on the same images; if the attacks are the same in distribution, the
difference of their correct counts is a sum of the discordant pairs' +-1 signs, with standard deviation
sqrt(discordant). We require |difference| <= 3 sqrt(discordant) + 1 for every seed (a 3-sigma McNemar
bound, +1 for discreteness), and the summed difference over the seeds within 3 sqrt(total discordant) + 1.
The attacks must also work (accuracy well below clean), so the agreement is not vacuous.

advertorch 0.2.3 no longer imports on modern torch (``torch.autograd.gradcheck.zero_gradients`` was
removed; only its FAB module uses it): the test provides that function before importing, and nothing
else. advertorch is pinned in the ``crosscheck`` dependency group.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnf_bench.attacks import ATTACKS
from cnnf_bench.data import load_split

SEEDS = (0, 1, 2)
SETTINGS = {"eps": 0.3, "nb_iter": 10, "lr": 0.04, "delta": 0.01, "nb_sample": 64, "max_batch_size": 32}


def _advertorch_spsa() -> type:
    import importlib

    gradcheck = importlib.import_module("torch.autograd.gradcheck")  # the module (the package attribute is a function)
    if not hasattr(gradcheck, "zero_gradients"):  # removed from torch; advertorch imports it at load time

        def zero_gradients(x: Tensor) -> None:
            if isinstance(x, Tensor) and x.grad is not None:
                x.grad.detach_().zero_()

        gradcheck.zero_gradients = zero_gradients  # type: ignore[attr-defined]
    advertorch = pytest.importorskip("advertorch.attacks")
    return advertorch.LinfSPSAAttack  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def model_and_images(fashion_dir: Path) -> tuple[nn.Module, Tensor, Tensor]:
    """Softmax regression trained on the tiny Fashion-MNIST (fast to query), and the 64 test images."""
    train = load_split("fmnist", True, fashion_dir)
    x, y = train.batch(torch.arange(len(train)))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    xt, yt = load_split("fmnist", False, fashion_dir).batch(torch.arange(64))
    return model, xt, yt


def _correct(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    with torch.no_grad():
        return model(x).argmax(1) == y


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_spsa_accuracy_agrees_with_advertorch(model_and_images: tuple[nn.Module, Tensor, Tensor], loss: str) -> None:
    linf_spsa = _advertorch_spsa()
    from advertorch.attacks.utils import MarginalLoss

    model, x, y = model_and_images
    clean = int(_correct(model, x, y).sum())
    ours_attack = ATTACKS.get("spsa").from_params({**SETTINGS, "loss": loss})  # the public entry point
    loss_fn = nn.CrossEntropyLoss(reduction="none") if loss == "ce" else MarginalLoss(reduction="none")
    keys = ("eps", "nb_iter", "lr", "delta", "nb_sample", "max_batch_size")
    theirs_attack = linf_spsa(model, loss_fn=loss_fn, clip_min=0.0, clip_max=1.0, **{k: SETTINGS[k] for k in keys})
    diffs, discordant = [], []
    for seed in SEEDS:
        ours = _correct(model, ours_attack.run(model, x, y, torch.Generator().manual_seed(seed)), y)
        torch.manual_seed(seed)
        x_theirs = theirs_attack.perturb(x.clone(), y.clone())
        assert (x_theirs - x).abs().max() <= SETTINGS["eps"] + 1e-6
        assert x_theirs.min() >= -1e-6 and x_theirs.max() <= 1 + 1e-6
        theirs = _correct(model, x_theirs, y)
        d, k = int(ours.sum()) - int(theirs.sum()), int((ours != theirs).sum())
        assert abs(d) <= 3 * math.sqrt(k) + 1, (seed, int(ours.sum()), int(theirs.sum()), k)
        diffs.append(d)
        discordant.append(k)
        assert int(ours.sum()) <= clean - 10 and int(theirs.sum()) <= clean - 10, (clean, ours.sum(), theirs.sum())
    assert abs(sum(diffs)) <= 3 * math.sqrt(sum(discordant)) + 1, (diffs, discordant)
