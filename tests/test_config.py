"""Configuration: YAML sections, unknown keys, validation, precedence and run names."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnf_bench.config import (
    RunConfig,
    apply_overrides,
    load_yaml,
    resolve,
    run_config_from_mapping,
    run_name,
)
from cnnf_bench.errors import ConfigError, UnknownNameError


def test_recipe_fills_the_originals_values_in_unit_scale() -> None:
    fm = resolve(RunConfig())
    assert (fm.train.eps, fm.train.step, fm.train.epochs, fm.train.clean_weight) == (0.1, 0.0355, 200, 0.1)
    assert fm.train.drop_last and not fm.train.augment
    cf = resolve(run_config_from_mapping({"model": "cnnf-cifar10"}))
    assert cf.train.eps == pytest.approx(8 / 255) and cf.train.step == 0.01 and cf.train.epochs == 500
    assert cf.train.augment and cf.model.cycles == 2 and cf.model.ind == 5


def test_cli_overrides_beat_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: cnn-fmnist}\ntrain: {epochs: 3, eps: 8/255}\nseed: 4\n")
    cfg = run_config_from_mapping(load_yaml(path))
    assert cfg.train.eps == pytest.approx(8 / 255)
    cfg = resolve(apply_overrides(cfg, {"train.epochs": 5, "seed": None}))
    assert (cfg.model.name, cfg.train.epochs, cfg.seed) == ("cnn-fmnist", 5, 4)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("train: {lrr: 0.1}", "unknown key .*lrr.*did you mean 'lr'"),
        ("trian: {lr: 0.1}", "unknown key.*trian"),
        ("train: {eps: -0.1}", "eps must be >= 0"),
        ("train: {eps: 2}", "must be <= 1"),
        ("train: {epochs: two}", "epochs must be int"),
        ("train: {mode: adverserial}", "did you mean 'adversarial'"),
        ("train: [1, 2]", "must be a mapping"),
        ("train: {lr: 0.1", "not valid YAML"),
    ],
)
def test_bad_yaml_is_a_one_line_config_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        resolve(run_config_from_mapping(load_yaml(path)))


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError, match="did you mean cnnf-fmnist"):
        resolve(run_config_from_mapping({"model": "cnnf-fmnst"}))


def test_model_dataset_mismatch_and_bad_encoder_depth() -> None:
    with pytest.raises(ConfigError, match="built for dataset fmnist"):
        resolve(run_config_from_mapping({"model": "cnnf-fmnist", "data": {"dataset": "cifar10"}}))
    with pytest.raises(ConfigError, match="encoder depth"):
        resolve(run_config_from_mapping({"model": {"name": "cnnf-fmnist", "ind": 7}}))


def test_run_name_marks_non_default_model_knobs() -> None:
    assert run_name(resolve(RunConfig())) == "cnnf-fmnist_adversarial_s0"
    cfg = resolve(run_config_from_mapping({"model": {"name": "cnnf-fmnist-small", "cycles": 3}, "seed": 2}))
    assert run_name(cfg) == "cnnf-fmnist-small-T3_adversarial_s2"
