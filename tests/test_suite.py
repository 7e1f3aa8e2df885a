"""Suites through the CLI: train what is missing, attack what is not stored, write the report; resume."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnf_bench.cli import app
from cnnf_bench.errors import UsageError
from cnnf_bench.suite import load_suite
from tests.tiny_suite import suite_header

runner = CliRunner()


def _suite(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        suite_header(tmp_path, seeds="[0, 1]")
        + f"""evaluation: {{n: 16, readouts: [last, avg], batch_size: 16}}
attacks:
  - none
  - {{attack: pgd, targets: [first, e2e], params: {{steps: 2}}}}
  - {{attack: transfer, params: {{steps: 2}}}}
{body}"""
    )
    return path


def test_run_trains_attacks_reports_and_resumes(tmp_path: Path, fashion_dir: Path) -> None:
    suite = _suite(tmp_path)
    first = runner.invoke(app, ["run", str(suite), "--data-dir", str(fashion_dir), "--device", "cpu"])
    assert first.exit_code == 0, first.output
    assert "CNN-F (avg)" in first.output and "Worst case" in first.output
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    # per seed: CNN clean + pgd(first,e2e); CNN-F clean x2 readouts + pgd 2x2 + transfer x2 readouts
    assert len(lines) == 2 * (3 + 2 + 4 + 2)
    assert {json.loads(line)["train_seed"] for line in lines} == {0, 1}
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    cnn_transfer = [r for r in rows if r["kind"] == "cell" and r["row"] == "CNN" and r["column"] == "Transfer"]
    assert cnn_transfer and cnn_transfer[0]["value"] == "" and cnn_transfer[0]["text"] == "-"  # the paper's "-"
    assert "### fmnist, protocol paper, eps = 0.1" in (tmp_path / "report.md").read_text()

    # an interrupted run: drop two records, then run again: only those are recomputed, nothing retrained
    kept = lines[:-2]
    (tmp_path / "results.jsonl").write_text("\n".join(kept) + "\n")
    again = runner.invoke(app, ["run", str(suite), "--data-dir", str(fashion_dir), "--device", "cpu"])
    assert again.exit_code == 0, again.output
    assert again.output.count("checkpoint complete, not retrained") == 4
    assert "training from epoch" not in again.output
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == len(lines)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("oops: 1", "unknown key .*oops"),
        ("  - {attack: pgdd}", "did you mean pgd"),
        ("  - {attack: pgd, targets: [frist]}", "unknown target 'frist'"),
        ("  - {attack: pgd, stepz: 3}", "unknown key .*stepz"),
    ],
)
def test_bad_suites_are_usage_errors(tmp_path: Path, extra: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        load_suite(_suite(tmp_path, extra))


def test_bad_suite_through_the_cli_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(_suite(tmp_path, "oops: 1"))])
    assert result.exit_code == 2 and "unknown key" in result.output and "Traceback" not in result.output


def test_the_shipped_suites_parse() -> None:
    for path in sorted(Path(__file__).parent.parent.joinpath("benchmarks").glob("*.yaml")):
        suite = load_suite(path)
        assert suite.models and suite.attacks, path
