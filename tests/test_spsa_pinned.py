"""SPSA gives the numbers of the implementation it replaced: the pinned images and accuracies of fixed seeds."""

from __future__ import annotations

import pytest
import torch

from tests.spsa_pin_cases import CASES, PIN_FILE, run_case


@pytest.mark.parametrize("case", list(CASES))
def test_same_adversarial_images_and_accuracy_as_pinned(case: str) -> None:
    pinned = torch.load(PIN_FILE, weights_only=True)[case]
    x_adv, accuracy = run_case(case)
    assert accuracy == pinned["accuracy"]
    # bit for bit on the machine that pinned them; 1e-6 leaves room for another CPU's kernels
    torch.testing.assert_close(x_adv, pinned["x_adv"], rtol=0.0, atol=1e-6)
