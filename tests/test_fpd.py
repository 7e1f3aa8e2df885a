"""FPD (Li et al. 2020): the denoise op, the shared-weight passes, the tanh bound, the gated training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cnnf_bench.checkpoint import load_checkpoint, sidecar
from cnnf_bench.checks import CheckSettings, Verdict
from cnnf_bench.checks.runner import run_checks
from cnnf_bench.cli import app
from cnnf_bench.config import resolve, run_config_from_mapping, run_name, to_dict
from cnnf_bench.data import load_split
from cnnf_bench.errors import CheckpointError, ConfigError
from cnnf_bench.train import fit
from cnnf_bench.train_fpd import build_fpd_optimizers, fpd_step
from cnnf_bench.zoo import MODELS, FPDNet, build_model, resolve_kwargs
from cnnf_bench.zoo.denoise import Denoise, gram_denoise, nonlocal_denoise

FPD_MODELS = [name for name, spec in MODELS.items() if spec.family == "fpd"]


def test_gram_denoise_equals_the_formula_by_hand() -> None:
    f = torch.tensor([[[[1.0, 2.0], [0.0, -1.0]], [[3.0, 0.5], [1.0, 2.0]]]])  # 1 x 2 channels x 2 x 2
    c, hw = 2, 4
    flat = f[0].reshape(c, hw)
    expected = torch.zeros(c, hw)
    for i in range(c):
        for p in range(hw):
            # sum_j G_ij F_jp with G_ij = sum_q F_iq F_jq, divided by H W
            expected[i, p] = sum(sum(flat[i, q] * flat[j, q] for q in range(hw)) * flat[j, p] for j in range(c)) / hw
    assert torch.allclose(gram_denoise(f), f + expected.reshape(1, c, 2, 2))
    # one channel: the term is x * mean(x^2), a scaled copy of the input (the middle layer on grey images)
    x = torch.rand(3, 1, 5, 5)
    assert torch.allclose(gram_denoise(x) - x, x * x.pow(2).mean(dim=(2, 3), keepdim=True), atol=1e-6)


def test_denoise_variants() -> None:
    f = torch.randn(2, 4, 3, 3)
    flat = f.reshape(2, 4, 9)
    by_hand = f + torch.einsum("ncp,npq->ncq", flat, flat.transpose(1, 2) @ flat).reshape(2, 4, 3, 3) / 9
    assert torch.allclose(nonlocal_denoise(f), by_hand, atol=1e-5)
    assert not list(Denoise("gram", 4).parameters()) and not list(Denoise("nonlocal", 4).parameters())
    bottleneck = Denoise("bottleneck", 4)
    assert list(bottleneck.parameters()) and torch.equal(bottleneck(f), f)  # zero-initialised output conv


@pytest.mark.parametrize("name", FPD_MODELS)
def test_fpd_models_build_run_and_offer_the_views(name: str) -> None:
    model = build_model(name).eval()
    x = torch.rand(2, *model.in_shape)
    out = model.run(x)
    assert out.restored.shape == x.shape and out.logits.shape == (2, 10)
    assert set(model.views()) == {"e2e", "first", "pre-tanh", "bpda"} and model.deployed_view() == "e2e"
    for view in model.views():
        z = x.clone().requires_grad_(True)
        model.view(view)(z).sum().backward()
        assert z.grad is not None and torch.isfinite(z.grad).all()
    twin = build_model(MODELS.get(name).baseline or "")
    extra = sum(p.numel() for p in [*model.restoration.parameters(), *model.denoisers.parameters()])
    assert model.num_unique_parameters() == twin.num_unique_parameters() + extra + sum(
        p.numel() for p in model.middle.parameters()
    )


def test_both_passes_use_the_very_same_parameters() -> None:
    model = build_model("fpd-fmnist")
    assert isinstance(model, FPDNet)
    calls: list[int] = []
    conv = model.backbone.net.units()[0].conv  # type: ignore[attr-defined]
    conv.register_forward_hook(lambda m, i, o: calls.append(id(m.weight)))
    x = torch.rand(3, 1, 28, 28)
    model.run(x)
    assert len(calls) == 2 and calls[0] == calls[1] == id(conv.weight)  # front and back pass, one weight
    # one copy of the backbone: the state dict holds the twin's keys once (under backbone.net.)
    twin_keys = set(build_model("cnn-fmnist").state_dict())
    backbone_keys = {k.removeprefix("backbone.net.") for k in model.state_dict() if k.startswith("backbone.net.")}
    assert backbone_keys == twin_keys
    # both passes contribute to the gradient of a backbone weight
    model.zero_grad()
    model.run(x).logits.sum().backward()
    both = conv.weight.grad.clone()  # type: ignore[union-attr]
    model.zero_grad()
    model.first(x).sum().backward()  # the front pass alone (no restoration, no back pass)
    assert not torch.allclose(both, conv.weight.grad)  # type: ignore[arg-type]


def test_logits_are_tanh_bounded_and_unbounded_with_the_option_off() -> None:
    torch.manual_seed(0)
    bounded = build_model("fpd-fmnist-small", resolve_kwargs("fpd-fmnist-small"))
    raw = build_model("fpd-fmnist-small", resolve_kwargs("fpd-fmnist-small", {"tanh": False}))
    raw.load_state_dict(bounded.state_dict())
    with torch.no_grad():
        for m in (bounded, raw):
            m.backbone.net.fc.fc.weight.mul_(1000.0)  # type: ignore[attr-defined, union-attr, operator]
        x = torch.rand(8, 1, 28, 28)
        out = bounded.run(x)
        assert out.logits.abs().max() <= 1.0 and out.pre_tanh.abs().max() > 1.0
        assert torch.equal(out.logits, torch.tanh(out.pre_tanh))
        assert torch.allclose(raw.run(x).logits, out.pre_tanh)
        assert torch.allclose(bounded.view("pre-tanh")(x), out.pre_tanh)


def _fpd_cfg(gate: float = 3.0, **train: object) -> object:
    return resolve(
        run_config_from_mapping(
            {
                "model": "fpd-fmnist-small",
                "data": {"train_subset": 64, "test_subset": 32},
                "train": {"mode": "standard", "epochs": 1, "batch_size": 32, "monitor_images": 16, **train},
                "fpd": {"gate": gate},
            }
        )
    )


def test_gate_closed_freezes_the_classifier_and_trains_the_restoration() -> None:
    torch.manual_seed(0)
    model = build_model("fpd-fmnist-small")
    assert isinstance(model, FPDNet)
    cfg = _fpd_cfg(gate=1e-9).fpd  # type: ignore[attr-defined]
    opts = build_fpd_optimizers(model, cfg)
    head = {id(p) for p in model.classifier_parameters()}
    assert head and all(id(p) not in head for g in opts[1].param_groups for p in g["params"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    x[:, :, 10:18, 10:18] = 1.0  # a shape to restore (an untrained restoration is never exact)
    parts, _ = fpd_step(model, opts, x, x, y, cfg)
    assert parts["gate_open"] == 0.0
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    head_names = {n for n, p in model.named_parameters() if id(p) in head}
    assert not changed & head_names  # the classifier head did not move
    assert any(n.startswith("restoration.") for n in changed)  # FPD_R did
    assert "backbone.net.conv1.conv.weight" in changed  # and FPD_FD (shared with FPD_BD)
    # with the gate open the head moves too
    open_cfg = _fpd_cfg(gate=1e9).fpd  # type: ignore[attr-defined]
    parts, _ = fpd_step(model, build_fpd_optimizers(model, open_cfg), x, x, y, open_cfg)
    assert parts["gate_open"] == 1.0
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n in head_names)


def test_fpd_config_resolution_and_knobs() -> None:
    cfg = _fpd_cfg()
    assert cfg.fpd is not None and cfg.model.denoise == "gram" and cfg.model.tanh is True  # type: ignore[attr-defined]
    assert run_name(cfg) == "fpd-fmnist-small_standard_s0"  # type: ignore[arg-type]
    cnn = resolve(run_config_from_mapping({"model": "cnn-fmnist", "fpd": {"gate": 1.0}}))
    assert cnn.fpd is None and "fpd" not in to_dict(cnn) and "denoise" not in to_dict(cnn)["model"]
    with pytest.raises(ConfigError, match="has no option 'cycles'"):
        resolve(run_config_from_mapping({"model": {"name": "fpd-fmnist", "cycles": 2}}))
    with pytest.raises(ConfigError, match=r"train\.mode must be one of standard, adversarial"):
        resolve(run_config_from_mapping({"model": "fpd-fmnist", "train": {"mode": "noise"}}))
    raw = resolve(run_config_from_mapping({"model": {"name": "fpd-fmnist", "tanh": False, "denoise": "nonlocal"}}))
    assert run_name(raw) == "fpd-fmnist-nonlocal-notanh_adversarial_s0"


def test_fpd_training_records_the_gate_and_restoration_per_epoch(fashion_dir: Path, tmp_path: Path) -> None:
    result = fit(_fpd_cfg(epochs=2), tmp_path / "run", torch.device("cpu"), data_dir=fashion_dir)  # type: ignore[arg-type]
    assert len(result.metrics) == 2
    for m in result.metrics:
        for key in ("loss", "mse1", "gate_open", "train_acc", "test_acc", "recon_mse_clean", "recon_mse_noisy"):
            assert key in m, key
        assert 0.0 <= m["gate_open"] <= 1.0
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.complete and set(ckpt.train_state or {}) >= {"optimizer", "optimizer_phase1", "rng"}
    assert isinstance(ckpt.build_model(), FPDNet)


def test_truncated_fpd_checkpoint_gives_the_clean_error(fashion_dir: Path, tmp_path: Path) -> None:
    fit(_fpd_cfg(), tmp_path / "run", torch.device("cpu"), data_dir=fashion_dir)  # type: ignore[arg-type]
    path = tmp_path / "run" / "checkpoint.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or modified"):
        load_checkpoint(path)
    sidecar(path).unlink()
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    out = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(path), "--attack", "none"])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "not a readable checkpoint" in out.output


def _train_cmd(out: Path, data: Path) -> list[str]:
    return [
        sys.executable, "-m", "cnnf_bench", "train", "--model", "fpd-fmnist-small", "--epochs", "3",
        "--mode", "adversarial", "--batch-size", "16", "--train-subset", "256", "--test-subset", "16",
        "--output-dir", str(out), "--data-dir", str(data), "--device", "cpu", "--resume",
        "--config", str(data.parent / "fpd.yaml"),
    ]  # fmt: skip


def test_fpd_resume_after_sigkill_reproduces_the_uninterrupted_weights(fashion_dir: Path, tmp_path: Path) -> None:
    (fashion_dir.parent / "fpd.yaml").write_text("model: fpd-fmnist-small\nfpd: {adv_delay: 2}\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight = CliRunner().invoke(app, _train_cmd(tmp_path / "a", fashion_dir)[3:])  # the same run, in-process
    assert straight.exit_code == 0, straight.output
    proc = subprocess.Popen(
        _train_cmd(tmp_path / "b", fashion_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    metrics = tmp_path / "b" / "fpd-fmnist-small_adversarial_s0" / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.exists() and metrics.read_text().count("\n") >= 1) and time.time() < deadline:
        time.sleep(0.05)
    # inside epoch 2: 16 batches of 16 images, long enough on a quiet CPU (with 4 batches a quiet machine
    # finished epoch 2 within the pause, and the test failed for that reason alone)
    time.sleep(0.1)
    assert proc.poll() is None, "training finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted = load_checkpoint(metrics.parent)
    assert interrupted.epoch == 1 and not interrupted.complete
    resumed = subprocess.run(_train_cmd(tmp_path / "b", fashion_dir), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1" in resumed.stdout
    a = load_checkpoint(tmp_path / "a" / "fpd-fmnist-small_adversarial_s0")
    b = load_checkpoint(metrics.parent)
    assert a.complete and b.complete and a.epoch == b.epoch == 3
    for key, value in a.state_dict.items():
        assert torch.equal(value, b.state_dict[key]), key
    assert [m["loss"] for m in a.metrics] == [m["loss"] for m in b.metrics]
    assert [m["adversarial"] for m in a.metrics] == [False, False, True]  # PGD joins after the delay


def _check_settings() -> CheckSettings:
    return CheckSettings(n=8, steps=3, restarts=1, batch_size=8, black_box_n=4, passes=2, batch1_n=4)


def test_the_checks_run_on_fpd_through_every_view_and_see_tanh_saturation(fashion_dir: Path) -> None:
    torch.manual_seed(0)
    model = build_model("fpd-fmnist-small").eval()
    x, y = load_split("fmnist", False, fashion_dir).batch(torch.arange(16))
    found = {r.check: r for r in run_checks(model, x, y, 0.3, _check_settings(), only=["C6", "C13"])}
    views = {"first", "e2e", "pre-tanh", "bpda"}
    assert set(found["C6"].details["accuracy"]) == views
    assert set(found["C13"].details["bad_fraction"]) == views
    # saturate tanh: the deployed logits' gradient vanishes, the pre-tanh one does not; C13 says so
    with torch.no_grad():
        model.backbone.net.fc.fc.weight.mul_(1e5)  # type: ignore[attr-defined, union-attr, operator]
    c13 = run_checks(model, x, y, 0.3, _check_settings(), only=["C13"])[0]
    assert c13.verdict is Verdict.FAIL
    assert c13.details["bad_fraction"]["e2e"] > 0 and c13.details["bad_fraction"]["pre-tanh"] == 0
