"""Feedback layers against reference sections 1.1-1.6, on hand-made tensors."""

from __future__ import annotations

import pytest
import torch

from cnnf_bench.feedback import AdaPool2d, AdaReLU, Pass, TiedConv2d, TiedLinear, rms_norm


def test_adarelu_first_pass_is_relu_and_feedback_uses_its_mask() -> None:
    relu, state = AdaReLU(), Pass(eta=0.1)
    out = relu(torch.tensor([-1.0, 0.0, 2.0]), state)
    assert out.tolist() == [0.0, 0.0, 2.0]
    fb = relu.feedback(torch.tensor([1.0, 1.0, 1.0]), state)
    assert fb.tolist() == [0.0, 0.0, 1.0]


def test_adarelu_after_feedback_mixes_and_keeps_sign_agreement() -> None:
    relu, state = AdaReLU(), Pass(eta=0.1)
    f = torch.tensor([-1.0, 2.0, -0.5, 1.0])
    relu(f, state)
    relu.feedback(torch.tensor([-1.0, -1.0, 2.0, 3.0]), state)
    out = relu(f, state)
    # f + eta (g - f): [-1, 1.7, -0.25, 1.2]; kept where f' * g > 0 (sign preserving, not Eq. 3)
    assert out.tolist() == pytest.approx([-1.0, 0.0, 0.0, 1.2])
    # the feedback after the adaptive pass is masked by the new mask
    assert relu.feedback(torch.ones(4), state).tolist() == [1.0, 0.0, 0.0, 1.0]


def test_adarelu_state_is_per_call() -> None:
    relu = AdaReLU()
    a, b = Pass(eta=0.1), Pass(eta=0.1)
    relu(torch.tensor([1.0]), a)
    relu.feedback(torch.tensor([-5.0]), a)
    assert relu(torch.tensor([1.0]), b).tolist() == [1.0]  # a fresh call sees no feedback


def _pool_input() -> torch.Tensor:
    return torch.tensor([[[[1.0, -2.0, 3.0, 0.0], [4.0, -1.0, -5.0, 2.0]]]])


def test_adapool_first_pass_is_maxpool_and_unpools_to_argmax() -> None:
    pool, state = AdaPool2d(2), Pass(eta=0.1)
    assert pool(_pool_input(), state).flatten().tolist() == [4.0, 3.0]
    fb = pool.feedback(torch.tensor([[[[2.0, -3.0]]]]), state)
    assert fb.tolist() == [[[[0.0, 0.0, -3.0, 0.0], [2.0, 0.0, 0.0, 0.0]]]]


def test_adapool_selects_max_or_min_by_feedback_sign_and_zero_where_zero() -> None:
    pool, state = AdaPool2d(2), Pass(eta=0.1)
    pool(_pool_input(), state)
    pool.feedback(torch.tensor([[[[2.0, -3.0]]]]), state)
    assert pool(_pool_input(), state).flatten().tolist() == [4.0, -5.0]
    fb = pool.feedback(torch.tensor([[[[5.0, 7.0]]]]), state)
    # positive part to the argmax of window 1, negative-selected part to the argmin of window 2
    assert fb.tolist() == [[[[0.0, 0.0, 0.0, 0.0], [5.0, 0.0, 7.0, 0.0]]]]
    pool.feedback(torch.tensor([[[[0.0, 1.0]]]]), state)
    assert pool(_pool_input(), state).flatten().tolist() == [0.0, 3.0]


def test_tied_conv_feedback_is_the_adjoint_with_one_weight() -> None:
    torch.manual_seed(0)
    for stride in (1, 2):
        conv = TiedConv2d(3, 5, 3, stride=stride, padding=1)
        assert len(list(conv.parameters())) == 1
        x = torch.randn(2, 3, 16, 16)
        y = torch.randn_like(conv(x))
        assert conv.feedback(y).shape == x.shape
        lhs = (conv(x) * y).sum()
        rhs = (x * conv.feedback(y)).sum()
        assert torch.allclose(lhs, rhs, rtol=1e-4)


def test_tied_conv_init_is_he_fan_out() -> None:
    torch.manual_seed(0)
    conv = TiedConv2d(64, 128, 3)
    assert conv.weight.std().item() == pytest.approx((2.0 / (9 * 128)) ** 0.5, rel=0.02)


def test_tied_linear_feedback_is_transpose_and_gradients_add() -> None:
    torch.manual_seed(0)
    fc = TiedLinear(6, 4)
    x, y = torch.randn(3, 6), torch.randn(3, 4)
    assert torch.allclose((fc(x) * y).sum(), (x * fc.feedback(y)).sum(), rtol=1e-5)
    (fc(x).sum() + fc.feedback(y).sum()).backward()
    expected = torch.ones(3, 4).T @ x + (y.T @ torch.ones(3, 6))
    assert torch.allclose(fc.weight.grad, expected, rtol=1e-5)


def test_rms_norm_divides_by_per_channel_rms_without_centring() -> None:
    x = torch.tensor([[[[3.0, 4.0]], [[1.0, 1.0]]]])  # two channels, 1x2 maps
    out = rms_norm(x)
    assert out[0, 0].flatten().tolist() == pytest.approx([3 / (12.5**0.5), 4 / (12.5**0.5)], rel=1e-6)
    assert out[0, 1].flatten().tolist() == pytest.approx([1.0, 1.0], rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rms_norm_uses_the_originals_division_bit_for_bit(dtype: torch.dtype) -> None:
    # the original divides by sqrt(m + 1e-8); x * rsqrt(...) differs by an ulp and moves AdaPool picks
    x = torch.randn(4, 8, 7, 7, generator=torch.Generator().manual_seed(0), dtype=dtype)
    expected = x / torch.sqrt(x.pow(2).mean(dim=(-2, -1), keepdim=True) + 1e-8)
    assert torch.equal(rms_norm(x), expected)
