"""Automatic checks: planted failures are caught, an honest model passes, verdicts are stored and shown."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from typer.testing import CliRunner

from cnnf_bench.checkpoint import load_checkpoint
from cnnf_bench.checks import CHECKS, CheckResult, CheckSettings, Verdict
from cnnf_bench.checks.runner import run_checks
from cnnf_bench.cli import app
from cnnf_bench.data import load_split
from cnnf_bench.report import build_tables, to_markdown
from cnnf_bench.zoo.base import FeedbackNet, Trajectory
from tests.test_report import make_record
from tests.tiny_suite import suite_header

runner = CliRunner()

EPS = 0.3
#: small budgets: every check on a tiny model in seconds
FAST = CheckSettings(
    n=64,
    steps=10,
    restarts=2,
    batch_size=64,
    black_box_n=32,
    square_iter=50,
    spsa_n=8,
    spsa_iter=5,
    spsa_samples=16,
    noise_draws=5,
    passes=5,
    batch1_n=8,
)


class Planted(FeedbackNet):
    """A trained model behind an input transform: the transform plants the failure."""

    def __init__(self, inner: FeedbackNet, transform: Callable[[Tensor], Tensor]) -> None:
        super().__init__(inner.num_classes, 0, inner.cycles, inner.eta, inner.readout)
        self.inner = inner
        self.transform = transform

    def run(self, x: Tensor, cycles: int | None = None) -> Trajectory:
        return self.inner.run(self.transform(x), cycles)


def quantise(x: Tensor) -> Tensor:
    """Four grey levels: the input gradient is zero almost everywhere (masked gradients)."""
    return torch.round(x * 4.0) / 4.0


class Noisy(nn.Module):
    """Gaussian noise on every call: a randomised defence."""

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.1 * torch.randn_like(x)


@pytest.fixture(scope="module")
def data(fashion_dir: Path) -> tuple[Tensor, Tensor]:
    return load_split("fmnist", False, fashion_dir).batch(torch.arange(64))


@pytest.fixture(scope="module")
def honest(tiny_runs: dict[str, Path]) -> FeedbackNet:
    return load_checkpoint(tiny_runs["cnn-fmnist-small"]).build_model()  # type: ignore[no-any-return]


def verdicts(results: list[CheckResult]) -> dict[str, Verdict]:
    return {r.check: r.verdict for r in results}


def test_an_honest_model_passes_every_check(honest: FeedbackNet, data: tuple[Tensor, Tensor]) -> None:
    results = run_checks(honest, *data, EPS, FAST)
    assert {r.check for r in results} == set(CHECKS.names())
    failed = {r.check: r.value_text for r in results if r.verdict is not Verdict.PASS}
    assert not failed, failed
    clean = sum(int(c) for c in (honest(data[0]).argmax(1) == data[1])) / 64
    assert clean > 0.5  # the model is worth attacking


def test_masked_gradients_are_caught(honest: FeedbackNet, data: tuple[Tensor, Tensor]) -> None:
    masked = Planted(honest, quantise).eval()
    found = verdicts(run_checks(masked, *data, EPS, FAST, only=["C6", "C11", "C13"]))
    assert found == {"C6": Verdict.FAIL, "C11": Verdict.FAIL, "C13": Verdict.FAIL}


def test_a_randomised_model_is_caught(honest: FeedbackNet, data: tuple[Tensor, Tensor]) -> None:
    noisy = Planted(honest, Noisy()).eval()
    found = verdicts(run_checks(noisy, *data, EPS, FAST, only=["C1"]))
    assert found == {"C1": Verdict.FAIL}


def test_a_model_left_in_training_mode_is_caught(honest: FeedbackNet, data: tuple[Tensor, Tensor]) -> None:
    dropout = Planted(honest, nn.Dropout(0.3)).train()
    result = run_checks(dropout, *data, EPS, FAST, only=["C3"])[0]
    assert result.verdict is Verdict.FAIL and "training mode" in result.value_text


# ---------------------------------------------------------------------------------- stored verdicts and reports

#: tiny budgets for the command line (every check, all four views of a T=2 CNN-F, in seconds)
TINY = ["--n", "16", "--steps", "3", "--restarts", "2", "-p", "batch_size=16", "-p", "black_box_n=8",
        "-p", "square_iter=10", "-p", "spsa_n=4", "-p", "spsa_iter=2", "-p", "spsa_samples=4",
        "-p", "noise_draws=2", "-p", "batch1_n=4"]  # fmt: skip


def test_check_command_prints_stores_and_reuses_verdicts(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    args = ["check", "--checkpoint", str(tiny_runs["cnnf-fmnist-small"]), *TINY, "--results", str(results)]
    args += ["--data-dir", str(fashion_dir), "--device", "cpu"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    for fragment in ("C1", "C6", "C13", "C18", "large-eps sanity", "passed", "exit code stays 0"):
        assert fragment in first.output, fragment
    stored = [json.loads(line) for line in (tmp_path / "checks.jsonl").read_text().splitlines()]
    assert sorted(r["check"] for r in stored) == sorted(CHECKS.names())
    assert {r["verdict"] for r in stored} <= {"pass", "warn", "fail", "skip"}
    assert all(r["settings"]["n"] == 16 and r["settings"]["eps"] == 0.1 for r in stored)
    c14 = next(r for r in stored if r["check"] == "C14")
    assert set(c14["details"]["accuracy"]) == {"first", "e2e", "e2e-avg", "bpda", "any-iter"}

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "15 verdict(s) reused" in again.output
    assert len((tmp_path / "checks.jsonl").read_text().splitlines()) == len(stored)


@pytest.mark.parametrize(
    ("extra", "code", "fragment"),
    [
        (["--only", "C99"], 2, "unknown check 'C99'"),
        (["-p", "squares=3"], 2, "unknown key --param.squares"),
        (["--n", "0"], 2, "n must be >= 1"),
        (["--readout", "mean"], 2, "readout must be one of"),
    ],
)
def test_bad_check_input_is_one_line(
    tiny_runs: dict[str, Path], tmp_path: Path, extra: list[str], code: int, fragment: str
) -> None:
    args = ["check", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--results", str(tmp_path / "r.jsonl")]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == code, result.output
    assert fragment in result.output and "Traceback" not in result.output


def test_a_missing_checkpoint_is_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--checkpoint", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "does not exist" in result.output


def _check_record(sha: str, check: str, verdict: str, text: str) -> dict[str, object]:
    return {"key": f"{sha}-{check}", "kind": "check", "checkpoint": {"sha256": sha}, "cycles": 1, "readout": "avg",
            "check": check, "verdict": verdict, "value_text": text}  # fmt: skip


def test_report_flags_rows_from_stored_verdicts_and_its_own_columns() -> None:
    r = make_record
    fgsm = {"eps": 0.1}
    records = [
        # CNN: FGSM (50%) beats PGD (75%) on the same images -> C10 fails on the table's own columns
        r("11111111", cnnf=False, seed=0, attack="none", target="-", eps=0.0),
        r("11111100", cnnf=False, seed=0, attack="pgd", target="first"),
        r("11110000", cnnf=False, seed=0, attack="fgsm", target="first", params=fgsm),
        # CNN-F (avg): consistent columns, but a stored C13 failure and a C7 warning
        r("11111111", cnnf=True, seed=0, attack="none", target="-", readout="avg", eps=0.0),
        r("11000000", cnnf=True, seed=0, attack="pgd", target="e2e", readout="avg"),
        r("11110000", cnnf=True, seed=0, attack="fgsm", target="e2e", readout="avg", params=fgsm),
        r("1100", cnnf=True, seed=0, attack="square", target="e2e", readout="avg", params={"eps": 0.1}),
    ]
    sha = records[-1]["checkpoint"]["sha256"]
    checks = [
        _check_record(sha, "C13", "fail", "e2e 12.5% zero/non-finite"),
        _check_record(sha, "C7", "warn", "10 vs 20 steps: 50.0% -> 40.0%"),
        _check_record(sha, "C6", "pass", "e2e 0.0%"),
        _check_record("other", "C6", "fail", "not this checkpoint"),
    ]
    table = build_tables(records, checks)[0]
    assert table.unreliable("CNN") and table.unreliable("CNN-F (avg)")
    assert table.flags["CNN"].failed_unreliable() == ["C10"]
    assert [f.check for f in table.flags["CNN-F (avg)"].flags] == ["C7", "C13"]
    assert table.flags["CNN-F (avg)"].stored == 3
    markdown = to_markdown([table])
    assert "| CNN † |" in markdown and "| CNN-F (avg) † |" in markdown
    assert "**Flags**" in markdown and "C10 fail (table), seed 0: PGD (first) 75.0% > FGSM 50.0%" in markdown
    assert "CNN-F (avg): potentially unreliable (failed C13). C7 warn, seed 0: 10 vs 20 steps" in markdown
    assert "not this checkpoint" not in markdown
    assert "Evaluation strength: PGD: 7 steps x 1 restart (step 0.0355), n=8; FGSM: 1 step of eps, n=8" in markdown
    # the views of an attack stay together, in the order first, e2e, e2e-avg, bpda
    assert table.columns[:3] == ["Clean", "PGD (first)", "PGD (e2e)"]

    clean = build_tables([x for x in records if x["attack"] != "fgsm"], [])[0]
    assert not clean.unreliable("CNN") and not clean.unreliable("CNN-F (avg)")
    assert "C11/C19 hold on the columns" in to_markdown([clean])


def test_a_suite_runs_the_checks_and_reports_their_flags(tmp_path: Path, fashion_dir: Path) -> None:
    suite = tmp_path / "tiny.yaml"
    suite.write_text(
        suite_header(tmp_path)
        + """evaluation:
  protocol: strong
  n: 16
  readouts: [avg]
  targets: [first, e2e, e2e-avg, bpda]
  batch_size: 16
  checks: {n: 16, steps: 3, restarts: 2, batch_size: 16, black_box_n: 8, square_iter: 10, spsa_n: 4,
           spsa_iter: 2, spsa_samples: 4, noise_draws: 2, batch1_n: 4}
