"""Dataset discovery and loading through torchvision's readers, on tiny sets in the real formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnf_bench.data import load_split, seeded_subset
from cnnf_bench.errors import DataError
from tests.conftest import make_fashion


def test_fashion_from_gz_files_gives_uint8_nchw_and_float_batches(fashion_dir: Path) -> None:
    train = load_split("fmnist", True, fashion_dir)
    test = load_split("fmnist", False, fashion_dir)
    assert train.images.shape == (256, 1, 28, 28) and train.images.dtype == torch.uint8
    assert len(test) == 64 and test.labels.dtype == torch.int64
    x, y = train.batch(torch.arange(8))
    assert x.dtype == torch.float32 and x.min() >= 0.0 and x.max() <= 1.0 and y.shape == (8,)


def test_fashion_from_uncompressed_files_and_env_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_fashion(tmp_path / "plain", n_train=20, n_test=10, compress=False)
    monkeypatch.setenv("CNNF_BENCH_DATA", str(folder))
    assert len(load_split("fmnist", False)) == 10


def test_cifar_in_the_real_pickle_format(cifar_dir: Path) -> None:
    train = load_split("cifar10", True, cifar_dir)
    test = load_split("cifar10", False, cifar_dir)
    assert train.images.shape == (100, 3, 32, 32) and len(test) == 20
    assert train.spec.classes[0] == "airplane"
    assert load_split("cifar10", False, cifar_dir / "cifar-10-batches-py").images.shape == (20, 3, 32, 32)


@pytest.mark.parametrize("name", ["fmnist", "cifar10"])
def test_missing_dataset_is_one_error_listing_the_ways(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cnnf_bench.data as data

    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no-debian")
    with pytest.raises(DataError) as info:
        load_split(name, True, tmp_path)
    message = str(info.value)
    assert "not found" in message and "--data-dir" in message and "\n" not in message
    with pytest.raises(DataError, match="download"):
        load_split(name, True)


def test_missing_data_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_split("fmnist", True, tmp_path / "nope")


def test_seeded_subset_is_fixed_sorted_and_seed_dependent() -> None:
    a, b = seeded_subset(1000, 50, 0), seeded_subset(1000, 50, 0)
    assert torch.equal(a, b) and torch.equal(a, a.sort().values) and len(a.unique()) == 50
    assert not torch.equal(a, seeded_subset(1000, 50, 1))
    assert torch.equal(seeded_subset(10, None, 0), torch.arange(10))
