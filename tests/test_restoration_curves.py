"""The reconstruction-error-per-epoch figure, from the restoration metrics training writes."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from cnnf_bench.plots.restoration_curves import reconstruction_curves
from tests.test_plots import fig5_store, read_csv


def _restoration(epoch: int, seed: int) -> list[dict[str, object]]:
    clean = {"kind": "clean", "severity": 0, "n": 32, "input_mse": 0.0, "recon_mse": [0.09, 0.08 - 0.01 * epoch]}
    noisy = {
        "kind": "gaussian-noise",
        "severity": 3,
        "n": 32,
        "input_mse": 0.02,
        "recon_mse": [0.1, 0.07 - 0.01 * epoch + 0.002 * seed],
    }
    return [clean, noisy]


def test_reconstruction_curves_per_kind_with_the_input_bar(tmp_path: Path) -> None:
    store = fig5_store(tmp_path / "checkpoints")
    for r in store:
        folder = Path(r["checkpoint"]["path"]).parent
        folder.mkdir(parents=True, exist_ok=True)
        seed, cnn = r["train_seed"], r["model"].startswith("cnn-")
        lines = [
            {"epoch": e, "loss": 1.0, "test_acc": 0.5, **({} if cnn else {"restoration": _restoration(e, seed)})}
            for e in (1, 2)
        ]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
        (folder / "config.yaml").write_text("model: {name: cnnf-fmnist-small, ind: 0}\ntrain: {mode: standard}\n")
    result = reconstruction_curves(store, tmp_path / "out", [Path()])
    assert [p.suffix for p in result.written] == [".png", ".csv"], result.notes
    rows = read_csv(tmp_path / "out" / "reconstruction_curves-fmnist.csv")
    noisy = [r for r in rows if r["kind"] == "gaussian-noise" and r["quantity"] == "recon_mse" and r["epoch"] == "2"]
    assert {r["line"] for r in noisy} == {"CNN-F-1", "CNN-F-2"}  # the CNN has no feedback: no line
    assert float(noisy[0]["mean"]) == pytest.approx(0.05 + 0.001) and float(noisy[0]["std"]) == pytest.approx(
        statistics.stdev([0.05, 0.052])
    )
    bar = [r for r in rows if r["quantity"] == "input_mse"]
    assert bar and all(float(r["mean"]) == pytest.approx(0.02) for r in bar)


def test_reconstruction_curves_skip_without_metrics(tmp_path: Path) -> None:
    result = reconstruction_curves(fig5_store(tmp_path / "nowhere"), tmp_path / "out", [Path()])
    assert not result.written and "skipped" in result.notes[0]


def test_an_archived_folder_store_finds_the_metrics_it_carries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records of a suite name their checkpoints relative to the suite's folder; an archive of the suite
    (a folder of record shards plus each run's metrics.jsonl in that layout) plots its curves from anywhere."""
    from typer.testing import CliRunner

    from cnnf_bench.cli import app

    archive = tmp_path / "archive"
    records = fig5_store(Path("checkpoints") / "suite")
    for r in records:
        seed, cnn = r["train_seed"], r["model"].startswith("cnn-")
        folder = archive / Path(r["checkpoint"]["path"]).parent
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            {"epoch": e, "loss": 1.0, "test_acc": 0.5, **({} if cnn else {"restoration": _restoration(e, seed)})}
            for e in (1, 2)
        ]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
        shard = archive / f"part{seed}" / "records.jsonl"
        shard.parent.mkdir(parents=True, exist_ok=True)
        with shard.open("a") as f:
            f.write(json.dumps(r) + "\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "figures"
    result = CliRunner().invoke(app, ["plot", "--results", str(archive), "--out", str(out), "--no-restoration"])
    assert result.exit_code == 0, result.output
    rows = read_csv(out / "reconstruction_curves-fmnist.csv")
    assert {r["line"] for r in rows} == {"CNN-F-1", "CNN-F-2", "input"}
    assert "no metrics.jsonl found" not in result.output
