"""Adaptive attacks on test-time iteration: any-iter, the feature attack, checkpointed unrolling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnf_bench.attacks.feature import FeatureAttack, other_class_partner
from cnnf_bench.attacks.losses import cross_entropy_loss, margin_loss
from cnnf_bench.attacks.pgd import PGD
from cnnf_bench.errors import UsageError
from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint
from cnnf_bench.feedback import Pass
from cnnf_bench.results import ResultsStore
from cnnf_bench.zoo import FeedbackNet
from cnnf_bench.zoo.fmnist import FashionCNNF, FashionSmallCNNF


class IterationSplit(FeedbackNet):
    """Hand-made CNN-F with one cycle whose iterations read different pixels.

    Two classes, four pixels. Iteration 0 decides by pixel 0 against pixel 1, iteration 1 by pixel 2
    against pixel 3 (its decode weight depends on the iteration, kept in the call's state). The feedback
    returns zero, so ``h_1 = (1 - eta) h_0``. A gradient through one iteration moves only that
    iteration's two pixels; the deployed average depends on all four.
    """

    max_ind = 0
    in_shape = (1, 1, 4)

    def __init__(self, readout: str = "avg") -> None:
        super().__init__(num_classes=2, ind=0, cycles=1, eta=0.5, readout=readout)
        w = torch.zeros(2, 2, 4)
        w[0, 0, :2], w[0, 1, :2] = torch.tensor([4.0, -4.0]), torch.tensor([-4.0, 4.0])
        w[1, 0, 2:], w[1, 1, 2:] = torch.tensor([8.0, -8.0]), torch.tensor([-8.0, 8.0])
        self.register_buffer("w", w)
        self.anchor = nn.Parameter(torch.zeros(1))  # a module with a parameter, as a real model

    def encode(self, z: Tensor, state: Pass) -> Tensor:
        return z

    def decode(self, h: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        slot = state.slot(self)
        t = slot.get("t", 0)
        slot["t"] = t + 1
        return h.flatten(1) @ self.w[min(t, 1)].T, []

    def generate(self, logits: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        return torch.zeros(logits.shape[0], 1, 1, 4), []


def _split_data(n: int = 64) -> tuple[Tensor, Tensor]:
    """Images every iteration classifies correctly, some broken only through pixels 0-1, others 2-3."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    sign = (1 - 2 * y).float()[:, None]  # +1 for class 0 (pixel 0 > pixel 1)
    gaps = 0.02 + 0.2 * torch.rand(n, 2, generator=gen)
    x = torch.full((n, 4), 0.5)
    x[:, 0:1] += sign * gaps[:, :1] / 2
    x[:, 1:2] -= sign * gaps[:, :1] / 2
    x[:, 2:3] += sign * gaps[:, 1:] / 2
    x[:, 3:4] -= sign * gaps[:, 1:] / 2
    return x.view(n, 1, 1, 4), y


def _accuracies(model: FeedbackNet, x_adv: Tensor, y: Tensor) -> tuple[float, float]:
    """Deployed accuracy, and the fraction of examples correct at every iteration."""
    with torch.no_grad():
        traj = model.run(x_adv)
        deployed = (traj.readout(model.readout).argmax(1) == y).float().mean().item()
        every = torch.stack([(v.argmax(1) == y) for v in traj.logits]).all(0).float().mean().item()
    return deployed, every


@pytest.mark.parametrize("readout", ["avg", "last"])
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_any_iter_is_at_least_as_strong_as_each_single_iteration_view(readout: str, loss: str) -> None:
    model = IterationSplit(readout).eval()
    x, y = _split_data()
    assert _accuracies(model, x, y) == (1.0, 1.0)
    attack = PGD(eps=0.06, steps=20, step_size=0.01, random_start=False, track_best=True, loss=loss)
    score = model.logits
    results = {}
    for view in ("first", "e2e", "any-iter"):
        x_adv = attack.run(model.view(view), x, y, torch.Generator().manual_seed(0), score)
        results[view] = _accuracies(model, x_adv, y)
    for single in ("first", "e2e"):
        assert results["any-iter"][0] <= results[single][0] + 1e-9, results
        assert results["any-iter"][1] <= results[single][1] + 1e-9, results
    # and strictly stronger than either single iteration on the examples every iteration must survive
    assert results["any-iter"][1] < min(results["first"][1], results["e2e"][1]), results


def test_iteration_stack_losses_are_a_smooth_worst_case() -> None:
    logits = torch.randn(5, 3, 4)
    y = torch.randint(0, 4, (5,))
    for loss in (cross_entropy_loss, margin_loss):
        per_iteration = torch.stack([loss(logits[:, k], y) for k in range(3)], 1)
        combined = loss(logits, y)
        assert torch.all(combined >= per_iteration.max(1).values - 1e-6)
        assert torch.all(combined <= per_iteration.max(1).values + torch.log(torch.tensor(3.0)) + 1e-6)


@pytest.mark.parametrize("cls", [FashionSmallCNNF, FashionCNNF])
def test_checkpointed_gradient_equals_the_plain_one(cls: type[FeedbackNet]) -> None:
    torch.manual_seed(0)
    model = cls(cycles=7).eval()
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))

    def gradient(segment: int) -> tuple[Tensor, Tensor]:
        model.checkpoint_cycles = segment
        xa = x.clone().requires_grad_(True)
        traj = model.run(xa)
        loss = F.cross_entropy(traj.readout("avg"), y) + traj.recons[-1].pow(2).mean()
        (grad,) = torch.autograd.grad(loss, xa)
        return grad, torch.stack(traj.logits)

    plain, plain_logits = gradient(0)
    assert plain.abs().max() > 0
    for segment in (1, 3, 7):
        grad, logits = gradient(segment)
        assert torch.allclose(grad, plain, rtol=1e-5, atol=1e-8)
        assert torch.allclose(logits, plain_logits, rtol=1e-5, atol=1e-6)


