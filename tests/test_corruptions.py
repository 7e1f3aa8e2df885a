"""Common corruptions: deterministic for a seed, in [0, 1], they change the image and get stronger with
severity; as a view-free "attack" they are stored honestly (eps 1, protocol label, target "-")."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from cnnf_bench.attacks import ATTACKS
from cnnf_bench.attacks.corruptions import CORRUPTIONS, SEVERITIES, UNBOUNDED_EPS, Corruption, corrupt
from cnnf_bench.errors import ConfigError, UnknownNameError
from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint
from cnnf_bench.results import ResultsStore
from cnnf_bench.suite import param_grid
from tests.conftest import synthetic_images

KINDS = CORRUPTIONS.names()


def _images() -> torch.Tensor:
    """Sixteen Fashion-like test images (dark background, bright class squares, texture) in [0, 1]."""
    images, _ = synthetic_images(16, 1, 28, seed=3)
    return torch.from_numpy(images).float() / 255.0


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_kinds_of_the_paper_and_the_poster_are_there() -> None:
    assert {"gaussian-noise", "shot-noise", "blur", "dotted-line", "contrast"} <= set(KINDS)
    assert all(len(CORRUPTIONS.get(k).levels) == SEVERITIES for k in KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_for_a_seed_and_in_range(kind: str) -> None:
    x = _images()
    for severity in range(1, SEVERITIES + 1):
        a = corrupt(x, kind, severity, _gen(7))
        b = corrupt(x, kind, severity, _gen(7))
        assert torch.equal(a, b)
        assert a.shape == x.shape and a.dtype == x.dtype
        assert torch.isfinite(a).all() and float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(x, _images()), "the input must not be modified in place"


@pytest.mark.parametrize("kind", KINDS)
def test_changes_the_image_and_gets_stronger_with_severity(kind: str) -> None:
    x = _images()
    distances = [float((corrupt(x, kind, s, _gen(0)) - x).abs().mean()) for s in range(1, SEVERITIES + 1)]
    assert distances[0] > 1e-3, distances
    assert all(a < b for a, b in itertools.pairwise(distances)), distances


@pytest.mark.parametrize("kind", ["gaussian-noise", "shot-noise", "impulse-noise", "dotted-line"])
def test_random_kinds_depend_on_the_seed(kind: str) -> None:
    x = _images()
    assert not torch.equal(corrupt(x, kind, 3, _gen(0)), corrupt(x, kind, 3, _gen(1)))


def test_dotted_line_draws_white_dots_and_adds_lines_with_severity() -> None:
    x = torch.zeros(4, 1, 28, 28)
    masks = [corrupt(x, "dotted-line", s, _gen(0)) > 0 for s in range(1, SEVERITIES + 1)]
    assert all(bool(m.any(dim=(1, 2, 3)).all()) for m in masks), "every image gets a line"
    assert all(bool((a <= b).all()) for a, b in itertools.pairwise(masks)), "lines are only added"
    assert set(corrupt(x, "dotted-line", 5, _gen(0)).unique().tolist()) == {0.0, 1.0}


def test_bad_kind_and_severity_are_one_line_errors() -> None:
    with pytest.raises(UnknownNameError, match="did you mean blur"):
        corrupt(_images(), "blurr", 1, _gen())
    for severity in (0, SEVERITIES + 1):
        with pytest.raises(ConfigError, match="severity"):
            Corruption.from_params({"kind": "blur", "severity": severity})


def test_the_attack_is_view_free_and_not_an_eps_ball() -> None:
    cls = ATTACKS.get("corruption")
    assert cls is Corruption and not cls.uses_view
    attack = Corruption.from_params({"eps": 0.1, "kind": "contrast", "severity": 2})  # a protocol's eps
    assert attack.eps == UNBOUNDED_EPS and attack.params()["kind"] == "contrast"
    with pytest.raises(ConfigError, match="always 1"):
        Corruption(eps=0.1)


def test_param_grid_expands_list_valued_parameters() -> None:
    grid = param_grid({"kind": ["blur", "contrast"], "severity": [1, 3], "fixed": 2})
    assert grid == [
        {"kind": "blur", "severity": 1, "fixed": 2},
        {"kind": "blur", "severity": 3, "fixed": 2},
        {"kind": "contrast", "severity": 1, "fixed": 2},
        {"kind": "contrast", "severity": 3, "fixed": 2},
    ]
    assert param_grid({"steps": 40}) == [{"steps": 40}]


def test_evaluated_and_stored_like_an_attack(tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path) -> None:
    request = EvalRequest(
        attack="corruption",
        params={"kind": "contrast", "severity": 5},
        targets=("first", "e2e"),
        n=32,
        batch_size=16,
        protocol="corruptions",
    )
    ckpt = tiny_runs["cnnf-fmnist-small"]
    first = evaluate_checkpoint(ckpt, request, ResultsStore(tmp_path / "a.jsonl"), data_dir=fashion_dir)
    again = evaluate_checkpoint(ckpt, request, ResultsStore(tmp_path / "b.jsonl"), data_dir=fashion_dir)
    (record,) = first
    assert record["target"] == "-" and record["eps"] == UNBOUNDED_EPS and record["protocol"] == "corruptions"
    assert record["params"] == {"eps": UNBOUNDED_EPS, "kind": "contrast", "severity": 5}
    assert 0.0 < record["max_linf"] <= 1.0
    assert record["correct"] == again[0]["correct"] and record["predictions"] == again[0]["predictions"]
    clean = evaluate_checkpoint(ckpt, EvalRequest(attack="none", n=32, batch_size=16), None, data_dir=fashion_dir)
    assert record["predictions"] != clean[0]["predictions"], "contrast 0.05 changes some prediction"
