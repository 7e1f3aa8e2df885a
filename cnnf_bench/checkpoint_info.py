"""A checkpoint's training progress (epoch, complete) read without torch, for ``status``.

``torch.save`` writes a zip archive whose ``data.pkl`` entry is the pickled payload; the tensors live
in other entries and are only referenced from the pickle. Everything ``status`` needs (the format
marker and version, ``epoch`` and ``complete``) is plain data inside that pickle, so it is read with an
unpickler that never imports or calls anything: every global the pickle names (torch's tensor
rebuilders, ``OrderedDict``) becomes an inert placeholder and tensor references become None. This
reads the very bytes :func:`cnnf_bench.checkpoint.load_checkpoint` reads, after the same sha256 check,
without torch's ~3 s import. A file that is not a zip archive (a pre-1.6 torch format) is reported as
such so that the caller can fall back to the full loader.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

from cnnf_bench.errors import CheckpointError
from cnnf_bench.fileio import reason, sha256_file, sidecar

FORMAT = "cnnf-bench-checkpoint"
FORMAT_VERSION = 1
_DIGEST = re.compile(rb"^[0-9a-f]{64}$")


class NotAnArchive(Exception):
    """The file is not a zip archive: only torch itself can say what it is."""


def sidecar_digest(side: Path) -> str:
    """The digest a sidecar holds, or a CheckpointError when it is unreadable or not a sha256 sidecar."""
    try:
        raw = side.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {side}: {reason(exc)}") from None
    first = raw.split()[0] if raw.split() else b""
    if not _DIGEST.match(first):
        raise CheckpointError(
            f"{side} is not a sha256 sidecar (expected '<64 hex digits>  {side.name[: -len('.sha256')]}'); "
            "restore it, or remove it to load the checkpoint unverified"
        )
    return first.decode("ascii")


def verified_digest(path: Path) -> str:
    """The file's sha256, checked against its sidecar when there is one (a mismatch is a CheckpointError)."""
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    side = sidecar(path)
    if side.is_file() and sidecar_digest(side) != digest:
        raise CheckpointError(f"checkpoint {path} is truncated or modified: its sha256 does not match {side.name}")
    return digest


class _Inert:
    """Stands for any object the pickle builds from a global: accepts every construction step, does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs

    def __setstate__(self, state: Any) -> None:
        del state

    def __setitem__(self, key: Any, value: Any) -> None:
        del key, value

    def append(self, value: Any) -> None:
        del value

    def extend(self, values: Any) -> None:
        del values


class _InertUnpickler(pickle.Unpickler):
    """Builds primitives as they are and every global as :class:`_Inert` (no module is imported)."""

    def find_class(self, module: str, name: str) -> Any:
        del module, name
        return _Inert

    def persistent_load(self, pid: Any) -> Any:
        del pid
        return None


def read_payload(path: Path) -> dict[str, Any]:
    """The checkpoint's pickled payload with tensors and torch objects left out (see the module doc)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise NotAnArchive(str(path)) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {reason(exc)}") from None
    with archive:
        names = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(names) != 1:
            raise CheckpointError(f"{path} is not a cnnf-bench checkpoint (no single data.pkl in the archive)")
        try:
            raw = _InertUnpickler(io.BytesIO(archive.read(names[0]))).load()
        except Exception as exc:  # a damaged pickle fails in many ways; all mean "unreadable"
            detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): {detail}") from None
    return checked_payload(raw, path)


def checked_payload(raw: Any, path: Path) -> dict[str, Any]:
    """``raw`` if it is a cnnf-bench checkpoint payload this version can read (the torch loader and the
    torch-free reader apply the same test, so ``status`` and ``evaluate`` never disagree on a file)."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a cnnf-bench checkpoint (no '{FORMAT}' marker)")
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}; this cnnf-bench reads up to {FORMAT_VERSION}"
        )
    return raw


def training_progress(path: Path) -> tuple[int, bool]:
    """``(epoch, complete)`` of a checkpoint, verified against its sidecar, without importing torch.

    Raises CheckpointError for a damaged or foreign file and NotAnArchive for a file torch must judge.
    """
    verified_digest(path)
    raw = read_payload(path)
    try:
        return int(raw.get("epoch", 0)), bool(raw.get("complete", False))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is a damaged cnnf-bench checkpoint ({exc})") from None
