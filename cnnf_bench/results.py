"""Append-only JSONL results store, safe for concurrent writer processes (no torch: the report imports it).

One line is one record (schema in ``docs/results-schema.md``). Records are never rewritten: a forced
re-run appends a new line with the same ``key`` and :meth:`ResultsStore.latest` keeps the last one. A
crash can leave a truncated last line; readers skip it with a warning and writers terminate it first,
so a broken line never costs another record. A file whose first line is not a JSON record (a
checkpoint, a CSV, any binary file) is not a store: it is neither read nor appended to. A failed append
(full disk, I/O error) is rolled back to the previous length, so it leaves no partial record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from cnnf_bench.errors import ResultsError

LOCK_TIMEOUT_S = 120.0
"""How long an append waits for another writer; appends hold the lock only for one read and one write."""


def record_key(identity: dict[str, Any]) -> str:
    """Sha1 hex of the canonical JSON of ``identity``, so equal identities get equal keys whatever the key order."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()


class ResultsStore:
    """A JSONL file of records, each with a string ``key``; appends are atomic across processes."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self.warnings: list[str] = []
        """One line per record skipped by the most recent read (truncated or corrupt lines)."""

    @property
    def path(self) -> Path:
        """The JSONL file (it need not exist yet)."""
        return self._path

    def _read_bytes(self) -> bytes | None:
        """The whole file, or None when it does not exist; anything else unreadable is a ResultsError."""
        try:
            return self._path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise ResultsError(f"results store {self._path} is a directory, not a file") from None
        except OSError as exc:
            raise ResultsError(f"cannot read results store {self._path}: {exc.strerror or exc}") from None

    def _check_jsonl(self, data: bytes) -> None:
        """Raise a ResultsError unless ``data`` looks like a JSONL store: its first non-blank line starts
        like a JSON record (``{"``) and holds no NUL byte. A record cut short by a crash still does; a
        checkpoint, an archive, a CSV or a JSON array does not."""
        first = data.lstrip(b" \t\r\n").partition(b"\n")[0]
        if first and (not first.startswith(b'{"') or b"\x00" in first):
            raise ResultsError(
                f"{self._path} is not a JSONL results store (its first line is not a JSON record); "
                "nothing was read or written"
            )

    def _parse(self, data: bytes) -> tuple[list[dict[str, Any]], list[str]]:
        """Valid records in file order, and one warning per skipped line."""
        records: list[dict[str, Any]] = []
        warnings: list[str] = []
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                warnings.append(f"{self._path} line {number}: skipped an unreadable (truncated?) record")
                continue
            if not isinstance(record, dict):
                warnings.append(f"{self._path} line {number}: skipped a line that is not a JSON object")
            elif not isinstance(record.get("key"), str):
                warnings.append(f"{self._path} line {number}: skipped a record without a string 'key'")
            else:
                records.append(record)
        return records, warnings

    def records(self) -> list[dict[str, Any]]:
        """All valid records in file order; skipped lines are described in :attr:`warnings`."""
        data = self._read_bytes()
        if data is None:
            self.warnings = []
            return []
        self._check_jsonl(data)
        records, self.warnings = self._parse(data)
        return records

    def latest(self) -> list[dict[str, Any]]:
        """One record per key, the last occurrence (a forced re-run supersedes), in order of last occurrence."""
        by_key: dict[str, dict[str, Any]] = {}
        for record in self.records():
            by_key.pop(record["key"], None)
            by_key[record["key"]] = record
        return list(by_key.values())

    def to_frame(self, bits: bool = False) -> Any:
        """The latest records as a tidy pandas DataFrame, one row per record (:mod:`cnnf_bench.frame`)."""
        from cnnf_bench.frame import records_frame

        return records_frame(self.latest(), bits)

    def keys(self) -> set[str]:
        """Keys of all valid records."""
        return {record["key"] for record in self.records()}

    def has(self, key: str) -> bool:
        """Whether a valid record with ``key`` is stored."""
        return key in self.keys()

    def append(self, record: dict[str, Any], force: bool = False) -> bool:
        """Append ``record`` unless its key is already stored (or ``force``); True when it was written.

        The key check and the write happen under one file lock, so concurrent writers never store the
        same key twice unless forced. The line is fsynced before returning, so a reported result survives
        a crash.
        """
        key = record.get("key")
        if not isinstance(key, str):
            raise ResultsError("a results record needs a string 'key' field")
        try:
            line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ResultsError(f"record {key} cannot be stored as JSON: {exc}") from None
        if self._path.is_dir():
            raise ResultsError(f"results store {self._path} is a directory, not a file")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError(
                f"cannot create the folder of results store {self._path}: {exc.strerror or exc}"
            ) from None
        try:
            with FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_S):
                data = self._read_bytes()
                if data:
                    self._check_jsonl(data)
                    existing, _ = self._parse(data)
                    if not force and any(r["key"] == key for r in existing):
                        return False
                    if not data.endswith(b"\n"):
                        line = b"\n" + line  # end a truncated last line so this record starts on its own
                self._write(line)
        except Timeout:
            raise ResultsError(
                f"results store {self._path} stayed locked for {LOCK_TIMEOUT_S:.0f} s (lock file {self._lock_path})"
            ) from None
        except OSError as exc:
            raise ResultsError(
                f"cannot write results store {self._path}: {exc.strerror or exc}; the record was not stored"
            ) from None
        return True

    def _write(self, payload: bytes) -> None:
        """Append ``payload`` and fsync it; on any failure cut the file back to its previous length."""
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except BaseException:
                with contextlib.suppress(OSError):  # best effort: the original error is what counts
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                raise
        finally:
            os.close(fd)
