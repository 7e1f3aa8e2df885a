"""SPSA gives the numbers of the implementation it replaced: the pinned images and accuracies of fixed seeds."""

from __future__ import annotations

import pytest
import torch

from tests.spsa_pin_cases import CASES, LR, PIN_FILE, run_case

#: The pins were made on one CPU (AMD EPYC, 2026-12-02); another CPU's float kernels (AVX-512 on an Intel
#: Xeon) change the model's logits in the last bits, and SPSA divides logit differences by 2 * delta
#: (0.02), so its images move by up to ~1e-5 there. A change of the algorithm (other directions, another
#: step, another order of the updates) moves a pixel by about one Adam step, LR = 0.02 (the first step is
#: lr * sign); LR / 100 sits 20x above the kernel noise and 100x below the smallest such change.
ACROSS_CPUS = LR / 100


@pytest.mark.parametrize("case", list(CASES))
def test_same_adversarial_images_and_accuracy_as_pinned(case: str) -> None:
    pinned = torch.load(PIN_FILE, weights_only=True)[case]
    x_adv, accuracy = run_case(case)
    assert accuracy == pinned["accuracy"]
    torch.testing.assert_close(x_adv, pinned["x_adv"], rtol=0.0, atol=ACROSS_CPUS)


# not 1: the grouping never makes a call of one image (its calls hold an even number of queries unless
# CPU_QUERY_IMAGES is odd); compared with the default grouping on the same CPU
@pytest.mark.parametrize("images_per_call", [2, 7, 36, 72])
def test_the_forward_grouping_changes_no_number(monkeypatch: pytest.MonkeyPatch, images_per_call: int) -> None:
    """Slices of a direction, one direction per call, blocks of 3 / 6 directions straddling the chunks of 4."""
    import cnnf_bench.attacks.spsa as spsa

    reference, reference_accuracy = run_case("linear-ce-remainder")  # the default grouping, on this CPU
    monkeypatch.setattr(spsa, "CPU_QUERY_IMAGES", images_per_call)
    x_adv, accuracy = run_case("linear-ce-remainder")
    assert accuracy == reference_accuracy
    # calls of 2 rows take another BLAS kernel than calls of many (up to 1.3e-5 on an AVX-512 Xeon, the
    # same order as another CPU's kernels); from 3 rows on the numbers are the same bit for bit
    torch.testing.assert_close(x_adv, reference, rtol=0.0, atol=ACROSS_CPUS if images_per_call < 3 else 0.0)


def test_reports_every_iteration_to_the_progress_listener() -> None:
    from cnnf_bench.attacks.spsa import spsa_linf
    from cnnf_bench.progress import listen

    heard: list[tuple[int, int]] = []
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    with listen(lambda done, total: heard.append((done, total))):
        spsa_linf(torch.nn.Flatten(), x, torch.tensor([0, 1]), 0.1, nb_iter=3, nb_sample=2)
    assert heard == [(1, 3), (2, 3), (3, 3)]
