"""One flag convention across commands: -h, -p key=value, --train-seed / --attack-seed, --checks-store,
--strict, --quiet, the old spellings (with a deprecation line), and evaluate's default target."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from cnnf_bench.cli import app

runner = CliRunner()


def _invoke(args: list[str], code: int = 0) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize("command", ["train", "evaluate", "check", "report", "plot", "run", "status", "models"])
def test_every_command_answers_dash_h(command: str) -> None:
    assert "Usage:" in _invoke([command, "-h"])


def test_help_shows_the_choices_of_target_readout_and_protocol() -> None:
    result = runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "250"})
    text = result.output
    for fragment in ("deployed|first|e2e|e2e-avg|bpda", "last|avg", "paper|strong|fpd|custom", "--attack-seed"):
        assert fragment in text, fragment


def _evaluate(tiny: Path, results: Path, fashion_dir: Path, *extra: str) -> tuple[str, list[dict[str, Any]]]:
    args = ["evaluate", "--checkpoint", str(tiny), "--attack", "fgsm", "--n", "8", "--results", str(results)]
    out = _invoke([*args, "--data-dir", str(fashion_dir), "--device", "cpu", *extra])
    return out, [json.loads(line) for line in results.read_text().splitlines()]


def test_evaluate_attacks_the_deployed_function_by_default_and_says_so(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    from cnnf_bench.checkpoint import load_checkpoint

    tiny = tiny_runs["cnnf-fmnist-small"]
    model = load_checkpoint(tiny).build_model("cpu")
    out, records = _evaluate(tiny, tmp_path / "r.jsonl", fashion_dir)
    assert [r["target"] for r in records] == [model.deployed_view(model.readout)]
    assert records[0]["target"] != "first" and "the deployed function" in out
    assert "not the function this model deploys" not in out

    out, records = _evaluate(tiny, tmp_path / "first.jsonl", fashion_dir, "-t", "first")
    assert [r["target"] for r in records] == ["first"]
    assert "not the function this model deploys" in " ".join(out.split())


def test_old_spellings_work_with_one_deprecation_line(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    out, records = _evaluate(tiny_runs["cnn-fmnist-small"], tmp_path / "r.jsonl", fashion_dir, "--seed", "3")
    assert records[0]["attack_seed"] == 3
    assert out.count("deprecated") == 1 and "--attack-seed" in out
    _, records = _evaluate(tiny_runs["cnn-fmnist-small"], tmp_path / "n.jsonl", fashion_dir, "--attack-seed", "4")
    assert records[0]["attack_seed"] == 4
    both = ["--seed", "3", "--attack-seed", "4"]
    args = ["evaluate", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--attack", "none", *both]
    assert "give only --attack-seed" in _invoke(args, 2)

    store = tmp_path / "r.jsonl"
    out = _invoke(["report", "--results", str(store), "--checks", str(tmp_path / "none.jsonl")])
    assert "deprecated" in out and "--checks-store" in out


def test_check_strict_fails_ci_on_a_failed_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cnnf_bench.cli import render_checks

    verdicts = [SimpleNamespace(check="C6", verdict=SimpleNamespace(value="fail"))]
    monkeypatch.setattr(render_checks, "run_and_show", lambda *a, **k: verdicts)
    args = ["check", "--checkpoint", str(tmp_path), "--device", "cpu"]
    _invoke(args, 0)
    assert "1 check(s) failed (C6)" in _invoke([*args, "--strict"], 1)
    verdicts[0] = SimpleNamespace(check="C7", verdict=SimpleNamespace(value="warn"))
    _invoke([*args, "--strict"], 0)


def test_quiet_keeps_results_and_drops_information(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    base = ["evaluate", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--attack", "none", "--n", "8"]
    base += ["--results", str(tmp_path / "r.jsonl"), "--data-dir", str(fashion_dir), "--device", "cpu"]
    loud = _invoke(base)
    assert "stored in" in loud and "%" in loud
    quiet = _invoke(["--quiet", *base, "--force"])
    assert "stored in" not in quiet and "%" in quiet
    assert "exclude each other" in _invoke(["-q", "-v", "models"], 2)


def test_run_takes_its_output_paths_on_the_command_line(tmp_path: Path, fashion_dir: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        f"name: s\noutput_dir: {tmp_path}/ck\nresults: {tmp_path}/r.jsonl\nreport: {tmp_path}/rep\n"
        "models: [cnn-fmnist-small]\nseeds: [0]\nattacks: [none]\nevaluation: {n: 8}\n"
        "config: {data: {test_subset: 16}, train: {mode: standard, epochs: 1, batch_size: 64}}\n"
    )
    paths = ["--results", str(tmp_path / "o" / "r.jsonl"), "--output-dir", str(tmp_path / "o" / "ck")]
    paths += ["--report", str(tmp_path / "o" / "report")]
    _invoke(["run", str(suite), *paths, "--data-dir", str(fashion_dir), "--device", "cpu"])
    assert (tmp_path / "o" / "r.jsonl").is_file() and (tmp_path / "o" / "report.md").is_file()
    assert any((tmp_path / "o" / "ck").iterdir())
    assert not (tmp_path / "ck").exists() and not (tmp_path / "r.jsonl").exists()


def test_old_training_spellings_still_train(fashion_dir: Path, tmp_path: Path) -> None:
    args = ["train", "--model", "cnn-fmnist-small", "--mode", "standard", "--epochs", "1", "--limit-batches", "1"]
    out = _invoke([*args, "--test-subset", "8", "--data-dir", str(fashion_dir), "--seed", "1", "-o", str(tmp_path)])
    assert out.count("deprecated") == 2 and "--train-seed" in out and "--output-dir" in out
    assert [p.name for p in tmp_path.iterdir()] == ["cnn-fmnist-small_standard_s1"]


def test_old_check_setting_spelling_reads_as_param(tiny_runs: dict[str, Path], tmp_path: Path) -> None:
    args = ["check", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--results", str(tmp_path / "r.jsonl")]
    out = _invoke([*args, "-s", "squares=3"], 2)
    assert "deprecated" in out and "unknown key --param.squares" in out
