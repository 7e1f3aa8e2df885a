"""The ``slurm`` executor on a real (single-node) Slurm: jobs go through sbatch, the report equals ``local``'s,
a cancelled job shows in ``status`` and a rerun completes the suite with nothing lost or duplicated.

Needs a running Slurm (``.ci/slurm/start.sh`` starts one; CI does and sets CNNF_BENCH_REQUIRE_SLURM=1,
which turns the skip into a failure).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cnnf_bench.cli import app
from tests.test_executors import report_text, run_cli, stable
from tests.test_suite_external import MYNET, user_model_folder, write
from tests.tiny_suite import write_suite

runner = CliRunner()
SLURM = ("--executor", "slurm", "--slurm", "poll_s=0.5")


def _slurm_missing() -> str | None:
    """Why the Slurm tests cannot run here, or None."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "Slurm's client tools are not installed (apt-get install slurm-wlm munge; .ci/slurm/start.sh)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo failed ({exc}); start Slurm with .ci/slurm/start.sh"
    if out.returncode != 0 or not any(s in out.stdout for s in ("idle", "mixed", "allocated")):
        return f"no Slurm node is up (sinfo: {(out.stdout + out.stderr).strip()!r}); start it with .ci/slurm/start.sh"
    return None


@pytest.fixture(autouse=True)
def _needs_slurm() -> None:
    reason = _slurm_missing()
    if reason is None:
        return
    if os.environ.get("CNNF_BENCH_REQUIRE_SLURM") == "1":
        pytest.fail(f"CNNF_BENCH_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


EPOCHS = 12  # of the CNN-F: long enough to signal or cancel its training job between two epochs


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, fashion_dir: Path) -> dict[str, Any]:
    """The suite through today's ``run`` (local, one JSONL) with one torch thread, like a 1-CPU Slurm job."""
    from cnnf_bench.results import ResultsStore

    folder = tmp_path_factory.mktemp("local")
    result = run_cli(write_suite(folder, cnnf_epochs=EPOCHS), fashion_dir, "--threads", "1")
    assert result.exit_code == 0, result.output
    records = ResultsStore(folder / "results" / "tiny.jsonl").records()
    return {"report": report_text(folder), "records": stable(records), "n": len(records)}


def _jobs(folder: Path) -> dict[str, dict[str, Any]]:
    """Each job folder's submission and state files, by folder name."""
    out = {}
    for job in sorted((folder / "results" / "tiny" / "jobs").iterdir()):
        out[job.name] = {
            name: json.loads((job / f"{name}.json").read_text()) if (job / f"{name}.json").exists() else None
            for name in ("submitted", "state")
        }
    return out


def _queue() -> dict[str, str]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True, timeout=60, check=True)
    return dict(line.split() for line in out.stdout.splitlines() if line.strip())


def _wait(condition: Any, what: str, timeout: float = 900) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def _submit_and_catch_training(folder: Path, data: Path) -> tuple[Path, str, str, Path]:
    """Submit the suite without waiting; once the CNN-F finished an epoch return its suite file, job
    folder name, Slurm id and metrics file."""
    suite = write_suite(folder, cnnf_epochs=EPOCHS)
    submitted = run_cli(suite, data, *SLURM, "--no-wait")
    assert submitted.exit_code == 0 and "cnnf-bench status" in submitted.output, submitted.output
    assert submitted.output.count("submitted as Slurm job") == 7
    train = next(name for name in _jobs(folder) if name.startswith("train-cnnf"))
    slurm_id = _jobs(folder)[train]["submitted"]["slurm_id"]
    metrics = folder / "ck" / "cnnf-fmnist-small-T1_standard_s0" / "metrics.jsonl"
    _wait(lambda: metrics.exists() and metrics.read_text().count("\n") >= 1, "the first epoch of the CNN-F")
    return suite, train, slurm_id, metrics


def _complete(folder: Path, metrics: Path, reference: dict[str, Any]) -> None:
    """Every epoch once, every record once, and the report of the local run digit for digit."""
    from cnnf_bench.shards import ShardedStore

    assert [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()] == list(range(1, EPOCHS + 1))
    records = ShardedStore(folder / "results" / "tiny").records()
    assert len(records) == reference["n"] == len({r["key"] for r in records})
    assert stable(records) == reference["records"]
    assert report_text(folder) == reference["report"]


