"""Views: every model offers named functions to attack; bpda computes the scored readout; `deployed` resolves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cnnf_bench.checkpoint import load_checkpoint
from cnnf_bench.data import load_split
from cnnf_bench.errors import UsageError
from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint
from cnnf_bench.results import ResultsStore
from cnnf_bench.zoo import FeedbackNet, build_model


@pytest.fixture(scope="module")
def cnnf(tiny_runs: dict[str, Path]) -> FeedbackNet:
    return load_checkpoint(tiny_runs["cnnf-fmnist-small"]).build_model()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def batch(fashion_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    return load_split("fmnist", False, fashion_dir).batch(torch.arange(8))


@pytest.mark.parametrize("readout", ["last", "avg"])
def test_bpda_forward_is_the_scored_readout_and_its_gradient_the_first_pass(
    cnnf: FeedbackNet, batch: tuple[torch.Tensor, torch.Tensor], readout: str
) -> None:
    x, y = batch
    out = cnnf.view("bpda", readout)(x)
    assert torch.allclose(out, cnnf.logits(x, readout), atol=1e-5)  # first + (full - first): rounding only
    xa = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(cnnf.view("bpda", readout)(xa), y), xa)
    # straight-through: d loss / d value (at the deployed value) chained with the first pass's Jacobian
    xb = x.clone().requires_grad_(True)
    first = cnnf.first(xb)
    probs = F.softmax(cnnf.logits(x, readout), 1) - F.one_hot(y, 10)
    (expected,) = torch.autograd.grad(first, xb, grad_outputs=probs / x.shape[0])
    assert torch.allclose(grad, expected, atol=1e-6)


def test_views_and_the_deployed_alias(cnnf: FeedbackNet) -> None:
    assert cnnf.views() == ("first", "e2e", "e2e-avg", "bpda", "any-iter", "recon", "latent")
    assert cnnf.view_kind("recon") == "features" and cnnf.view_kind("any-iter") == "logits"
    assert cnnf.resolve_view("deployed", "avg") == "e2e-avg"
    assert cnnf.resolve_view("deployed", "last") == "e2e"
    assert not cnnf.single_function and cnnf.readouts() == ("avg", "last")
    with pytest.raises(UsageError, match="no view 'pre-tanh'"):
        cnnf.view("pre-tanh")
    with pytest.raises(UsageError, match="readout must be one of"):
        cnnf.check_readout("median")
    cnn = build_model("cnn-fmnist-small")
    assert cnn.single_function


def test_deployed_target_and_bpda_per_readout_in_records(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    store = ResultsStore(tmp_path / "r.jsonl")
    request = EvalRequest(
        "pgd", {"eps": 0.1, "steps": 2}, targets=("deployed", "bpda"), readouts=("last", "avg"), n=8, batch_size=8
    )
    records = evaluate_checkpoint(tiny_runs["cnnf-fmnist-small"], request, store, data_dir=fashion_dir)
    got = {(r["target"], r["readout"]): r for r in records}
    assert set(got) == {("e2e", "last"), ("e2e-avg", "avg"), ("bpda", "last"), ("bpda", "avg")}
    # bpda's examples are made per readout (its forward value is the scored readout), so never shared
    assert got[("bpda", "last")]["extras"]["shared_with"] == 1
    assert got[("bpda", "avg")]["extras"]["shared_with"] == 1
