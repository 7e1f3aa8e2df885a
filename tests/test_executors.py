"""A suite as a job graph on the local and pool executors: same numbers as one file, shards, merge, status."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cnnf_bench.cli import app
from cnnf_bench.errors import ConfigError
from cnnf_bench.executors.settings import executor_from_mapping, with_overrides
from cnnf_bench.jobs import plan
from cnnf_bench.ledger import Layout, job_status, mark_done, mark_failed, mark_running, mark_submitted
from cnnf_bench.suite import load_suite
from tests.tiny_suite import write_suite

runner = CliRunner()
# differ between two runs of the same thing: times, paths, and the checkpoint's hash (it stores training
# times), hence the key
VOLATILE = ("timestamp", "seconds", "checkpoint", "source", "key")


def run_cli(suite: Path, data: Path, *extra: str) -> Any:
    """``cnnf-bench run`` on the CPU with the tiny data."""
    return runner.invoke(app, ["run", str(suite), "--data-dir", str(data), "--device", "cpu", *extra])


def stable(records: list[dict[str, Any]]) -> list[str]:
    """The records, sorted, without the fields that differ between two runs of the same computation."""
    kept = [{k: v for k, v in r.items() if k not in VOLATILE} for r in records]
    for r in kept:  # the passes an attack spent are stable; its wall time is not
        r["cost"] = {k: v for k, v in r.get("cost", {}).items() if k != "seconds"}
    return sorted(json.dumps(r, sort_keys=True) for r in kept)


def report_text(folder: Path) -> tuple[str, str]:
    """The suite's Markdown and CSV reports."""
    return (folder / "report.md").read_text(), (folder / "report.csv").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, fashion_dir: Path) -> dict[str, Any]:
    """The tiny suite through today's ``run`` (local, one JSONL), one torch thread."""
    from cnnf_bench.results import ResultsStore

    folder = tmp_path_factory.mktemp("reference")
    result = run_cli(write_suite(folder), fashion_dir, "--threads", "1")
    assert result.exit_code == 0, result.output
    records = ResultsStore(folder / "results" / "tiny.jsonl").records()
    return {"report": report_text(folder), "records": stable(records), "n": len(records)}


def test_plan_has_ids_dependencies_and_the_old_order(tmp_path: Path) -> None:
    graph = plan(load_suite(write_suite(tmp_path)))
    assert [j.kind for j in graph.jobs] == ["train"] * 2 + ["evaluate"] * 5
    assert [j.label for j in graph.jobs][:2] == ["cnn-fmnist-small_standard_s0", "cnnf-fmnist-small-T1_standard_s0"]
    cnn, cnnf = graph.jobs[0].id, graph.jobs[1].id
    assert len({j.id for j in graph.jobs}) == len(graph.jobs)
    transfer = next(j for j in graph.jobs if j.request.get("attack") == "transfer")
    assert transfer.deps == (cnnf, cnn)
    assert all(j.deps[0] in (cnn, cnnf) for j in graph.jobs if j.kind == "evaluate")
    # the id is the configuration's: the same in another plan, another when a setting changes
    again = plan(load_suite(write_suite(tmp_path)))
    assert [j.id for j in again.jobs] == [j.id for j in graph.jobs]
    changed = plan(load_suite(write_suite(tmp_path, cnnf_epochs=2)))
    assert changed.jobs[0].id == cnn and changed.jobs[1].id != cnnf
    assert {j.id for j in changed.jobs if j.label.startswith("cnn-")} == {
        j.id for j in graph.jobs if j.label.startswith("cnn-")
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("  - {attack: pgd, params: {eps: -0.1}}", "eps is in [0, 1]"),
        ("  - {attack: fgsm, params: {stepz: 3}}", "has no parameter 'stepz'"),
        ("  - {attack: pgd, eps: [.nan]}", "must be a finite number"),
        ("  - {attack: pgd, params: {step: .inf}}", "must be a finite number"),
        ("  - {attack: pgd, readouts: [mean]}", "readout must be one of"),
    ],
)
def test_the_whole_suite_is_validated_before_any_training(
    tmp_path: Path, fashion_dir: Path, line: str, message: str
) -> None:
    result = run_cli(write_suite(tmp_path, line), fashion_dir)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ck").exists() and not (tmp_path / "results").exists()


