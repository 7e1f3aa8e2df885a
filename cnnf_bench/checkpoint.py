"""Self-describing checkpoints: tensors and primitives only, atomic writes, a sha256 sidecar.

A checkpoint holds the model's registry name and constructor arguments, its weights, the resolved
training config, per-epoch metrics, a format marker and version, and (for ``--resume``) the optimizer,
scheduler and RNG states. It loads with ``torch.load(weights_only=True)``; the sidecar
``<file>.sha256`` (``sha256sum -c`` format) catches truncated or modified files before unpickling.
Every write goes through a temporary file in the target's folder and a rename; a write that fails
(read-only folder, full disk) removes its temporary file and raises a one-line error, leaving the
previous file intact.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnf_bench.checkpoint_info import FORMAT, FORMAT_VERSION, checked_payload, verified_digest
from cnnf_bench.errors import CheckpointError
from cnnf_bench.fileio import atomic_write_bytes, ensure_folder, fsync_replace, reason, sha256_file, sidecar, tmp_path

__all__ = ["Checkpoint", "atomic_write_bytes", "ensure_folder", "load_checkpoint", "save_checkpoint", "sha256_file"]

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class Checkpoint:
    """A loaded checkpoint."""

    path: Path
    model_name: str
    model_kwargs: dict[str, Any]
    state_dict: dict[str, Tensor]
    config: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    epoch: int = 0
    complete: bool = False
    train_state: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    sha256: str = ""

    def build_model(self, device: torch.device | str = "cpu") -> Any:
        """The model with these weights, in evaluation mode, on ``device``."""
        from cnnf_bench.zoo import build_model

        try:
            model = build_model(self.model_name, self.model_kwargs)
        except Exception as exc:
            raise CheckpointError(f"{self.path}: cannot rebuild model {self.model_name!r}: {exc}") from None
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in first[1:3]) if len(first) > 1 else first[0]
            raise CheckpointError(f"{self.path}: weights do not fit model {self.model_name}: {detail}") from None
        return model.to(device).eval()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> str:
    """Write ``payload`` (plus format marker) atomically to ``path`` with its sidecar; return its sha256.

    Both files are written to temporary files first; only when both are complete are they renamed into
    place, so a full disk or an I/O error leaves the previous checkpoint and sidecar as they were (and
    no temporary file) and raises a CheckpointError.
    """
    ensure_folder(path.parent, "checkpoint folder")
    tmp, side_tmp = tmp_path(path), tmp_path(sidecar(path))
    try:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, tmp)
        digest = sha256_file(tmp)
        side_tmp.write_bytes(f"{digest}  {path.name}\n".encode())
        with open(side_tmp, "rb") as f:
            os.fsync(f.fileno())
        fsync_replace(tmp, path)
        fsync_replace(side_tmp, sidecar(path))
    except Exception as exc:  # torch.save reports a full disk as a RuntimeError of its zip writer
        for leftover in (tmp, side_tmp):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        raise CheckpointError(f"cannot save checkpoint {path}: {reason(exc)}; the previous one is unchanged") from None
    return digest


def resolve_checkpoint_path(path: Path) -> Path:
    """Accept a checkpoint file or a run folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint, raising a one-line :class:`CheckpointError` on any problem."""
    path = resolve_checkpoint_path(path)
    digest = verified_digest(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about foreign pickle protocols before failing
            raw = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        marker = "WeightsUnpickler error:"
        reason = text.split(marker, 1)[1] if marker in text else text
        reason = reason.strip().split(". ")[0][:200]
        raise CheckpointError(f"{path} is not a cnnf-bench checkpoint (refused by the safe loader: {reason})") from None
    except Exception as exc:  # garbage bytes make the unpickler fail in many ways; all mean "unreadable"
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): {reason}") from None
    raw = checked_payload(raw, path)
    try:
        return Checkpoint(
            path=path,
            model_name=raw["model"]["name"],
            model_kwargs=dict(raw["model"]["kwargs"]),
            state_dict=raw["state_dict"],
            config=raw["config"],
            metrics=list(raw.get("metrics", [])),
            epoch=int(raw.get("epoch", 0)),
            complete=bool(raw.get("complete", False)),
            train_state=raw.get("train_state"),
            versions=dict(raw.get("versions", {})),
            sha256=digest,
        )
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} is a damaged cnnf-bench checkpoint (missing {exc})") from None
