"""Automatic mixed precision for the benchmark scripts (``--amp bf16``): an autocast context or nothing."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

AMP_CHOICES = ("off", "bf16")


def amp_context(device: torch.device, amp: str) -> Any:
    """``torch.autocast`` in bfloat16 on ``device`` for ``amp == "bf16"`` (no gradient scaler needed), else
    a no-op context."""
    if amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