def test_a_binary_suite_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "is not a YAML text file" in result.output
    assert "Traceback" not in result.output


def test_transfer_without_its_baseline_fails_before_work(tmp_path: Path, fashion_dir: Path) -> None:
    suite = write_suite(tmp_path)
    suite.write_text(suite.read_text().replace("models: [cnn-fmnist-small, ", "models: ["))
    result = run_cli(suite, fashion_dir)
    assert result.exit_code == 2 and "needs the CNN baseline" in result.output
    assert not (tmp_path / "ck").exists()


def test_executor_settings_parse_validate_and_take_cli_overrides() -> None:
    settings = executor_from_mapping(
        {"name": "slurm", "slurm": {"partition": "gpu", "gpus": 1, "cpus": 8, "sbatch": {"--qos": "high"}}}
    )
    assert settings.sharded and settings.slurm.partition == "gpu" and settings.slurm.sbatch == {"qos": "high"}
    assert executor_from_mapping("pool").workers == 2 and not executor_from_mapping(None).sharded
    over = with_overrides(settings, name="pool", workers=3, slurm={"time_min": 60})
    assert (over.name, over.workers, over.slurm.time_min, over.slurm.cpus) == ("pool", 3, 60, 8)
    for bad, message in (
        ({"name": "sge"}, "must be one of local, pool, slurm"),
        ({"workers": 0}, "workers must be >= 1"),
        ({"slurm": {"gpu": 1}}, "did you mean 'gpus'"),
        ({"slurm": {"cpus": 0}}, "cpus must be >= 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            executor_from_mapping(bad)


def test_local_shards_give_the_same_numbers_rerun_skips_and_merge_makes_one_file(
    tmp_path: Path, fashion_dir: Path, reference: dict[str, Any]
) -> None:
    from cnnf_bench.results import ResultsStore
    from cnnf_bench.shards import ShardedStore

    suite = write_suite(tmp_path)
    first = run_cli(suite, fashion_dir, "--shards", "--threads", "1")
    assert first.exit_code == 0, first.output
    assert report_text(tmp_path) == reference["report"]
    shards = tmp_path / "results" / "tiny"
    assert not (tmp_path / "results" / "tiny.jsonl").exists()
    assert len(ShardedStore(shards).shards()) == 5 and stable(ShardedStore(shards).records()) == reference["records"]
    assert len(list((shards / "jobs").glob("*/log.txt"))) == 7

    again = run_cli(suite, fashion_dir, "--shards")
    assert again.exit_code == 0, again.output
    assert again.output.count("done before, skipped") == 7 and "training from epoch" not in again.output

    shown = runner.invoke(app, ["report", "--results", str(shards), "--format", "csv"])
    assert shown.exit_code == 0 and shown.output == reference["report"][1]
    for written in (reference["n"], 0):
        merged = runner.invoke(app, ["report", "--results", str(shards), "--merge", "-o", str(tmp_path / "m.md")])
        assert merged.exit_code == 0 and f"merged {written} new record(s)" in merged.output, merged.output
    one = ResultsStore(tmp_path / "results" / "tiny.jsonl").records()
    assert len(one) == reference["n"] and stable(one) == reference["records"]


def test_pool_workers_give_the_same_numbers(tmp_path: Path, fashion_dir: Path, reference: dict[str, Any]) -> None:
    suite = write_suite(tmp_path)
    result = run_cli(suite, fashion_dir, "--executor", "pool", "--workers", "2", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert report_text(tmp_path) == reference["report"]
    states = [json.loads(p.read_text()) for p in (tmp_path / "results" / "tiny" / "jobs").glob("*/state.json")]
    assert len(states) == 7 and {s["state"] for s in states} == {"done"}
    assert os.getpid() not in {s["pid"] for s in states}  # the jobs ran in the workers


def test_status_reads_every_state_from_the_job_files(tmp_path: Path) -> None:
    suite = write_suite(tmp_path)
    graph = plan(load_suite(suite))
    layout = Layout(tmp_path / "results" / "tiny")
    train_cnn, train_cnnf, clean, pgd, clean_f, pgd_f, _ = graph.jobs
    train_cnn.checkpoint.parent.mkdir(parents=True)
    train_cnn.checkpoint.write_bytes(b"weights")
    mark_done(layout, train_cnn, {})
    mark_running(layout, train_cnnf)  # by this (live) process
    mark_failed(layout, clean, "boom: the attack diverged")
    mark_done(layout, pgd, {})
    (layout.job_dir(clean_f) / "state.json").parent.mkdir(parents=True)
    (layout.job_dir(clean_f) / "state.json").write_text(json.dumps({"state": "running", "host": "elsewhere", "pid": 1}))
    mark_submitted(layout, pgd_f, "pool")  # by this live process: queued
    states = {j.label: job_status(layout, j).state for j in graph.jobs}
    assert list(states.values()) == ["done", "running", "failed", "done", "failed", "queued", "missing"]
    assert job_status(layout, clean).error == "boom: the attack diverged"
    assert (job_status(layout, clean_f).error or "").startswith("interrupted")
    shown = runner.invoke(app, ["status", str(suite)])
    assert shown.exit_code == 0, shown.output
    assert "2 done, 1 running, 1 queued, 2 failed, 1 missing" in shown.output
    assert "boom: the attack diverged" in shown.output

    os.utime(train_cnn.checkpoint, ns=(1, 1))  # the checkpoint changed since: what read or wrote it is stale
    for job in (train_cnn, pgd):
        assert job_status(layout, job).state == "missing" and "stale" in (job_status(layout, job).error or "")


def test_a_failing_job_is_reported_its_dependents_wait_and_a_rerun_retries(tmp_path: Path, fashion_dir: Path) -> None:
    suite = write_suite(tmp_path)
    assert run_cli(suite, fashion_dir, "--shards").exit_code == 0
    checkpoint = tmp_path / "ck" / "cnn-fmnist-small_standard_s0" / "checkpoint.pt"
    checkpoint.write_bytes(b"not a checkpoint")  # the CNN's training job is no longer done, and cannot resume
    broken = run_cli(suite, fashion_dir, "--shards")
    assert broken.exit_code == 1 and "Traceback" not in broken.output
    assert "job(s) failed or did not run" in broken.output
    shown = runner.invoke(app, ["status", str(suite)])
    assert "cnn-fmnist-small_standard_s0" in shown.output and "failed" in shown.output
    # its evaluations and the transfer from it read the old checkpoint: missing again, and not started
    assert "3 done, 1 failed, 3 missing" in shown.output, shown.output

    checkpoint.unlink()
    (checkpoint.parent / "checkpoint.pt.sha256").unlink()
    fixed = run_cli(suite, fashion_dir, "--shards")
    assert fixed.exit_code == 0, fixed.output
    assert "tiny: 7 done" in runner.invoke(app, ["status", str(suite)]).output


def test_check_jobs_write_their_verdicts_to_shards_and_the_report_reads_them(tmp_path: Path, fashion_dir: Path) -> None:
    from cnnf_bench.checks.base import CHECKS

    tiny = (
        "{n: 16, steps: 3, restarts: 2, batch_size: 16, black_box_n: 8, square_iter: 10, spsa_n: 4, "
        "spsa_iter: 2, spsa_samples: 4, noise_draws: 2, batch1_n: 4}"
    )
    suite = write_suite(tmp_path)
    text = suite.read_text().replace("batch_size: 16}", f"batch_size: 16, checks: {tiny}}}")
    suite.write_text(text[: text.index("models:")] + "models: [cnn-fmnist-small]\n" + text[text.index("config:") :])
    result = run_cli(suite, fashion_dir, "--shards")
    assert result.exit_code == 0, result.output
    assert [p.parent.name[:6] for p in (tmp_path / "results" / "tiny" / "jobs").glob("*/log.txt")].count("check-") == 1
    shard = next((tmp_path / "results" / "tiny" / "jobs").glob("check-*/checks.jsonl"))
    assert len(shard.read_text().splitlines()) == len(CHECKS.names())
    assert "no stored checks" not in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "results" / "checks.jsonl").exists()


def test_slurm_where_there_is_none_is_one_line_and_nothing_runs(
    tmp_path: Path, fashion_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = run_cli(write_suite(tmp_path), fashion_dir, "--executor", "slurm")
    assert result.exit_code == 1 and "squeue is not on the PATH" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "ck").exists()
