"""Models from the registry: shapes, parameter counts, the inference contract, cycles 0 = plain CNN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnf_bench.feedback import rms_norm
from cnnf_bench.zoo import MODELS, build_model, resolve_kwargs
from cnnf_bench.zoo.fmnist import FashionCNNF, FashionSmallCNNF
from cnnf_bench.zoo.wrn import WideResNetCNNF

NAMES = MODELS.names()
#: CNN and CNN-F models (FPD's own contract is tested in test_fpd.py)
FEEDBACK_NAMES = [name for name, spec in MODELS.items() if spec.family == "feedback"]


def _small(name: str, **overrides: object) -> torch.nn.Module:
    """Registry model, with a shallow WRN so the CIFAR tests stay fast."""
    kwargs = resolve_kwargs(name, overrides)  # type: ignore[arg-type]
    if MODELS.get(name).arch == "wrn":
        kwargs.update(depth=10, ind=min(kwargs["ind"], 1))
    torch.manual_seed(0)
    return MODELS.get(name).cls()(**kwargs).eval()


def _inputs(model: torch.nn.Module, n: int = 3, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((n, *model.in_shape), generator=gen)


def test_published_unique_parameter_counts() -> None:
    assert build_model("cnnf-fmnist").num_unique_parameters() == 3_298_962
    assert build_model("cnnf-cifar10").num_unique_parameters() == 2_240_842
    assert build_model("cnn-fmnist").num_unique_parameters() == 3_298_962


@pytest.mark.parametrize(
    ("cls", "kwargs", "max_ind"),
    [(FashionCNNF, {}, 2), (FashionSmallCNNF, {}, 0), (WideResNetCNNF, {"depth": 10}, 1)],
)
def test_feedback_of_every_layer_has_its_input_shape(cls: type, kwargs: dict, max_ind: int) -> None:
    for ind in range(max_ind + 1):
        torch.manual_seed(0)
        model = cls(ind=ind, cycles=2, **kwargs).eval()
        traj = model.run(_inputs(model))
        assert len(traj.recons) == 2 and len(traj.logits) == 3
        for recon, block_recons in zip(traj.recons, traj.block_recons, strict=True):
            assert recon.shape == traj.h0.shape
            assert [g.shape for g in block_recons] == [f.shape for f in traj.blocks]


def test_feedback_shapes_of_the_released_wrn() -> None:
    torch.manual_seed(0)
    model = build_model("cnnf-cifar10").eval()
    with torch.no_grad():
        traj = model.run(torch.rand(2, 3, 32, 32), cycles=1)
    assert traj.h0.shape == (2, 32, 32, 32)
    assert traj.recons[0].shape == traj.h0.shape
    assert [g.shape for g in traj.block_recons[0]] == [(2, 32, 32, 32), (2, 64, 16, 16), (2, 128, 8, 8)]


@pytest.mark.parametrize("name", NAMES)
def test_model_call_is_deterministic_and_batch_size_independent(name: str) -> None:
    model = _small(name)
    x = _inputs(model, n=5)
    with torch.no_grad():
        full = model(x)
        again = model(x)
        one_by_one = torch.cat([model(x[i : i + 1]) for i in range(5)])
    assert torch.equal(full, again)
    assert torch.allclose(full, one_by_one, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", FEEDBACK_NAMES)
def test_first_and_e2e_differ_with_cycles_and_coincide_without(name: str) -> None:
    model = _small(name)
    x = _inputs(model)
    with torch.no_grad():
        first, e2e = model.first(x), model.e2e(x)
    if model.cycles > 0:
        assert not torch.allclose(first, e2e)
    else:
        assert torch.equal(first, e2e)
        assert torch.equal(first, model(x))


def test_avg_readout_is_mean_of_iterations_and_last_is_e2e() -> None:
    model = _small("cnnf-fmnist", cycles=2)
    x = _inputs(model)
    with torch.no_grad():
        traj = model.run(x)
        model.readout = "avg"
        assert torch.allclose(model(x), (traj.logits[0] + traj.logits[1] + traj.logits[2]) / 3)
        model.readout = "last"
        assert torch.equal(model(x), model.e2e(x))


def test_gradients_reach_the_input_through_every_view() -> None:
    model = _small("cnnf-fmnist")
    x = _inputs(model).requires_grad_(True)
    for view in (model.first, model.e2e, model):
        (grad,) = torch.autograd.grad(view(x).logsumexp(1).sum(), x)
        assert grad.abs().sum() > 0 and torch.isfinite(grad).all()


def _plain_fashion(model: FashionCNNF, x: torch.Tensor) -> torch.Tensor:
    z = x * 2 - 1
    for unit in [*model.convs, None, model.conv4, None]:
        if unit is None:
            z = F.max_pool2d(z, 2)
            continue
        z = F.relu(rms_norm(F.conv2d(z, unit.conv.weight, padding=1)) + unit.bias.bias)
    z = z.flatten(1)
    z = F.relu(F.linear(z, model.fc1.fc.weight) + model.fc1.bias.bias)
    z = F.relu(F.linear(z, model.fc2.fc.weight) + model.fc2.bias.bias)
    return F.linear(z, model.fc3.fc.weight) + model.fc3.bias.bias


def _plain_small(model: FashionSmallCNNF, x: torch.Tensor) -> torch.Tensor:
    z = x * 2 - 1
    for unit in (model.conv1, model.conv2):
        z = F.max_pool2d(F.relu(rms_norm(F.conv2d(z, unit.conv.weight, padding=1)) + unit.bias.bias), 2)
    return F.linear(z.flatten(1), model.fc.fc.weight) + model.fc.bias.bias


def _plain_wrn(model: WideResNetCNNF, x: torch.Tensor) -> torch.Tensor:
    z = F.conv2d(x * 2 - 1, model.stem.weight, padding=1)
    for block in [*model.stage1, *model.stage2, *model.stage3]:
        a = F.relu(rms_norm(z) + block.bias1.bias)
        s = block.conv1.stride
        m = F.relu(rms_norm(F.conv2d(a, block.conv1.weight, stride=s, padding=1)) + block.bias2.bias)
        m = F.conv2d(m, block.conv2.weight, padding=1)
        z = (z if block.shortcut is None else F.conv2d(a, block.shortcut.weight, stride=s)) + m
    a = F.relu(rms_norm(z) + model.head_bias.bias)
    return F.linear(F.avg_pool2d(a, 8).flatten(1), model.fc.weight) + model.fc_bias.bias


@pytest.mark.parametrize(
    ("model", "plain"),
    [
        (FashionCNNF(ind=2, cycles=0), _plain_fashion),
        (FashionCNNF(ind=0, cycles=0), _plain_fashion),
        (FashionSmallCNNF(cycles=0), _plain_small),
        (WideResNetCNNF(ind=1, cycles=0, depth=10), _plain_wrn),
    ],
)
def test_cycles_zero_equals_a_plain_cnn(model: torch.nn.Module, plain: object) -> None:
    torch.manual_seed(0)
    for p in model.parameters():  # non-zero biases so that the bias placement is tested too
        torch.nn.init.normal_(p, 0, 0.05) if p.dim() == 1 or p.shape[0] == 1 else None
    x = _inputs(model, n=4)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), plain(model, x), atol=1e-5)  # type: ignore[operator]


def test_cycles_change_the_output_and_eta_zero_freezes_the_input() -> None:
    model = _small("cnnf-fmnist", cycles=3)
    x = _inputs(model)
    with torch.no_grad():
        traj = model.run(x)
        assert all(not torch.equal(traj.inputs[0], h) for h in traj.inputs[1:])
        model.eta = 0.0
        traj0 = model.run(x)
    assert all(torch.equal(traj0.inputs[0], h) for h in traj0.inputs)


def test_bad_model_arguments_are_config_errors() -> None:
    from cnnf_bench.errors import ConfigError

    with pytest.raises(ConfigError, match="encoder depth"):
        FashionCNNF(ind=3)
    with pytest.raises(ConfigError, match="readout"):
        FashionCNNF(readout="mean")
    with pytest.raises(ConfigError, match="6n\\+4"):
        WideResNetCNNF(depth=11)