def test_jobs_go_through_sbatch_requeue_resumes_and_the_report_equals_local(
    tmp_path: Path, fashion_dir: Path, reference: dict[str, Any]
) -> None:
    suite, train, slurm_id, metrics = _submit_and_catch_training(tmp_path, fashion_dir)
    # what Slurm sends before a time limit or a preemption: submitit requeues the job, which resumes
    subprocess.run(["scancel", "--signal=USR2", slurm_id], check=True, timeout=60)
    _wait(lambda: _queue().get(slurm_id) == "PENDING", "the requeued training job")
    # Slurm holds a requeued job back for a while; the test lifts that hold, but not within the second of
    # the kill: slurmd revoked the job's credential then, compares times in whole seconds, and kills a job
    # started again in that second as "non-startable" ("Job credential revoked"), which fails the job and
    # cancels its dependants. That happened in CI when another job's end triggered a scheduling pass.
    time.sleep(1.5)
    subprocess.run(["scontrol", "update", f"jobid={slurm_id}", "StartTime=now"], check=True, timeout=60)
    assert "queued" in runner.invoke(app, ["status", str(suite)]).output

    # a rerun submits nothing that is still queued or running: it waits for those jobs and reports
    again = run_cli(suite, fashion_dir, *SLURM)
    assert again.exit_code == 0, again.output
    waited = again.output.count("already queued as Slurm job") + again.output.count("already running as Slurm job")
    assert "submitted as Slurm job" not in again.output
    assert waited >= 1 and waited + again.output.count("done before, skipped") == 7, again.output
    log = (tmp_path / "results" / "tiny" / "jobs" / train / "log.txt").read_text()
    assert "stopped (SystemExit)" in log and "resume at epoch" in log, log
    _complete(tmp_path, metrics, reference)
    jobs = _jobs(tmp_path)
    assert len(jobs) == 7
    for files in jobs.values():
        # the job itself read its Slurm id from the environment Slurm gave it
        assert files["state"]["state"] == "done" and files["state"]["slurm_id"] == files["submitted"]["slurm_id"]
        assert Path(files["submitted"]["stdout"]).exists()
    assert jobs[train]["state"]["restarts"] >= 1
    scripts = list((tmp_path / "results" / "tiny" / "slurm").glob("*_submission.sh"))
    assert scripts and all("--cpus-per-task=1" in s.read_text() for s in scripts)
    assert all("export OMP_NUM_THREADS=1" in s.read_text() for s in scripts)
    assert any("--dependency=afterok:" in s.read_text() for s in scripts)


def test_a_cancelled_job_shows_in_status_and_a_rerun_completes_the_suite(
    tmp_path: Path, fashion_dir: Path, reference: dict[str, Any]
) -> None:
    suite, train, slurm_id, metrics = _submit_and_catch_training(tmp_path, fashion_dir)
    ids = {files["submitted"]["slurm_id"] for files in _jobs(tmp_path).values()}
    subprocess.run(["scancel", slurm_id], check=True, timeout=60)
    _wait(lambda: not ids & set(_queue()), "the queue to drain")
    done = metrics.read_text().count("\n")
    assert 1 <= done < EPOCHS, "the training job ended before it was cancelled; raise EPOCHS"

    status = runner.invoke(app, ["status", str(suite)])
    assert status.exit_code == 0, status.output
    # the CNN-F's training stopped, its three evaluations were cancelled by Slurm (their dependency failed)
    assert "tiny: 3 done, 4 failed" in status.output, status.output
    assert "stopped while running" in status.output and "left the queue without starting" in status.output
    assert slurm_id in status.output

    again = run_cli(suite, fashion_dir, *SLURM)
    assert again.exit_code == 0, again.output
    assert again.output.count("done before, skipped") == 3 and again.output.count("submitted as Slurm job") == 4
    log = (tmp_path / "results" / "tiny" / "jobs" / train / "log.txt").read_text()
    assert f"resume at epoch {done} " in log or f"resume at epoch {done + 1} " in log, log
    _complete(tmp_path, metrics, reference)
    assert "tiny: 7 done" in runner.invoke(app, ["status", str(suite)]).output


def test_an_external_model_runs_on_slurm_as_it_does_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fashion_dir: Path
) -> None:
    """A user's own model (``external:``, a module and weights in the submission folder) is built on the
    node from the job's working folder, and its records equal those of a local run."""
    folder = user_model_folder(tmp_path, monkeypatch)
    from cnnf_bench.results import ResultsStore
    from cnnf_bench.shards import ShardedStore

    suite = write(folder, MYNET, models="[]")
    local = run_cli(suite, fashion_dir, "--threads", "1", "--results", str(folder / "local.jsonl"))
    assert local.exit_code == 0, local.output
    on_slurm = run_cli(suite, fashion_dir, *SLURM)
    assert on_slurm.exit_code == 0, on_slurm.output
    assert on_slurm.output.count("submitted as Slurm job") == 2, on_slurm.output
    records = ShardedStore(folder / "results").records()
    assert sorted((r["model"], r["attack"]) for r in records) == [("mynet", "none"), ("mynet", "pgd")]
    assert stable(records) == stable(ResultsStore(folder / "local.jsonl").records())
