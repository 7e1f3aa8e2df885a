"""Shared fixtures: tiny datasets written in the real on-disk formats, an isolated cache, no downloads."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

FASHION_CLASSES = 10


def synthetic_images(n: int, channels: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable toy images: class c lights up a class-specific square, plus noise (uint8, NCHW)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % FASHION_CLASSES
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, channels, size, size)).astype(np.int32)
    cell = size // 5
    for i, c in enumerate(labels):
        r, q = divmod(int(c), 5)
        images[i, :, r * cell * 2 + 2 : r * cell * 2 + 2 + cell, q * cell : q * cell + cell] += 180
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """Write an IDX (LeCun) file: magic, big-endian dims, raw ubyte data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def make_fashion(folder: Path, n_train: int = 256, n_test: int = 64, compress: bool = True) -> Path:
    """The four Fashion-MNIST idx files (as Debian ships them: .gz) with synthetic content."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_images(n, 1, 28, seed)
        write_idx(folder / f"{split}-images-idx3-ubyte", images[:, 0], compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress)
    return folder


def make_cifar(folder: Path, per_batch: int = 20, n_test: int = 20) -> Path:
    """A small ``cifar-10-batches-py`` in the real pickle format (5 data batches, test, meta)."""
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)

    def dump(name: str, images: np.ndarray, labels: np.ndarray) -> None:
        entry = {
            "batch_label": name,
            "labels": [int(v) for v in labels],
            "data": images.reshape(len(images), -1),
            "filenames": [f"{name}_{i}.png" for i in range(len(images))],
        }
        with open(root / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)

    for b in range(1, 6):
        images, labels = synthetic_images(per_batch, 3, 32, seed=10 + b)
        dump(f"data_batch_{b}", images, labels)
    images, labels = synthetic_images(n_test, 3, 32, seed=99)
    dump("test_batch", images, labels)
    meta = {
        "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        "num_cases_per_batch": per_batch,
        "num_vis": 3072,
    }
    with open(root / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return folder


@pytest.fixture(autouse=True, scope="session")
def _isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Never download, never read the user's cache or data variable (for every fixture and test)."""
    saved = {k: os.environ.get(k) for k in ("CNNF_BENCH_NO_DOWNLOAD", "XDG_CACHE_HOME", "CNNF_BENCH_DATA")}
    os.environ["CNNF_BENCH_NO_DOWNLOAD"] = "1"
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.pop("CNNF_BENCH_DATA", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory, fashion_dir: Path) -> dict[str, Path]:
    """Two small trained checkpoints side by side (a CNN-F and its CNN baseline, seed 0), for attacks."""
    import torch

    from cnnf_bench.config import resolve, run_config_from_mapping, run_name
    from cnnf_bench.train import fit

    out = tmp_path_factory.mktemp("runs")
    runs = {}
    for name in ("cnn-fmnist-small", "cnnf-fmnist-small"):
        cfg = resolve(
            run_config_from_mapping(
                {"model": {"name": name, "cycles": 0 if name.startswith("cnn-") else 2},
                 "train": {"mode": "standard", "epochs": 3, "batch_size": 32}}
            )
        )  # fmt: skip
        runs[name] = fit(cfg, out / run_name(cfg), torch.device("cpu"), data_dir=fashion_dir).path
    return runs


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny Fashion-MNIST (256 train / 64 test images) as gzipped idx files."""
    return make_fashion(tmp_path_factory.mktemp("fashion"))


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny CIFAR-10 (100 train / 20 test images) in the python pickle format."""
    return make_cifar(tmp_path_factory.mktemp("cifar"))
