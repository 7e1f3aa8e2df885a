"""Per-example correctness flags packed into compact base64 strings (numpy only, no torch)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np


def pack_bits(flags: Sequence[bool] | np.ndarray) -> str:
    """Pack booleans 8 per byte, most significant bit first, base64-encoded."""
    array = np.asarray(flags, dtype=bool)
    return base64.b64encode(np.packbits(array).tobytes()).decode("ascii")


def unpack_bits(text: str, n: int) -> np.ndarray:
    """Inverse of :func:`pack_bits` for ``n`` flags."""
    raw = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8)
    flags = np.unpackbits(raw)[:n].astype(bool)
    if flags.shape[0] != n:
        raise ValueError(f"packed flags hold {flags.shape[0]} values, expected {n}")
    return flags


def unpack_labels(text: str, n: int) -> np.ndarray:
    """Decode a record's ``predictions``: one uint8 class label per example."""
    labels = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8)
    if labels.shape[0] != n:
        raise ValueError(f"packed labels hold {labels.shape[0]} values, expected {n}")
    return labels.astype(np.int64)
