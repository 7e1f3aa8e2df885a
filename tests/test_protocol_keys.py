"""Issue 9 items 3 and 6: the protocol is part of a record's key, and the strong protocol adds margin PGD."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from cnnf_bench.attacks.pgd import PGD, input_gradient
from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint, legacy_key
from cnnf_bench.protocols import attack_settings, attack_variants
from cnnf_bench.report import build_tables
from cnnf_bench.results import ResultsStore, record_key
from tests.test_cli import _ok

#: the params of every PGD record stored before ``loss`` existed (paper protocol, Fashion-MNIST)
PAPER_PGD = {"eps": 0.1, "step_size": 0.0355, "steps": 7, "random_start": True, "restarts": 1, "track_best": False}


def test_cross_entropy_pgd_keeps_its_params_and_key() -> None:
    params, _ = attack_settings("paper", "pgd", "fmnist")
    assert PGD(**params).params() == PAPER_PGD  # no "loss" field: existing records keep their keys
    strong = [PGD(**p).params() for p, _ in attack_variants("strong", "pgd", "fmnist")]
    assert strong[0] == {"eps": 0.1, "steps": 40, "step_size": 0.0125, "random_start": True, "restarts": 5,
                         "track_best": True}  # fmt: skip
    assert strong[1] == {**strong[0], "loss": "margin"}
    # an explicit loss leaves one variant; the paper protocol has one anyway
    assert len(attack_variants("strong", "pgd", "fmnist", {"loss": "ce"})) == 1
    assert [p.get("loss") for p, _ in attack_variants("strong", "pgd", "fmnist", {"loss": "margin"})] == ["margin"]
    assert len(attack_variants("paper", "pgd", "fmnist")) == 1
    assert len(attack_variants("strong", "fgsm", "fmnist")) == 1


def test_margin_loss_gradient_of_a_linear_model() -> None:
    """For logits W x the margin's input gradient is W[best wrong] - W[true], whatever the scale."""
    weight = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]])
    x = torch.tensor([[0.3, 0.1], [0.2, 0.9]])
    y = torch.tensor([0, 0])
    grad, _ = input_gradient(lambda v: v @ weight.T, x, y, "margin")
    # example 0: logits (0.3, 0.2, -0.2): best wrong class 1; example 1: (0.2, 1.8, 0.7): class 1
    assert torch.allclose(grad, torch.stack([weight[1] - weight[0], weight[1] - weight[0]]))
    ce, _ = input_gradient(lambda v: v @ weight.T, x, y)
    assert not torch.allclose(ce, grad)


def _evaluate(tiny: Path, results: Path, fashion_dir: Path, *extra: str) -> str:
    args = ["evaluate", "--checkpoint", str(tiny), "--results", str(results), "--data-dir", str(fashion_dir)]
    return _ok([*args, "--n", "16", *extra])


def test_item3_protocols_do_not_share_records(tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path) -> None:
    """Clean and FGSM stored under `paper` made the same runs under `--protocol strong` print "already in",
    so the strong table had no Clean; with --force the clean record moved tables."""
    results = tmp_path / "r.jsonl"
    tiny = tiny_runs["cnn-fmnist-small"]
    for attack in ("none", "fgsm"):
        assert "stored in" in _evaluate(tiny, results, fashion_dir, "--attack", attack)
        assert "stored in" in _evaluate(tiny, results, fashion_dir, "--attack", attack, "--protocol", "strong")
        assert "already in" in _evaluate(tiny, results, fashion_dir, "--attack", attack, "--protocol", "strong")
    _evaluate(tiny, results, fashion_dir, "--attack", "none", "--force")
    tables = {t.protocol: t for t in build_tables(ResultsStore(results).latest())}
    for protocol in ("paper", "strong"):
        assert tables[protocol].columns == ["Clean", "FGSM (e2e)"]  # the default target: the deployed function
        assert tables[protocol].cell("CNN", "Clean").defined
    records = ResultsStore(results).records()
    assert len({r["key"] for r in records}) == 4 and len(records) == 5


def test_records_stored_under_the_old_key_are_recognised(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "r.jsonl"
    request = EvalRequest(attack="none", n=16, targets=("first",))
    (record,) = evaluate_checkpoint(tiny_runs["cnn-fmnist-small"], request, ResultsStore(results), "cpu", fashion_dir)
    identity = {
        "checkpoint": record["checkpoint"]["sha256"],
        "cycles": 0,
        "protocol": "paper",
        "attack": "none",
        "params": record["params"],
        "attack_seed": 0,
        "subset": record["subset"],
        "source": None,
        "target": "-",
        "readout": record["readout"],
    }
    assert record["key"] == record_key(identity)
    old = {**record, "key": legacy_key(identity)}  # as an earlier cnnf-bench stored it
    results.write_text(json.dumps(old) + "\n")
    store = ResultsStore(results)
    assert evaluate_checkpoint(tiny_runs["cnn-fmnist-small"], request, store, "cpu", fashion_dir) == []
    strong = EvalRequest(attack="none", n=16, targets=("first",), protocol="strong")
    assert len(evaluate_checkpoint(tiny_runs["cnn-fmnist-small"], strong, store, "cpu", fashion_dir)) == 1


def test_strong_pgd_runs_cross_entropy_and_margin(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "r.jsonl"
    tiny = tiny_runs["cnnf-fmnist-small"]
    out = _evaluate(tiny, results, fashion_dir, "--attack", "pgd", "--protocol", "strong", "-t", "e2e-avg",
                    "--steps", "3", "--restarts", "1", "--readout", "avg")  # fmt: skip
    assert "pgd (e2e-avg)" in out and "pgd-margin (e2e-avg)" in out
    records = ResultsStore(results).records()
    assert [r["params"].get("loss") for r in records] == [None, "margin"]
    assert all(r["params"]["steps"] == 3 and r["protocol"] == "strong" for r in records)
    (table,) = build_tables(records)
    assert table.columns == ["Clean", "PGD (e2e-avg)", "PGD-margin (e2e-avg)"]
    assert "margin loss" in table.strength
    again = _evaluate(tiny, results, fashion_dir, "--attack", "pgd", "--protocol", "strong", "-t", "e2e-avg",
                      "--steps", "3", "--restarts", "1", "--readout", "avg")  # fmt: skip
    assert "already in" in again
