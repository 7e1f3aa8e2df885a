"""Seeding, explicit random generators and device choice: randomness is never implicit."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from cnnf_bench.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; asking for CUDA without one is a usage error."""
    if name not in DEVICES:
        raise UsageError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python's and torch's global generators (used only for weight initialisation)."""
    random.seed(seed)
    torch.manual_seed(seed)


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


def derive_seed(*parts: int) -> int:
    """Combine integers into one 63-bit seed, so e.g. (seed, epoch) streams never overlap."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value ^ (part + 0x9E3779B97F4A7C15 + (value << 6) + (value >> 2))) & 0x7FFFFFFFFFFFFFFF
    return value


def rng_state() -> dict[str, Any]:
    """Global RNG states (Python, torch CPU, CUDA), as tensors and primitives for a checkpoint."""
    state: dict[str, Any] = {"python": list(random.getstate()[1]), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate((3, tuple(state["python"]), None))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def frozen_eval(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode with parameter gradients off (for attacks inside training), then restore both."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)


def configure_torch() -> None:
    """Process-wide numeric settings for speed: flush denormal floats to zero on the CPU.

    CNN-F's feedback pass produces many denormal numbers (tiny values from products of masks, norms
    and transposed weights), which x86 CPUs process up to 100x slower; flushing them changes values
    below 1e-38 only and makes CPU training about 2-3x faster. Idempotent.
    """
    torch.set_flush_denormal(True)


def describe_device(device: torch.device) -> str:
    """The GPU name, or the CPU model and torch's thread count, for benchmark records."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    import platform

    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
