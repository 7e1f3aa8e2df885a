"""Light commands stay light: --help, report, models, attacks and status never import torch or ART."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_report import paper_records
from tests.tiny_suite import suite_header

PROBE = """
import sys
from cnnf_bench.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("torch", "art", "torchvision", "matplotlib") if m in sys.modules)
print("PROBE", code, ",".join(heavy))
"""


def _run_probe(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(exit code, heavy modules imported, what the command printed) of one command in a fresh process."""
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=300)
    line = next(line for line in out.stdout.splitlines() if line.startswith("PROBE"))
    _, code, heavy = [*line.split(" "), ""][:3]
    return int(code or 0), heavy, out.stdout


def _probe(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    code, heavy, _ = _run_probe(*args, env=env)
    return code, heavy


def test_importing_the_report_path_does_not_import_torch() -> None:
    code = "import sys, cnnf_bench.report, cnnf_bench.cli, cnnf_bench.results, cnnf_bench.shards, cnnf_bench.fileio\n"
    code += "print('torch' in sys.modules or 'art' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_report_in_every_format_runs_without_torch(tmp_path: Path) -> None:
    store = tmp_path / "r.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in paper_records()))
    for fmt in ("terminal", "markdown", "csv", "latex", "json"):
        assert _probe("report", "--results", str(store), "--format", fmt) == (0, "")
    assert _probe("--help") == (0, "")


def test_models_and_attacks_read_the_cached_catalogue_without_torch(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    assert _probe("models", env=env)[0] == 0  # the first call builds the catalogue (imports torch once)
    assert list((tmp_path / "cnnf-bench").glob("catalog-*.json"))
    assert _probe("models", env=env) == (0, "")
    assert _probe("attacks", env=env) == (0, "")


def test_the_catalogue_is_what_the_registries_say(tmp_path: Path, monkeypatch: object) -> None:
    from cnnf_bench import catalog

    built = catalog.build()
    names = [m["model"] for m in built["models"]]
    assert "cnnf-fmnist" in names and "pgd" in [a["attack"] for a in built["attacks"]]
    assert next(m for m in built["models"] if m["model"] == "cnnf-fmnist")["parameters"] == 3_298_962
    assert "deployed" in built["views"] and "paper" in built["protocols"]


def _save_training_checkpoint(path: Path, epoch: int, epochs: int) -> None:
    """A checkpoint shaped like training writes it: a real model's weights, optimizer and RNG states."""
    import torch

    from cnnf_bench.checkpoint import save_checkpoint
    from cnnf_bench.runtime import rng_state
    from cnnf_bench.zoo import build_model

    model = build_model("cnn-fmnist-small")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.zeros(2, 1, 28, 28)).sum().backward()
    optimizer.step()
    save_checkpoint(
        path,
        {
            "model": {"name": "cnn-fmnist-small", "kwargs": {}},
            "state_dict": model.state_dict(),
            "config": {"train": {"epochs": epochs}},
            "metrics": [{"epoch": e + 1, "loss": 0.5} for e in range(epoch)],
            "epoch": epoch,
            "complete": epoch == epochs,
            "train_state": {"optimizer": optimizer.state_dict(), "rng": rng_state()},
            "versions": {"torch": str(torch.__version__)},
        },
    )


def test_checkpoint_progress_is_read_without_torch_as_the_loader_reads_it(tmp_path: Path) -> None:
    from cnnf_bench.checkpoint import load_checkpoint
    from cnnf_bench.checkpoint_info import NotAnArchive, training_progress
    from cnnf_bench.errors import CheckpointError

    for epoch, epochs in ((3, 3), (1, 4), (0, 2)):
        path = tmp_path / f"e{epoch}of{epochs}" / "checkpoint.pt"
        _save_training_checkpoint(path, epoch, epochs)
        loaded = load_checkpoint(path)
        assert training_progress(path) == (loaded.epoch, loaded.complete) == (epoch, epoch == epochs)
    modified = tmp_path / "e3of3" / "checkpoint.pt"
    modified.write_bytes(modified.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated or modified"):
        training_progress(modified)
    modified.with_name("checkpoint.pt.sha256").unlink()
    with pytest.raises(NotAnArchive):  # no sidecar to catch it: the cut-off archive is left to torch to judge
        training_progress(modified)
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"not a checkpoint at all")
    with pytest.raises(NotAnArchive):
        training_progress(foreign)


def test_status_reads_a_planned_suite_without_torch(tmp_path: Path) -> None:
    """The first status of a suite plans it (torch); every later one reads the cached outline and the
    checkpoints' payloads without torch, unsharded (checkpoint states) and sharded (job files)."""
    import os

    from cnnf_bench.jobs import plan
    from cnnf_bench.ledger import Layout, mark_done, mark_failed
    from cnnf_bench.suite import load_suite
    from tests.tiny_suite import write_suite

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "200"}
    suite = write_suite(tmp_path)
    graph = plan(load_suite(suite))
    train_cnn, train_cnnf = (job for job in graph.jobs if job.kind == "train")
    _save_training_checkpoint(train_cnn.checkpoint, 1, 1)
    _save_training_checkpoint(train_cnnf.checkpoint, 1, 2)

    assert _probe("status", str(suite), env=env)[0] == 0  # plans the suite once and caches its outline
    assert list((tmp_path / "cache" / "cnnf-bench" / "outlines").glob("*.json"))
    code, heavy, out = _run_probe("status", str(suite), env=env)
    assert (code, heavy) == (0, ""), out
    assert f"{train_cnn.label}: done" in out and f"{train_cnnf.label}: partial (epoch 1)" in out
    assert "tiny: 1/2 checkpoints complete" in out

    layout = Layout(tmp_path / "results" / "tiny")
    evaluation = next(job for job in graph.jobs if job.kind == "evaluate")
    mark_done(layout, train_cnn, {})
    mark_failed(layout, evaluation, "boom: the attack diverged")
    code, heavy, out = _run_probe("status", str(suite), env=env)
    assert (code, heavy) == (0, ""), out
    assert "tiny: 1 done, 1 failed, 5 missing" in out and "boom: the attack diverged" in out

    suite.write_text(suite.read_text().replace("seeds: [0]", "seeds: [0, 1]"))  # an edited suite is planned again
    code, _, out = _run_probe("status", str(suite), "--shards", env=env)
    assert code == 0 and "14 jobs" in out, out


