"""Training: the loss weights of reference 4.2, optimiser groups, schedule, learning, and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cnnf_bench.checkpoint import load_checkpoint
from cnnf_bench.config import resolve, run_config_from_mapping
from cnnf_bench.losses import adversarial_loss, standard_loss
from cnnf_bench.train import augment_flip_crop, build_optimizer, build_scheduler, fit
from cnnf_bench.zoo import build_model
from cnnf_bench.zoo.base import Trajectory


def _traj(batch: int, cycles: int, blocks: int, seed: int = 0) -> Trajectory:
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    return Trajectory(
        logits=[r(batch, 10) for _ in range(cycles + 1)],
        h0=r(batch, 3, 4, 4),
        blocks=[r(batch, 2, 2, 2) for _ in range(blocks)],
        recons=[r(batch, 3, 4, 4) for _ in range(cycles)],
        block_recons=[[r(batch, 2, 2, 2) for _ in range(blocks)] for _ in range(cycles)],
    )


def test_adversarial_loss_matches_reference_weights() -> None:
    b, c, m = 4, 0.1, 0.1
    traj, y = _traj(2 * b, cycles=1, blocks=2), torch.arange(b) % 10
    loss, parts = adversarial_loss(traj, y, c, m)
    v0, v1 = traj.logits
    ce = sum((c * F.cross_entropy(v[:b], y) + F.cross_entropy(v[b:], y)) / 4 for v in (v0, v1))
    rec = F.mse_loss(traj.recons[0][b:], traj.h0[:b]) + sum(
        F.mse_loss(g[b:], f[:b]) for g, f in zip(traj.block_recons[0], traj.blocks, strict=True)
    )
    assert loss.item() == pytest.approx((ce + m / 3 * rec).item(), rel=1e-6)
    assert parts["ce"] == pytest.approx(ce.item(), rel=1e-6)


def test_adversarial_loss_without_clean_term_and_standard_loss() -> None:
    b = 3
    traj, y = _traj(2 * b, cycles=2, blocks=3), torch.arange(b)
    loss, _ = adversarial_loss(traj, y, 0.05, 0.0, clean_loss=False)
    expected = sum(F.cross_entropy(v[b:], y) / 3 for v in traj.logits)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    traj, y = _traj(b, cycles=2, blocks=3), torch.arange(b)
    loss, _parts = standard_loss(traj, y, 0.1)
    ce = sum(F.cross_entropy(v, y) / 3 for v in traj.logits)
    rec = sum(
        F.mse_loss(r, traj.h0) + sum(F.mse_loss(g, f) for g, f in zip(gs, traj.blocks, strict=True))
        for r, gs in zip(traj.recons, traj.block_recons, strict=True)
    )
    assert loss.item() == pytest.approx((ce + 0.1 / (4 * 2) * rec).item(), rel=1e-6)


def test_fc_weights_get_the_doubled_weight_decay() -> None:
    cfg = resolve(run_config_from_mapping({}))
    model = build_model("cnnf-fmnist")
    opt = build_optimizer(model, cfg.train)
    rest, fc = opt.param_groups
    assert fc["weight_decay"] == pytest.approx(1e-3) and rest["weight_decay"] == pytest.approx(5e-4)
    assert {id(p) for p in fc["params"]} == {id(model.fc1.fc.weight), id(model.fc2.fc.weight), id(model.fc3.fc.weight)}


def test_poly_schedule_per_step() -> None:
    cfg = resolve(run_config_from_mapping({}))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    sched = build_scheduler(opt, cfg.train, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.05 and lrs[5] == pytest.approx(0.05 * 0.5**0.9) and opt.param_groups[0]["lr"] == 0.0


def test_augmentation_is_seeded_and_keeps_content() -> None:
    x = torch.rand(6, 3, 32, 32)
    a = augment_flip_crop(x, torch.Generator().manual_seed(1))
    b = augment_flip_crop(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    # every output row segment comes from the input (a crop of a possibly flipped, zero-padded image)
    assert ((a == 0) | torch.isin(a, x)).all()


def test_standard_training_learns_the_tiny_set(fashion_dir: Path, tmp_path: Path) -> None:
    cfg = resolve(
        run_config_from_mapping(
            {"model": "cnnf-fmnist-small", "train": {"mode": "standard", "epochs": 4, "batch_size": 32}}
        )
    )
    result = fit(cfg, tmp_path / "run", torch.device("cpu"), data_dir=fashion_dir)
    assert result.metrics[-1]["test_acc"] > 0.5  # chance is 0.1
    assert result.metrics[-1]["loss"] < result.metrics[0]["loss"]
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 4


def _train_cmd(out: Path, data: Path) -> list[str]:
    return [
        sys.executable, "-m", "cnnf_bench", "train", "--model", "cnnf-fmnist", "--epochs", "3",
        "--batch-size", "16", "--test-subset", "16", "--output-dir", str(out), "--data-dir", str(data),
        "--device", "cpu", "--resume",
    ]  # fmt: skip


def test_resume_after_sigkill_reproduces_the_uninterrupted_weights(fashion_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight = subprocess.run(_train_cmd(tmp_path / "a", fashion_dir), env=env, capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr

    proc = subprocess.Popen(
        _train_cmd(tmp_path / "b", fashion_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    metrics = tmp_path / "b" / "cnnf-fmnist_adversarial_s0" / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.exists() and metrics.read_text().count("\n") >= 1) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well inside epoch 2 (an epoch of 16 batches takes seconds)
    assert proc.poll() is None, "training finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted = load_checkpoint(metrics.parent)
    assert interrupted.epoch == 1 and not interrupted.complete

    resumed = subprocess.run(_train_cmd(tmp_path / "b", fashion_dir), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1" in resumed.stdout
    a = load_checkpoint(tmp_path / "a" / "cnnf-fmnist_adversarial_s0")
    b = load_checkpoint(metrics.parent)
    assert a.complete and b.complete and a.epoch == b.epoch == 3
    for key, value in a.state_dict.items():
        assert torch.equal(value, b.state_dict[key]), key
    assert [m["loss"] for m in a.metrics] == [m["loss"] for m in b.metrics]


def test_reconstruction_weights_scale_their_own_terms() -> None:
    b = 3
    traj, y = _traj(b, cycles=2, blocks=2), torch.arange(b)
    base, _ = standard_loss(traj, y, 0.1)
    same, _ = standard_loss(traj, y, 0.1, recon_weight=1.0, block_weight=1.0)
    assert same.item() == base.item()  # weights of 1 are bit-identical to the original loss
    pixel = sum(F.mse_loss(r, traj.h0) for r in traj.recons)
    blocks = sum(F.mse_loss(g, f) for gs in traj.block_recons for g, f in zip(gs, traj.blocks, strict=True))
    ce = sum(F.cross_entropy(v, y) / 3 for v in traj.logits)
    weighted, _ = standard_loss(traj, y, 0.1, recon_weight=5.0, block_weight=0.0)
    assert weighted.item() == pytest.approx((ce + 0.1 / (3 * 2) * 5.0 * pixel).item(), rel=1e-6)
    assert blocks.item() > 0


def test_training_records_restoration_per_epoch(tmp_path: Path, fashion_dir: Path) -> None:
    cfg = resolve(
        run_config_from_mapping(
            {
                "model": {"name": "cnnf-fmnist-small", "cycles": 2},
                "data": {"train_subset": 64, "test_subset": 32},
                "train": {
                    "mode": "standard",
                    "epochs": 1,
                    "batch_size": 32,
                    "optimizer": "adam",
                    "lr": 1e-3,
                    "monitor_images": 16,
                },
            }
        )
    )
    result = fit(cfg, tmp_path / "run", torch.device("cpu"), data_dir=fashion_dir)
    (epoch,) = result.metrics
    kinds = {s["kind"]: s for s in epoch["restoration"]}
    assert set(kinds) == {"clean", "gaussian-noise", "shot-noise", "blur"}
    clean, noisy = kinds["clean"], kinds["gaussian-noise"]
    assert clean["input_mse"] == 0.0 and noisy["input_mse"] > 0.0
    assert len(noisy["recon_mse"]) == 2 and len(noisy["accuracy"]) == 3 and noisy["n"] == 16
    assert epoch["recon_mse_noisy"] == noisy["recon_mse"][-1]
