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


# not 1: a Linear layer on one row takes another BLAS kernel (differences of ~1e-6); the grouping never makes
# a call of one image (its calls hold an even number of queries unless CPU_QUERY_IMAGES is odd)
@pytest.mark.parametrize("images_per_call", [2, 7, 36, 72])
def test_the_forward_grouping_changes_no_number(monkeypatch: pytest.MonkeyPatch, images_per_call: int) -> None:
    """Slices of a direction, one direction per call, blocks of 3 / 6 directions straddling the chunks of 4."""
    import cnnf_bench.attacks.spsa as spsa

    monkeypatch.setattr(spsa, "CPU_QUERY_IMAGES", images_per_call)
    pinned = torch.load(PIN_FILE, weights_only=True)["linear-ce-remainder"]
    x_adv, accuracy = run_case("linear-ce-remainder")
    assert accuracy == pinned["accuracy"]
    torch.testing.assert_close(x_adv, pinned["x_adv"], rtol=0.0, atol=1e-6)


def test_reports_every_iteration_to_the_progress_listener() -> None:
    from cnnf_bench.attacks.spsa import spsa_linf
    from cnnf_bench.progress import listen

    heard: list[tuple[int, int]] = []
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    with listen(lambda done, total: heard.append((done, total))):
        spsa_linf(torch.nn.Flatten(), x, torch.tensor([0, 1]), 0.1, nb_iter=3, nb_sample=2)
    assert heard == [(1, 3), (2, 3), (3, 3)]