def test_status_after_run_reads_the_outline_run_saved_without_torch(
    tmp_path: Path, fashion_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` plans the suite anyway and keeps its outline, so even the first `status` needs no torch;
    not when `run` moved the results (that outline would describe other folders than `status SUITE`)."""
    import os

    from typer.testing import CliRunner

    from cnnf_bench.cli import app
    from cnnf_bench.outline import build_outline, suite_outline

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    outlines = cache / "cnnf-bench" / "outlines"
    suite = tmp_path / "tiny.yaml"
    suite.write_text(
        suite_header(tmp_path, models="[cnn-fmnist-small]", test_subset=16)
        + "evaluation: {n: 16, batch_size: 16}\nattacks: [none]\n"
    )
    common = ["run", str(suite), "--data-dir", str(fashion_dir), "--device", "cpu"]
    moved = CliRunner().invoke(app, [*common, "--results", str(tmp_path / "elsewhere.jsonl")])
    assert moved.exit_code == 0, moved.output
    assert not list(outlines.glob("*.json"))
    first = CliRunner().invoke(app, [*common, "--report", str(tmp_path / "other-report")])  # not in the outline
    assert first.exit_code == 0, first.output
    assert len(list(outlines.glob("*.json"))) == 1
    assert suite_outline(suite) == build_outline(suite)  # the saved outline is the one status would plan

    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "200"}
    code, heavy, out = _run_probe("status", str(suite), env=env)
    assert (code, heavy) == (0, ""), out
    assert "tiny: 1/1 checkpoints complete" in out
