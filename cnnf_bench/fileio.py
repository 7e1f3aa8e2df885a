"""Torch-free file helpers: sha256 of a file, its sidecar path, writable folders and atomic writes.

Light commands (``report``, ``plot``, ``status``) write files too; they import this module rather than
:mod:`cnnf_bench.checkpoint`, which needs torch. Every write goes through a temporary file in the
target's folder and a rename; a write that fails (read-only folder, full disk) removes its temporary
file and raises a one-line error, leaving the previous file intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from cnnf_bench.errors import WriteError


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar(path: Path) -> Path:
    """Path of the sha256 sidecar of ``path``."""
    return path.with_name(path.name + ".sha256")


def fsync_replace(tmp: Path, target: Path) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def tmp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp{os.getpid()}")


def ensure_folder(folder: Path, what: str = "output folder") -> None:
    """Create ``folder`` if needed and prove it writable (a probe file), or raise a one-line WriteError.

    Run before long work so that a read-only place, or a file where the folder should be, fails at once
    (a permission check alone would miss read-only file systems and pass for root)."""
    folder = Path(folder)
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            raise WriteError(f"{what} {folder}: {parent} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".cnnf-bench-probe{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise WriteError(f"cannot write to {what} {folder}: {reason(exc)}") from None


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder and a rename.

    On failure the temporary file is removed, ``target`` keeps its old content, and a WriteError says why.
    """
    target = Path(target)
    if target.is_dir():
        raise WriteError(f"cannot write {target}: it is a folder; give a file path")
    tmp = tmp_path(target)
    try:
        tmp.write_bytes(data)
        fsync_replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise WriteError(f"cannot write {target}: {reason(exc)}; nothing was written") from None