attacks:
  - none
  - {attack: pgd, params: {steps: 2, restarts: 2}}
  - {attack: fgsm}
"""
    )
    result = runner.invoke(app, ["run", str(suite), "--data-dir", str(fashion_dir), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    verdicts_file = tmp_path / "checks.jsonl"
    stored = [json.loads(line) for line in verdicts_file.read_text().splitlines()]
    assert len(stored) == 2 * len(CHECKS.names())  # the CNN and the CNN-F, one readout each
    markdown = (tmp_path / "report.md").read_text()
    assert "protocol strong" in markdown and "**Flags**" in markdown
    columns = next(line for line in markdown.splitlines() if line.startswith("| | Clean"))
    views = ("first", "e2e", "e2e-avg", "bpda")
    pgd = " | ".join(f"PGD ({v}) | PGD-margin ({v})" for v in views)  # the strong protocol runs both losses
    assert f"| Clean | {pgd} | FGSM (first)" in columns
    assert "PGD: 2 steps x 2 restarts (step 0.0125, best iterate), n=16" in markdown
    assert "2 steps x 2 restarts (step 0.0125, best iterate, margin loss), n=16" in markdown
    report = runner.invoke(app, ["report", "--results", str(tmp_path / "results.jsonl")])
    assert report.exit_code == 0 and "Flags" in report.output


def test_evaluate_with_the_strong_protocol_then_checks(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    args = ["evaluate", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--attack", "noise", "--protocol"]
    args += ["strong", "--n", "16", "--results", str(tmp_path / "r.jsonl"), "--data-dir", str(fashion_dir)]
    tiny = ["n=16", "steps=3", "restarts=2", *TINY[7::2]]  # the -s settings of TINY
    settings = [part for item in tiny for part in ("--check-setting", item)]
    result = runner.invoke(app, [*args, "--checks", *settings, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "r.jsonl").read_text())
    assert record["protocol"] == "strong" and record["params"]["draws"] == 20
    assert "large-eps sanity" in result.output and "exit code stays 0" in result.output
    assert len((tmp_path / "checks.jsonl").read_text().splitlines()) == len(CHECKS.names())
