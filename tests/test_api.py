"""The public API on a plain torch CNN of the test's own: attacks, views, checks, records and the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import cnnf_bench
from cnnf_bench.checks import CheckSettings
from cnnf_bench.data import load_split
from cnnf_bench.errors import ConfigError, UsageError
from tests.conftest import synthetic_images

EPS = 0.3
#: small check budgets, so every check on the tiny CNN takes seconds
FAST = {"n": 64, "steps": 10, "restarts": 2, "batch_size": 64, "black_box_n": 16, "square_iter": 20}


class SmallCNN(nn.Module):
    """A user's model: nothing from cnnf_bench, [0, 1] images in, logits out."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))


class Quantised(nn.Module):
    """The same network behind four grey levels: gradients vanish almost everywhere (masked gradients)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.round(x * 4.0) / 4.0)


@pytest.fixture(scope="module")
def trained() -> SmallCNN:
    torch.manual_seed(0)
    images, labels = synthetic_images(256, 1, 28, seed=0)  # the tiny training split's images, unfiled
    x, y = torch.from_numpy(images).float() / 255.0, torch.from_numpy(labels).long()
    net = SmallCNN()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(60):
        lo = (step * 64) % len(x)
        loss = nn.functional.cross_entropy(net(x[lo : lo + 64]), y[lo : lo + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def data(fashion_dir: Path) -> tuple[Tensor, Tensor]:
    return load_split("fmnist", False, fashion_dir).batch(torch.arange(64))


def test_importing_the_package_does_not_load_torch() -> None:
    import subprocess
    import sys

    code = "import sys, cnnf_bench; assert 'torch' not in sys.modules; print(cnnf_bench.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "evaluate_model" in out.stdout


def test_attacks_on_a_wrapped_model_give_records_flags_and_a_report(
    trained: SmallCNN, data: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    model = cnnf_bench.wrap(trained, views={"scaled": lambda x: 3.0 * trained(x)})
    attacks = ["none", ("pgd", {"eps": EPS, "steps": 10, "step_size": EPS / 4}), ("autoattack", {"eps": EPS})]
    store = tmp_path / "results.jsonl"
    result = cnnf_bench.evaluate_model(model, attacks, data, targets=["model", "scaled"], results=store)
    clean = result.accuracy("none")
    assert clean > 0.6  # worth attacking
    assert result.accuracy("pgd", "model") < clean / 2
    assert result.accuracy("autoattack", "model") <= result.accuracy("pgd", "model")
    aa = result.find("autoattack", "model")
    stages = aa["extras"]["autoattack"]["stages"]
    assert [s["stage"] for s in stages] == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert stages[0]["robust"] == round(clean * 64) and stages[-1]["robust"] == aa["n_correct"]
    assert {r["target"] for r in result.records if r["attack"] != "none"} == {"model", "scaled"}
    flags = result.flags("pgd", "scaled")
    assert flags.shape == (64,) and flags.sum() == result.find("pgd", "scaled")["n_correct"]
    expected = (trained(data[0]).argmax(1) == data[1]).numpy()
    assert (result.flags("none") == expected).all()  # the images in their given order
    assert result.worst_case().sum() <= min(f.sum() for f in (flags, result.flags("pgd", "model")))
    table = result.report()
    assert "PGD" in table and "Clean" in table
    again = cnnf_bench.evaluate_model(model, attacks, data, targets=["model", "scaled"], results=store)
    assert {r["key"] for r in again.records} == {r["key"] for r in result.records}  # reused, not re-run
    assert len(store.read_text().splitlines()) == len(result.records)


def test_checks_pass_on_the_plain_cnn_and_flag_its_quantised_variant(
    trained: SmallCNN, data: tuple[Tensor, Tensor]
) -> None:
    settings = CheckSettings(eps=EPS, **FAST)
    checked = cnnf_bench.check_model(trained, data, only=["C1", "C3", "C6", "C13"], settings=settings)
    honest = {c.check: c.verdict.value for c in checked}
    assert honest == dict.fromkeys(("C1", "C3", "C6", "C13"), "pass"), honest
    masked = cnnf_bench.evaluate_model(
        Quantised(trained), [], data, checks=["C6", "C13"], check_settings=settings, name="quantised"
    )
    assert {c.check: c.verdict.value for c in masked.checks} == {"C6": "fail", "C13": "fail"}
    assert masked.failed_checks() == ["C6", "C13"]


def test_bad_input_is_a_one_line_error(trained: SmallCNN, data: tuple[Tensor, Tensor]) -> None:
    with pytest.raises(UsageError, match="floats in"):
        cnnf_bench.evaluate_model(trained, ["none"], (data[0] * 255, data[1]))
    with pytest.raises(ConfigError, match="deployed view"):
        cnnf_bench.wrap(trained, deployed="nothing")
