"""Bring-your-own models in the CLI: --model-spec module:factory with --weights, and RobustBench's loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cnnf_bench.cli import app

runner = CliRunner()

USER_MODULE = '''
import torch
from torch import nn


def build():
    """A user's classifier on [0, 1] Fashion-MNIST images."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(196, 10))


def broken():
    raise RuntimeError("no GPU here")
'''


@pytest.fixture()
def user_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "usermodels.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.manual_seed(0)
    from usermodels import build  # type: ignore[import-not-found]

    weights = tmp_path / "weights.pt"
    torch.save(build().state_dict(), weights)
    return weights


def test_evaluate_check_and_report_a_user_model(user_model: Path, fashion_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "results.jsonl"
    spec = ["--model-spec", "usermodels:build", "--weights", str(user_model), "--data-dir", str(fashion_dir)]
    common = ["--n", "16", "--results", str(store), "--device", "cpu"]
    for attack in (["none"], ["pgd", "--steps", "3"]):
        result = runner.invoke(app, ["evaluate", "--attack", *attack, *spec, *common])
        assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in store.read_text().splitlines()]
    assert [r["attack"] for r in records] == ["none", "pgd"]
    assert {r["model"] for r in records} == {"build"} and {r["train_mode"] for r in records} == {"external"}
    assert records[0]["checkpoint"]["sha256"] == records[1]["checkpoint"]["sha256"]
    assert records[1]["target"] == "model" and records[1]["n"] == 16
    again = runner.invoke(app, ["evaluate", "--attack", "pgd", *spec, *common, "--steps", "3"])
    assert "already in" in again.output  # the same weights are the same model: the record is reused
    checked = runner.invoke(app, ["check", *spec, "--n", "16", "--only", "C4,C13", "--results", str(store)])
    assert checked.exit_code == 0, checked.output
    verdicts = [json.loads(line) for line in (tmp_path / "checks.jsonl").read_text().splitlines()]
    assert {v["check"] for v in verdicts} == {"C4", "C13"}
    report = runner.invoke(app, ["report", "--results", str(store)])
    assert report.exit_code == 0 and "PGD" in report.output, report.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-spec", "nomodule:build"], "cannot import"),
        (["--model-spec", "usermodels:missing"], "no attribute"),
        (["--model-spec", "usermodels"], "module:factory"),
        (["--model-spec", "usermodels:broken"], "no GPU here"),
        (["--model-spec", "usermodels:build", "--weights", "nofile.pt"], "does not exist"),
        (["--weights", "w.pt"], "go with --model-spec"),
        ([], "give --checkpoint"),
    ],
)
def test_bad_model_specs_are_one_line(user_model: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["evaluate", "--attack", "none", *args])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2, result.output


def test_a_robustbench_model_saved_in_the_zoo_layout_loads_without_download(tmp_path: Path, cifar_dir: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("robustbench") is None:
        pytest.skip("the robustbench extra is not installed (uv sync installs it with the crosscheck group)")
    from cnnf_bench.external import resolve_model, robustbench_loader

    robustbench_loader()  # RobustBench imports AutoAttack under its git name: the loader aliases it
    from robustbench.model_zoo.cifar10 import linf

    torch.manual_seed(0)
    net = linf["Ding2020MMA"]["model"]()  # WRN-28-4, the zoo's architecture, random weights
    folder = tmp_path / "models" / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, folder / "Ding2020MMA.pt")
    loaded = resolve_model(None, "robustbench:Ding2020MMA", tmp_path / "models", "cifar10")
    model = loaded.build_model()  # type: ignore[union-attr]
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(model(x), net.eval()(x))
    store = tmp_path / "r.jsonl"
    result = runner.invoke(
        app,
        ["evaluate", "--attack", "fgsm", "--model-spec", "robustbench:Ding2020MMA", "--weights",
         str(tmp_path / "models"), "--dataset", "cifar10", "--data-dir", str(cifar_dir), "--n", "4",
         "--results", str(store), "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(store.read_text())["model"] == "Ding2020MMA"
