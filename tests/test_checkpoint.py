"""Checkpoints: round trip, atomic sidecar checksum, and clean errors for broken or foreign files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnf_bench.checkpoint import load_checkpoint, save_checkpoint, sidecar
from cnnf_bench.errors import CheckpointError
from cnnf_bench.zoo import build_model


def _save(path: Path) -> torch.nn.Module:
    model = build_model("cnn-fmnist-small")
    save_checkpoint(
        path,
        {
            "model": {"name": "cnn-fmnist-small", "kwargs": {"ind": 0, "cycles": 0, "eta": 0.1, "readout": "last"}},
            "state_dict": model.state_dict(),
            "config": {"seed": 0},
            "metrics": [{"epoch": 1, "test_acc": 0.5}],
            "epoch": 1,
            "complete": True,
        },
    )
    return model


def test_round_trip_rebuilds_the_same_model(tmp_path: Path) -> None:
    path = tmp_path / "run" / "checkpoint.pt"
    model = _save(path)
    ckpt = load_checkpoint(path.parent)  # a run folder works too
    assert ckpt.complete and ckpt.epoch == 1 and ckpt.metrics[0]["test_acc"] == 0.5
    assert sidecar(path).read_text().split()[0] == ckpt.sha256
    rebuilt = ckpt.build_model()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model.eval()(x))
    assert not list(path.parent.glob(".*tmp*"))  # no temporary files left behind


def test_truncated_checkpoint_is_caught_by_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    _save(path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or modified"):
        load_checkpoint(path)


def test_truncated_checkpoint_without_sidecar_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    _save(path)
    sidecar(path).unlink()
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "state_dict.pt"
    torch.save(build_model("cnn-fmnist-small").state_dict(), plain)
    with pytest.raises(CheckpointError, match="not a cnnf-bench checkpoint"):
        load_checkpoint(plain)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(text)

    evil = tmp_path / "evil.pt"
    torch.save({"format": "cnnf-bench-checkpoint", "obj": Path("/etc/passwd")}, evil)
    with pytest.raises(CheckpointError, match="refused by the safe loader"):
        load_checkpoint(evil)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_that_do_not_fit_are_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(
        path,
        {
            "model": {"name": "cnn-fmnist", "kwargs": {}},
            "state_dict": build_model("cnn-fmnist-small").state_dict(),
            "config": {},
        },
    )
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path).build_model()
