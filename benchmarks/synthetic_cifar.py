"""Write a synthetic CIFAR-10 in the real on-disk format (``cifar-10-batches-py``), for throughput runs.

Usage:
    uv run python benchmarks/synthetic_cifar.py DIR [--per-batch 2000] [--test 1000]

Random uint8 images and labels, pickled exactly like the python version of CIFAR-10 (5 data batches,
``test_batch``, ``batches.meta``), so ``--data-dir DIR`` / ``CNNF_BENCH_DATA=DIR`` reads them through the
real loader. Speed does not depend on the pixels; accuracies on this data mean nothing.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write(folder: Path, per_batch: int, n_test: int, seed: int = 0) -> Path:
    """``folder/cifar-10-batches-py`` with 5 x ``per_batch`` training and ``n_test`` test images."""
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def dump(name: str, n: int) -> None:
        entry = {
            "batch_label": name,
            "labels": [int(v) for v in rng.integers(0, 10, n)],
            "data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
            "filenames": [f"{name}_{i}.png" for i in range(n)],
        }
        with open(root / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)

    for b in range(1, 6):
        dump(f"data_batch_{b}", per_batch)
    dump("test_batch", n_test)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({"label_names": LABELS, "num_cases_per_batch": per_batch, "num_vis": 3072}, f, protocol=2)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--per-batch", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args()
    print(write(args.folder, args.per_batch, args.test))


if __name__ == "__main__":
    main()
