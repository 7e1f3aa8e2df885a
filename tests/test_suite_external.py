"""A user's model in a suite (``external:``): evaluated and checked beside the zoo's, reported under its name."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cnnf_bench.cli import app
from cnnf_bench.errors import UsageError
from cnnf_bench.jobs import plan
from cnnf_bench.suite import load_suite
from tests.tiny_suite import suite_header

runner = CliRunner()

SUITE_MODULE = '''
from torch import nn


def build():
    """A user's classifier on [0, 1] Fashion-MNIST images."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(196, 10))


def other():
    return build()
'''

TINY_CHECKS = (
    "{n: 16, steps: 3, restarts: 2, batch_size: 16, black_box_n: 8, square_iter: 10, spsa_n: 4, "
    "spsa_iter: 2, spsa_samples: 4, noise_draws: 2, batch1_n: 4}"
)


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the user's module and weights, as the current folder (specs import from it)."""
    return user_model_folder(tmp_path, monkeypatch)


def user_model_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` with the user's module and weights in it, made the current folder."""
    (tmp_path / "suitemodels.py").write_text(SUITE_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.manual_seed(0)
    from suitemodels import build  # type: ignore[import-not-found]

    torch.save(build().state_dict(), tmp_path / "weights.pt")
    return tmp_path


def write(folder: Path, external: str, models: str = "[cnn-fmnist-small]", checks: str = "") -> Path:
    path = folder / "tiny.yaml"
    path.write_text(
        suite_header(folder, models=models)
        + f"""external:
{external}
evaluation: {{n: 16, readouts: [last, avg], batch_size: 16{checks}}}
attacks:
  - none
  - {{attack: pgd, targets: [first, e2e], params: {{steps: 2, eps: 0.02}}}}
  - {{attack: transfer, params: {{steps: 2, eps: 0.02}}}}
  - {{attack: pgd, models: [cnn-fmnist-small], params: {{steps: 3, eps: 0.02}}}}
"""
    )
    return path


MYNET = "  - {name: mynet, spec: 'suitemodels:build', weights: weights.pt, dataset: fmnist}"


def test_run_evaluates_checks_and_reports_an_external_model(folder: Path, fashion_dir: Path) -> None:
    suite = write(folder, MYNET, checks=f", checks: {TINY_CHECKS}")
    args = ["run", str(suite), "--data-dir", str(fashion_dir), "--device", "cpu", "--shards"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 external model(s)" in result.output
    records = [json.loads(line) for path in sorted((folder / "results").rglob("records.jsonl"))
               for line in path.read_text().splitlines()]  # fmt: skip
    mine = [r for r in records if r["model"] == "mynet"]
    # clean and PGD on the model's own forward; no transfer (no CNN baseline), not the entry for the CNN only
    assert sorted((r["attack"], r["target"]) for r in mine) == [("none", "-"), ("pgd", "model")]
    assert {r["train_mode"] for r in mine} == {"external"} and {r["n"] for r in mine} == {16}
    assert {r["model_kwargs"]["spec"] for r in mine} == {"suitemodels:build"}
    verdicts = [json.loads(line) for path in (folder / "results").rglob("checks.jsonl")
                for line in path.read_text().splitlines()]  # fmt: skip
    assert {v["model"] for v in verdicts} == {"mynet", "cnn-fmnist-small"}, verdicts[0].keys()
    markdown = (folder / "report.md").read_text()
    assert "| mynet |" in markdown and "| CNN |" in markdown
    rows = list(csv.DictReader(io.StringIO((folder / "report.csv").read_text())))
    pgd = [r for r in rows if r["kind"] == "cell" and r["row"] == "mynet" and r["column"] == "PGD (model)"]
    assert pgd and pgd[0]["value"] != ""
    assert any(r["kind"] == "flags" and r["row"] == "mynet" and "stored checks" in r["text"] for r in rows)

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "mynet: pgd: done before, skipped" in again.output and "mynet: checks: done before" in again.output


def test_job_ids_are_stable_and_follow_the_spec_and_the_weights(folder: Path) -> None:
    suite = write(folder, MYNET, models="[]")
    graph = plan(load_suite(suite))
    assert [(job.kind, job.label, job.deps) for job in graph.jobs] == [
        ("evaluate", "mynet: none", ()),
        ("evaluate", "mynet: pgd", ()),
    ]
    ids = [job.id for job in graph.jobs]
    assert ids == [job.id for job in plan(load_suite(suite)).jobs]  # the same suite, the same ids
    from suitemodels import build

    torch.save(build().state_dict(), folder / "weights.pt")  # other weights: other jobs
    assert not set(ids) & {job.id for job in plan(load_suite(suite)).jobs}
    torch.save(build().state_dict(), folder / "w2.pt")
    renamed = write(folder, MYNET.replace("suitemodels:build", "suitemodels:other"), models="[]")
    assert not set(ids) & {job.id for job in plan(load_suite(renamed)).jobs}


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("  - {name: mynet, spec: 'suitemodels:build', wieghts: w.pt}", "wieghts; did you mean 'weights'"),
        ("  - {name: mynet}", r"external\[0\]\.spec must be given"),
        ("  - {name: mynet, spec: suitemodels}", "must be module:factory or robustbench:NAME"),
        ("  - {name: mynet, spec: 'suitemodels:build', weights: nofile.pt}", "nofile.pt is not a file"),
        ("  - {name: mynet, spec: 'suitemodels:build', dataset: mnist}", "dataset must be one of"),
        ("  - {name: cnn-fmnist-small, spec: 'suitemodels:build'}", "a registered model's name"),
        (f"{MYNET}\n{MYNET}", "'mynet' is given twice"),
        ("  mynet: suitemodels:build", "external must be a list"),
    ],
)
def test_bad_external_entries_are_one_line_errors(folder: Path, entry: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        load_suite(write(folder, entry))


def test_a_factory_that_does_not_import_fails_before_any_training(folder: Path, fashion_dir: Path) -> None:
    suite = write(folder, "  - {name: mynet, spec: 'nomodule:build'}")
    result = runner.invoke(app, ["run", str(suite), "--data-dir", str(fashion_dir), "--device", "cpu"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "external[0]: spec: cannot import 'nomodule'" in result.output
    assert not (folder / "ck").exists()


def test_pool_workers_import_the_factory_from_the_folder_run_started_in(folder: Path, fashion_dir: Path) -> None:
    suite = write(folder, MYNET, models="[]")
    args = ["run", str(suite), "--data-dir", str(fashion_dir), "--device", "cpu"]
    local = runner.invoke(app, [*args, "--shards"])
    assert local.exit_code == 0, local.output
    done = sorted(p.read_text() for p in (folder / "results").rglob("records.jsonl"))
    for path in (folder / "results").rglob("records.jsonl"):
        path.unlink()
    for path in (folder / "results").rglob("state.json"):
        path.unlink()
    pooled = runner.invoke(app, [*args, "--executor", "pool", "--workers", "1", "--threads", "1"])
    assert pooled.exit_code == 0, pooled.output
    again = sorted(p.read_text() for p in (folder / "results").rglob("records.jsonl"))
    strip = ("timestamp", "seconds", "cost", "device")

    def same(texts: list[str]) -> list[dict[str, object]]:
        return [{k: v for k, v in json.loads(t).items() if k not in strip} for t in texts]

    assert same(again) == same(done) and len(done) == 2
