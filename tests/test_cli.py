"""The command line: help and version, the models table, training, and one-line errors with exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnf_bench.cli import app

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def _fails(args: list[str], code: int, *fragments: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert lines and all(f in result.output for f in fragments), result.output
    return result.output


def test_help_and_version_do_not_import_torch() -> None:
    probe = (
        "import sys\nfrom cnnf_bench.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert "cnnf-bench" in _ok(["--version"])


def test_models_table_shows_the_published_counts() -> None:
    out = _ok(["models"])
    assert "3,298,962" in out and "2,240,842" in out and "cnn-fmnist-small" in out


def test_train_through_the_cli(fashion_dir: Path, tmp_path: Path) -> None:
    args = ["train", "--model", "cnn-fmnist-small", "--mode", "standard", "--epochs", "1", "--batch-size", "64"]
    out = _ok([*args, "--data-dir", str(fashion_dir), "--output-dir", str(tmp_path)])
    assert "checkpoint:" in out and "clean test accuracy" in out
    assert (tmp_path / "cnn-fmnist-small_standard_s0" / "config.yaml").is_file()
    _fails([*args, "--data-dir", str(fashion_dir), "--output-dir", str(tmp_path)], 1, "already exists", "--resume")
    assert "already complete" in _ok([*args, "--data-dir", str(fashion_dir), "--output-dir", str(tmp_path), "--resume"])
    _fails(
        [*args, "--lr", "0.1", "--data-dir", str(fashion_dir), "--output-dir", str(tmp_path), "--resume"],
        2,
        "config differs",
        "train.lr",
    )


def test_unknown_model_is_a_usage_error_with_close_matches() -> None:
    _fails(["train", "--model", "cnnf-fmnst"], 2, "unknown model", "did you mean cnnf-fmnist")


def test_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: cnnf-fmnist\ntrain:\n  epochz: 3\n")
    _fails(["train", "--config", str(bad)], 2, "unknown key", "epochz", "epochs")
    _fails(["train", "--model", "cnnf-fmnist", "--eps", "-0.1"], 2, "eps must be >= 0")
    _fails(["train", "--config", str(tmp_path / "missing.yaml")], 2, "cannot read config")
    _fails(["train"], 2, "--model")
    _fails(["train", "--model", "cnnf-fmnist", "--mode", "adverse"], 2)


def test_missing_dataset_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnf_bench.data as data

    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "none")
    out = _fails(
        ["train", "--model", "cnn-fmnist", "--output-dir", str(tmp_path)],
        1,
        "dataset fmnist not found",
        "apt-get install",
    )
    assert not (tmp_path / "cnn-fmnist_adversarial_s0").exists()
    assert out.count("error:") == 1


@pytest.mark.parametrize("damage", ["truncate", "foreign", "garbage"])
def test_broken_checkpoints_on_resume(damage: str, fashion_dir: Path, tmp_path: Path) -> None:
    import torch

    run = tmp_path / "cnn-fmnist-small_standard_s0"
    run.mkdir()
    path = run / "checkpoint.pt"
    if damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    elif damage == "garbage":
        path.write_bytes(b"\x80\x04not a checkpoint at all")
    else:
        args = ["train", "--model", "cnn-fmnist-small", "--mode", "standard", "--epochs", "1", "--batch-size", "64"]
        _ok([*args, "--data-dir", str(fashion_dir), "--output-dir", str(tmp_path)])
        path.write_bytes(path.read_bytes()[:5000])
    before = path.read_bytes()
    args = ["train", "--model", "cnn-fmnist-small", "--mode", "standard", "--epochs", "1"]
    _fails([*args, "--data-dir", str(fashion_dir), "--output-dir", str(tmp_path), "--resume"], 1, str(path))
    assert path.read_bytes() == before  # nothing lost


def test_cuda_without_a_gpu_is_a_usage_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    _fails(["train", "--model", "cnn-fmnist", "--device", "cuda", "--output-dir", str(tmp_path)], 2, "no CUDA device")
