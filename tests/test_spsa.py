"""SPSA (advertorch LinfSPSAAttack semantics): validity, determinism, gradient estimate, strength, reach."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnf_bench.attacks import ATTACKS, check_adversarial
from cnnf_bench.attacks.spsa import SPSA, margin_loss, spsa_gradient, spsa_linf
from cnnf_bench.data import load_split
from cnnf_bench.errors import ConfigError
from cnnf_bench.zoo import build_model, resolve_kwargs


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _linear(features: int, classes: int = 10, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(features, classes)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@pytest.fixture(scope="module")
def trained_linear(fashion_dir: Path) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Softmax regression trained on the tiny Fashion-MNIST, and 32 test images it classifies."""
    train = load_split("fmnist", True, fashion_dir)
    test = load_split("fmnist", False, fashion_dir)
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
    xt, yt = test.batch(torch.arange(32))
    return model, xt, yt


def test_registered_black_box_with_advertorch_defaults() -> None:
    cls = ATTACKS.get("spsa")
    assert cls is SPSA and SPSA.black_box and SPSA.uses_view
    a = SPSA(eps=0.1)
    assert (a.nb_iter, a.lr, a.delta, a.nb_sample, a.max_batch_size, a.loss) == (7, 0.01, 0.01, 128, 64, "ce")
    assert list(a.params()) == ["eps", "nb_iter", "lr", "delta", "nb_sample", "max_batch_size", "loss"]


def test_stays_inside_the_ball_and_unit_box_on_a_cnnf_view() -> None:
    # one cycle keeps it fast: an untrained CNN-F's feedback runs into CPU denormals (seconds per call)
    model = build_model("cnnf-fmnist-small", resolve_kwargs("cnnf-fmnist-small", {"cycles": 1})).eval()
    x = torch.rand(3, 1, 28, 28, generator=_gen(0))
    x[0] = 0.0  # saturated images: the clipping to [0, 1] must hold
    x[1] = 1.0
    y = torch.tensor([0, 1, 2])
    for view in (model.first, model.e2e):
        # max_batch_size 3 does not divide nb_sample 4: exercises the remainder chunk
        attack = SPSA(eps=0.05, nb_iter=2, lr=0.03, nb_sample=4, max_batch_size=3)
        x_adv = attack.run(view, x, y, _gen(1))
        linf = check_adversarial(x_adv, x, 0.05, "spsa")
        assert linf == pytest.approx(0.05, abs=1e-6)  # the steps (2 x lr > eps) hit the boundary
        assert not x_adv.requires_grad
    assert torch.equal(SPSA(eps=0.0).run(model.first, x, y, _gen(1)), x)
    assert SPSA(eps=0.1).run(model.first, x[:0], y[:0], _gen(1)).shape == (0, 1, 28, 28)


def test_deterministic_for_a_seed_and_different_for_another() -> None:
    model = _linear(64)
    x = torch.rand(6, 1, 8, 8, generator=_gen(0))
    y = torch.arange(6)
    attack = SPSA(eps=0.1, nb_iter=4, lr=0.02, nb_sample=16, max_batch_size=5)
    a = attack.run(model, x, y, _gen(7))
    b = attack.run(model, x, y, _gen(7))
    c = attack.run(model, x, y, _gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_directions_are_shared_across_the_batch() -> None:
    # two copies of the same (image, label) get the same estimate only if they see the same directions
    model = _linear(16)
    x = torch.rand(1, 1, 4, 4, generator=_gen(0)).repeat(3, 1, 1, 1)
    y = torch.tensor([2, 2, 5])
    est = spsa_gradient(model, x, y, nb_sample=10, max_batch_size=4, generator=_gen(3))
    assert torch.equal(est[0], est[1])
    assert not torch.equal(est[0], est[2])


def test_gradient_estimate_agrees_in_sign_with_the_true_gradient() -> None:
    model = _linear(16)
    x = torch.rand(8, 1, 4, 4, generator=_gen(0))
    y = torch.randint(0, 10, (8,), generator=_gen(1))
    xg = x.clone().requires_grad_(True)
    (true,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    est = spsa_gradient(model, x, y, delta=0.01, nb_sample=4000, max_batch_size=1000, generator=_gen(2))
    assert est.shape == x.shape
    agree = (est.sign() == true.sign()).float().mean().item()
    assert agree > 0.9
    cosine = F.cosine_similarity(est.flatten(1), true.flatten(1)).min().item()
    assert cosine > 0.8


def test_lowers_the_accuracy_of_a_trained_model(trained_linear: tuple[nn.Module, torch.Tensor, torch.Tensor]) -> None:
    model, x, y = trained_linear
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    assert clean > 0.8
    for loss in ("ce", "margin"):
        attack = SPSA(eps=0.2, nb_iter=10, lr=0.04, nb_sample=128, loss=loss)
        assert attack.reach() == pytest.approx(0.2)  # reachable: 10 steps of ~0.04
        x_adv = attack.run(model, x, y, _gen(0))
        check_adversarial(x_adv, x, 0.2, "spsa")
        with torch.no_grad():
            robust = (model(x_adv).argmax(1) == y).float().mean().item()
        assert robust < clean - 0.3, (loss, clean, robust)


def test_reach_and_the_per_step_move_of_adam() -> None:
    assert SPSA(eps=0.1, nb_iter=7, lr=0.005).reach() == pytest.approx(0.035)  # the original on Fashion-MNIST
    assert SPSA(eps=0.02, nb_iter=7, lr=0.005).reach() == pytest.approx(0.02)
    # Adam's first step moves every pixel with a non-zero estimate by lr (no further)
    model = _linear(64)
    x = torch.full((4, 1, 8, 8), 0.5)
    y = torch.arange(4)
    x_adv = spsa_linf(model, x, y, eps=1.0, nb_iter=1, lr=0.01, nb_sample=8, generator=_gen(0))
    moved = (x_adv - x).abs()
    assert moved.max().item() <= 0.01 + 1e-6
    assert moved.max().item() > 0.0099


def test_margin_loss() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, -1.0]])
    y = torch.tensor([0, 2])
    assert torch.allclose(margin_loss(logits, y), torch.tensor([2.0 - 3.0, 5.0 - (-1.0)]))
    model = _linear(16)
    x = torch.rand(3, 1, 4, 4, generator=_gen(0))
    x_adv = SPSA(eps=0.05, nb_iter=2, lr=0.05, nb_sample=8, loss="margin").run(model, x, torch.arange(3), _gen(0))
    check_adversarial(x_adv, x, 0.05, "spsa")
    assert not torch.equal(x_adv, x)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"nb_iter": 0}, "spsa.nb_iter"),
        ({"lr": 0.0}, "spsa.lr"),
        ({"lr": -0.01}, "spsa.lr"),
        ({"lr": math.inf}, "spsa.lr"),
        ({"delta": 0.0}, "spsa.delta"),
        ({"delta": math.nan}, "spsa.delta"),
        ({"nb_sample": 0}, "spsa.nb_sample"),
        ({"max_batch_size": 0}, "spsa.max_batch_size"),
        ({"loss": "hinge"}, "spsa.loss"),
        ({"eps": 1.5}, "eps"),
        ({"steps": 3}, "no parameter"),
    ],
)
def test_parameter_validation(params: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        SPSA.from_params({"eps": 0.1, **params})
