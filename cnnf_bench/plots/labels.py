"""True labels of the fixed evaluation subsets, which records do not store (confusion matrices need them).

Loading a dataset needs torch (the subset permutation is torch's), so the import happens inside the
returned function, only when a confusion matrix is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnf_bench.plots.confusion import LabelSource


def dataset_labels(data_dir: Path | None = None) -> LabelSource:
    """A :data:`LabelSource` that reads each test split once (same discovery as every command)."""
    cache: dict[tuple[str, int], np.ndarray] = {}

    def labels(dataset: str, subset_seed: int) -> np.ndarray:
        if (dataset, subset_seed) not in cache:
            from cnnf_bench.data import eval_indices, load_split

            test = load_split(dataset, False, data_dir)
            order = eval_indices(len(test), None, subset_seed)
            cache[(dataset, subset_seed)] = test.labels[order].numpy().astype(np.int64)
        return cache[(dataset, subset_seed)]

    return labels
