"""A folder of per-job result shards read as one store, and the merge of its shards into one JSONL file.

A sharded suite writes each job's records to its own JSONL file (``jobs/*/records.jsonl``) and each
check job's verdicts to ``jobs/*/checks.jsonl`` under the suite's results folder; ``report``, ``plot``
and ``check`` accept that folder wherever they accept a store. No torch: ``report`` imports this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnf_bench.errors import ResultsError
from cnnf_bench.results import ResultsStore

RECORDS = "records.jsonl"
CHECKS = "checks.jsonl"


class ShardedStore:
    """Read-only view of every shard named ``name`` under ``root``, with :class:`ResultsStore`'s reading API.

    Shards are read in path order; a key stored by several shards (two jobs that made the same record)
    counts once, as in one file with a forced re-run.
    """

    def __init__(self, root: Path, name: str = RECORDS) -> None:
        self._root = Path(root)
        self._name = name
        self.warnings: list[str] = []

    @property
    def path(self) -> Path:
        """The folder of shards."""
        return self._root

    def shards(self) -> list[Path]:
        """Every shard file, sorted."""
        if not self._root.is_dir():
            return []
        return sorted(self._root.rglob(self._name))

    def records(self) -> list[dict[str, Any]]:
        """All valid records of all shards; skipped lines are described in :attr:`warnings`."""
        out: list[dict[str, Any]] = []
        self.warnings = []
        for shard in self.shards():
            store = ResultsStore(shard)
            out.extend(store.records())
            self.warnings.extend(store.warnings)
        return out

    def latest(self) -> list[dict[str, Any]]:
        """One record per key, the last occurrence, in order of last occurrence."""
        by_key: dict[str, dict[str, Any]] = {}
        for record in self.records():
            by_key.pop(record["key"], None)
            by_key[record["key"]] = record
        return list(by_key.values())

    def keys(self) -> set[str]:
        """Keys of all valid records."""
        return {record["key"] for record in self.records()}


def is_sharded(path: Path) -> bool:
    """Whether ``path`` names a folder of shards rather than one JSONL file."""
    return Path(path).is_dir()


def open_results(path: Path) -> ResultsStore | ShardedStore:
    """The store at ``path`` for reading: a JSONL file, or a folder of shards (an error if it holds none)."""
    path = Path(path)
    if not is_sharded(path):
        return ResultsStore(path)
    store = ShardedStore(path)
    if not store.shards():
        raise ResultsError(
            f"{path} is a folder without result shards (*/{RECORDS}); pass a JSONL store or a suite's shard folder"
        )
    return store


def open_checks(results: Path, checks: Path | None = None) -> ResultsStore | ShardedStore:
    """Verdicts for reading: ``checks`` if given, the shards' verdicts for a shard folder, else the default file."""
    from cnnf_bench.checks.base import default_checks_store

    if checks is not None:
        return open_results(checks) if is_sharded(checks) else ResultsStore(checks)
    if is_sharded(results):
        return ShardedStore(results, CHECKS)
    return ResultsStore(default_checks_store(results))


def checks_location(results: Path) -> Path:
    """Where ``check`` stores verdicts by default: ``checks.jsonl`` inside a shard folder (read with the
    shards), else beside the results file."""
    from cnnf_bench.checks.base import default_checks_store

    return Path(results) / CHECKS if is_sharded(results) else default_checks_store(results)


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_shards` wrote."""

    target: Path
    written: int
    present: int
    checks_target: Path
    checks_written: int


def _merge(source: ShardedStore, target: Path) -> tuple[int, int]:
    store = ResultsStore(target)
    present = store.keys()
    written = kept = 0
    for record in source.latest():
        if record["key"] in present:
            kept += 1
        elif store.append(record):
            present.add(record["key"])
            written += 1
    return written, kept


def merge_shards(root: Path, target: Path | None = None) -> MergeResult:
    """Append every shard record not yet in ``target`` (default: ``<root>.jsonl``, the suite's single file)
    and every verdict to the checks store beside it; records already there are not duplicated."""
    from cnnf_bench.checks.base import default_checks_store

    records = open_results(root)
    assert isinstance(records, ShardedStore)
    target = Path(target) if target is not None else Path(root).with_name(Path(root).name + ".jsonl")
    if target.resolve().is_relative_to(Path(root).resolve()):
        raise ResultsError(f"the merged store {target} must lie outside the shard folder {root}")
    written, present = _merge(records, target)
    checks_target = default_checks_store(target)
    checks_written, _ = _merge(ShardedStore(root, CHECKS), checks_target)
    return MergeResult(target, written, present, checks_target, checks_written)
