"""ART-backed attacks: cross-checks against the in-house PGD/FGSM, the label guard, validity, isolation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from cnnf_bench.attacks import ATTACKS, check_adversarial
from cnnf_bench.attacks.art_adapter import ViewModule, art_classifier, art_generate, art_session
from cnnf_bench.attacks.art_attacks import ARTAttack
from cnnf_bench.checkpoint import load_checkpoint
from cnnf_bench.config import resolve, run_config_from_mapping
from cnnf_bench.data import load_split
from cnnf_bench.errors import AttackError, ConfigError
from cnnf_bench.train import fit
from cnnf_bench.zoo import FeedbackNet, build_model

ART_ATTACKS = ("art-pgd", "art-fgsm", "square", "apgd-ce", "apgd-dlr")
#: small budgets for the ART attacks, so the module stays fast
FAST = {
    "art-pgd": {"steps": 3},
    "art-fgsm": {},
    "square": {"max_iter": 20},
    "apgd-ce": {"max_iter": 5},
    "apgd-dlr": {"max_iter": 5},
}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def trained(fashion_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, FeedbackNet]:
    """A plain CNN (cycles 0) and a CNN-F (cycles 5), standard-trained for 2 epochs on the tiny set."""
    models = {}
    for name in ("cnn-fmnist-small", "cnnf-fmnist-small"):
        cfg = resolve(
            run_config_from_mapping({"model": name, "train": {"mode": "standard", "epochs": 2, "batch_size": 32}})
        )
        result = fit(cfg, tmp_path_factory.mktemp(name), torch.device("cpu"), data_dir=fashion_dir)
        models[name] = load_checkpoint(result.path).build_model()
    assert models["cnn-fmnist-small"].cycles == 0 and models["cnnf-fmnist-small"].cycles > 0
    return models


@pytest.fixture(scope="module")
def test_images(fashion_dir: Path) -> tuple[Tensor, Tensor]:
    test = load_split("fmnist", False, fashion_dir)
    return test.batch(torch.arange(48))


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("model_name", ["cnn-fmnist-small", "cnnf-fmnist-small"])
@pytest.mark.parametrize(
    ("ours", "theirs", "params"),
    [
        ("pgd", "art-pgd", {"eps": 0.1, "step_size": 0.025, "steps": 7, "random_start": False}),
        ("fgsm", "art-fgsm", {"eps": 0.2}),
    ],
)
def test_in_house_and_art_agree_on_the_first_pass(
    trained: dict[str, FeedbackNet],
    test_images: tuple[Tensor, Tensor],
    model_name: str,
    ours: str,
    theirs: str,
    params: dict[str, Any],
) -> None:
    model = trained[model_name]
    x, y = test_images
    a = ATTACKS.get(ours).from_params(params).run(model.first, x, y, _gen(0))
    b = ATTACKS.get(theirs).from_params(params).run(model.first, x, y, _gen(0))
    check_adversarial(b, x, params["eps"], theirs)
    # Same maths, different float arithmetic: ART clips and then projects x0 + clamp(x - x0, +-eps) (in float64),
    # and averages the loss where ours sums it. The iterates agree to an ulp or so; no gradient sign flips.
    assert (a - b).abs().max().item() <= 1e-6
    with torch.no_grad():
        pred_a, pred_b = model(a).argmax(1), model(b).argmax(1)  # under the deployed inference
    assert torch.equal(pred_a, pred_b)
    if ours == "pgd":  # not a vacuous agreement: the attack does work
        assert (pred_a == y).float().mean().item() < _accuracy(model, x, y) - 0.2


def test_generate_passes_the_true_labels() -> None:
    model = build_model("cnn-fmnist-small").eval()  # untrained: it misclassifies most images
    x = torch.rand(16, 1, 28, 28, generator=_gen(0))
    y = torch.arange(16) % 10
    with torch.no_grad():
        wrong = model(x).argmax(1) != y
    assert wrong.any()

    seen: dict[str, Any] = {}

    class Spy:
        def generate(self, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
            seen["y"] = y
            return x

    art_generate(Spy(), x, y)
    assert seen["y"] is not None and np.array_equal(seen["y"], y.numpy())

    from art.attacks.evasion import FastGradientMethod

    with art_session("cpu", _gen(0)):
        clf = art_classifier(model, (1, 28, 28), 10, "cpu")
        fgm = FastGradientMethod(clf, eps=0.1, eps_step=0.1, batch_size=16)
        ours = art_generate(fgm, x, y)
        with_labels = fgm.generate(x.numpy(), y=y.numpy())
        leaked = fgm.generate(x.numpy())  # ART's default: attack its own (wrong) predictions
    assert np.array_equal(ours.numpy(), with_labels)
    differs = (torch.from_numpy(leaked) - ours).flatten(1).abs().amax(1) > 0
    assert torch.equal(differs, wrong)  # exactly the misclassified images are attacked differently
    # and it is the in-house FGSM with the true labels
    assert (ATTACKS.get("fgsm")(eps=0.1).run(model, x, y, _gen(0)) - ours).abs().max().item() <= 1e-6


@pytest.mark.parametrize("name", ART_ATTACKS)
def test_art_attacks_stay_valid_and_are_seeded(
    trained: dict[str, FeedbackNet], test_images: tuple[Tensor, Tensor], name: str
) -> None:
    model = trained["cnnf-fmnist-small"]
    x, y = test_images
    x, y = x[:12], y[:12]
    attack = ATTACKS.get(name).from_params({"eps": 0.1, **FAST[name]})
    assert isinstance(attack, ARTAttack)
    assert "ART" in attack.summary
    np_state: Any = np.random.get_state()
    x_adv = attack.run(model.first, x, y, _gen(3))
    check_adversarial(x_adv, x, 0.1, name)
    assert x_adv.dtype == x.dtype and x_adv.device == x.device and not x_adv.requires_grad
    # seeded from the generator, global RNGs restored, model parameters untouched
    after: Any = np.random.get_state()
    assert np.array_equal(after[1], np_state[1])
    assert torch.equal(attack.run(model.first, x, y, _gen(3)), x_adv)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    if name in ("square", "art-pgd", "apgd-ce"):  # randomised: another seed, another result
        assert not torch.equal(attack.run(model.first, x, y, _gen(4)), x_adv)
    assert torch.equal(ATTACKS.get(name)(eps=0.0).run(model.first, x, y, _gen(3)), x)


def test_score_based_flags() -> None:
    assert ATTACKS.get("square").black_box
    assert not any(ATTACKS.get(n).black_box for n in ("art-pgd", "art-fgsm", "apgd-ce", "apgd-dlr"))


def test_facade_returns_one_tensor() -> None:
    module = ViewModule(lambda x: x.flatten(1))
    assert isinstance(module(torch.zeros(2, 1, 2, 2)), Tensor)
    assert list(module.children()) == []  # the view's model is never registered (ART moves and retrains those)

    def pair(x: Tensor) -> Any:
        return x, x

    with pytest.raises(AttackError, match="one logits tensor"):
        ViewModule(pair)(torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        ("square", {"p_init": 1.0}, "p_init"),
        ("square", {"max_iter": 0}, "max_iter"),
        ("square", {"nb_restarts": 0}, "nb_restarts"),
        ("apgd-ce", {"max_iter": 0}, "max_iter"),
        ("apgd-dlr", {"nb_random_init": 0}, "nb_random_init"),
        ("art-pgd", {"steps": 0}, "steps"),
        ("art-pgd", {"step_size": -1.0}, "step_size"),
        ("art-fgsm", {"eps": -0.1}, "eps"),
    ],
)
def test_parameter_validation(name: str, params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        ATTACKS.get(name).from_params({"eps": 0.1, **params})


def test_importing_the_attacks_does_not_import_art() -> None:
    code = "import sys, cnnf_bench.attacks as a; assert 'square' in a.ATTACKS; assert 'art' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_art_session_seeds_the_fresh_random_states_hopskipjump_starts_from() -> None:
    """ART's HopSkipJump makes ``np.random.RandomState()`` without a seed: inside a seeded session those
    repeat for the same seed and differ for another; outside, numpy's own class is back."""
    original = np.random.RandomState

    def starts(seed: int) -> list[float]:
        with art_session("cpu", torch.Generator().manual_seed(seed)):
            draws = [float(np.random.RandomState().uniform()) for _ in range(3)]
            assert isinstance(np.random.RandomState(), original)
            assert np.random.RandomState(7).uniform() == original(7).uniform()  # a given seed is kept
        return draws

    first = starts(1)
    assert first == starts(1) and first != starts(2)
    assert len(set(first)) == 3  # each fresh state of one session draws its own start
    assert np.random.RandomState is original
    with pytest.raises(RuntimeError), art_session("cpu", torch.Generator().manual_seed(1)):
        raise RuntimeError("the attack failed")
    assert np.random.RandomState is original
