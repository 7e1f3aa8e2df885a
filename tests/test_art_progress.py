"""ART's Square and APGD report their iterations from inside ART's loops; doing so leaves their results unchanged."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from cnnf_bench.attacks.art_adapter import art_classifier, art_generate, art_session
from cnnf_bench.attacks.pgd import project_linf
from cnnf_bench.evaluate import make_attack
from cnnf_bench.progress import listen

WEIGHT = torch.randn(10, 64, generator=torch.Generator().manual_seed(3))


def linear(x: Tensor) -> Tensor:
    return x.flatten(1) @ WEIGHT.T


def _batch(n: int = 6) -> tuple[Tensor, Tensor]:
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return x, linear(x).argmax(1)  # labels the model gets right, so every image is worth attacking


def _plain(name: str, params: dict[str, float], x: Tensor, y: Tensor, seed: int) -> Tensor:
    """The attack through ART's own loops (no substitution), seeded as ``run`` seeds it."""
    attack = make_attack(name, params)
    with art_session("cpu", torch.Generator().manual_seed(seed)):
        classifier = art_classifier(linear, tuple(x.shape[1:]), 10, "cpu")
        x_adv = art_generate(attack.build(classifier, int(x.shape[0])), x, y)  # type: ignore[attr-defined]
    return project_linf(x_adv, x, attack.eps)


@pytest.mark.parametrize("eps", [0.02, 0.3])
def test_square_with_progress_matches_plain_art(eps: float) -> None:
    params = {"eps": eps, "max_iter": 15, "nb_restarts": 2, "p_init": 0.3}
    x, y = _batch()
    heard: list[tuple[int, int]] = []
    with listen(lambda done, total: heard.append((done, total))):
        ours = make_attack("square", params).run(linear, x, y, torch.Generator().manual_seed(7))
    plain = _plain("square", params, x, y, seed=7)
    assert heard  # the substitution was in place for this run
    assert torch.equal(ours, plain)
    assert not torch.equal(ours, x)  # the attack did change something, so the comparison means something


def test_square_reports_every_iteration_of_every_restart() -> None:
    x, y = _batch()
    attack = make_attack("square", {"eps": 0.001, "max_iter": 5, "nb_restarts": 2})  # too small to fool any image
    heard: list[tuple[int, int]] = []
    with listen(lambda done, total: heard.append((done, total))):
        x_adv = attack.run(linear, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(linear(x_adv).argmax(1), y)  # no loop was left early
    assert heard == [(i, 10) for i in range(1, 11)]


def test_square_counts_skipped_iterations_as_done_when_every_image_is_fooled() -> None:
    x, y = _batch()
    attack = make_attack("square", {"eps": 1.0, "max_iter": 50, "nb_restarts": 3})
    heard: list[tuple[int, int]] = []
    with listen(lambda done, total: heard.append((done, total))):
        x_adv = attack.run(linear, x, y, torch.Generator().manual_seed(0))
    assert not torch.equal(linear(x_adv).argmax(1), y)
    done = [d for d, _ in heard]
    assert {t for _, t in heard} == {150}
    assert done == sorted(set(done)) and done[-1] == 150
    assert len(done) < 150  # ART left its loops early, and the bar still reaches the end


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("square", "art.attacks.evasion.square_attack"),
        ("apgd-ce", "art.attacks.evasion.auto_projected_gradient_descent"),
    ],
)
def test_trange_is_restored_after_an_error(name: str, module: str) -> None:
    import importlib

    art_module = importlib.import_module(module)
    original = art_module.trange
    calls = [0]

    def failing(v: Tensor) -> Tensor:
        calls[0] += 1
        if calls[0] > 4:
            raise RuntimeError("view broke mid-attack")
        return linear(v)

    x, y = _batch()
    attack = make_attack(name, {"eps": 0.05, "max_iter": 20})
    with pytest.raises(RuntimeError, match="mid-attack"):
        attack.run(failing, x, y, torch.Generator().manual_seed(0))
    assert art_module.trange is original


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr"])
def test_apgd_with_progress_matches_plain_art(name: str) -> None:
    params = {"eps": 0.05, "max_iter": 12, "nb_random_init": 2}
    x, y = _batch()
    heard: list[tuple[int, int]] = []
    with listen(lambda done, total: heard.append((done, total))):
        ours = make_attack(name, params).run(linear, x, y, torch.Generator().manual_seed(5))
    assert heard and heard[-1] == (24, 24)
    plain = _plain(name, params, x, y, seed=5)
    assert torch.equal(ours, plain)
    assert not torch.equal(ours, x)


def test_apgd_reports_every_iteration_of_every_restart() -> None:
    x, y = _batch()
    attack = make_attack("apgd-ce", {"eps": 1e-4, "max_iter": 5, "nb_random_init": 2})  # fools no image
    heard: list[tuple[int, int]] = []
    with listen(lambda done, total: heard.append((done, total))):
        x_adv = attack.run(linear, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(linear(x_adv).argmax(1), y)
    assert heard == [(i, 10) for i in range(1, 11)]


def test_loop_progress_spreads_a_restart_over_its_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """With two batches per restart, each batch's iterations fill half the restart's share."""
    import sys
    import types

    from cnnf_bench.attacks.art_progress import loop_progress

    fake = types.ModuleType("fake_art_attack")
    fake.trange = lambda *a, **k: range(*a)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_art_attack", fake)
    heard: list[tuple[int, int]] = []
    with listen(lambda done, total: heard.append((done, total))), loop_progress("fake_art_attack", "R", "B", 4, 2):
        for _ in fake.trange(2, desc="R"):
            for _ in fake.trange(2, desc="B"):
                for _ in fake.trange(4, desc="I"):
                    pass
    assert heard == [(i, 8) for i in range(1, 9)]