def test_checkpointing_is_automatic_only_for_long_unrolls_at_evaluation() -> None:
    model = FashionSmallCNNF(cycles=20).eval()
    assert model.checkpoint_segment(20) == 5
    assert model.checkpoint_segment(5) == 0
    with torch.no_grad():
        assert model.checkpoint_segment(20) == 0
    model.train()
    assert model.checkpoint_segment(20) == 0
    model.checkpoint_cycles = 2
    assert model.checkpoint_segment(20) == 2


def test_other_class_partner() -> None:
    y = torch.tensor([0, 0, 1, 2, 2])
    partner = other_class_partner(y)
    assert torch.all(y[partner] != y)
    assert other_class_partner(torch.tensor([3, 3])).tolist() == [0, 1]


def test_feature_attack_moves_the_reconstruction_towards_another_class() -> None:
    torch.manual_seed(0)
    model = FashionSmallCNNF(cycles=2).eval()
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 4
    for view, steps, step, bound in (("recon", 100, 0.001, 0.99), ("latent", 10, None, 0.7)):
        features = model.view(view)
        attack = FeatureAttack(eps=0.1, steps=steps, step_size=step, random_start=False, track_best=False)
        x_adv = attack.run(features, x, y, torch.Generator().manual_seed(0))
        assert (x_adv - x).abs().max() <= 0.1 + 1e-6
        with torch.no_grad():
            goal = features(x[other_class_partner(y)])
            ratio = (features(x_adv) - goal).pow(2).mean(1) / (features(x) - goal).pow(2).mean(1)
        assert torch.all(ratio < 1) and ratio.mean() < bound, (view, ratio)


def test_feature_attack_and_any_iter_through_evaluate(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    ckpt = tiny_runs["cnnf-fmnist-small"]
    common = {"n": 8, "batch_size": 8}
    records = evaluate_checkpoint(
        ckpt,
        EvalRequest("feature", {"eps": 0.1, "steps": 2}, targets=("recon", "latent"), **common),
        store,
        data_dir=fashion_dir,
    )
    assert {r["target"] for r in records} == {"recon", "latent"} and all(r["max_linf"] <= 0.1 + 1e-6 for r in records)
    records = evaluate_checkpoint(
        ckpt,
        EvalRequest("pgd", {"eps": 0.1, "steps": 2}, targets=("any-iter",), cycles=4, **common),
        store,
        data_dir=fashion_dir,
    )
    assert records[0]["target"] == "any-iter" and records[0]["cycles"] == 4
    with pytest.raises(UsageError, match="feature views"):
        evaluate_checkpoint(
            ckpt, EvalRequest("pgd", {"eps": 0.1}, targets=("recon",), **common), store, data_dir=fashion_dir
        )
    with pytest.raises(UsageError, match="feature views"):
        evaluate_checkpoint(
            ckpt, EvalRequest("feature", {"eps": 0.1}, targets=("e2e",), **common), store, data_dir=fashion_dir
        )
