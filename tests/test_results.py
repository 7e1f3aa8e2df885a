"""Results store: round trip, duplicate keys, crash-truncated and corrupt lines, concurrent writer processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnnf_bench.bits import pack_bits, unpack_bits
from cnnf_bench.errors import ResultsError
from cnnf_bench.results import ResultsStore, record_key

REPO = Path(__file__).resolve().parents[1]


def make_record(name: str, n: int = 4000, **extra: Any) -> dict[str, Any]:
    """A schema-like record whose ``correct`` field makes the line about as long as real ones (~700 bytes)."""
    flags = np.random.default_rng(zlib.crc32(name.encode())).random(n) < 0.8
    record: dict[str, Any] = {
        "schema": 1,
        "key": record_key({"name": name}),
        "attack": "pgd",
        "params": {"eps": 0.1, "steps": 7},
        "n": n,
        "n_correct": int(flags.sum()),
        "correct": pack_bits(flags),
        "extras": {},
    }
    record.update(extra)
    return record


def file_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def test_round_trip(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "deep" / "folder" / "results.jsonl")
    records = [make_record(f"r{i}") for i in range(5)]
    assert all(store.append(r) for r in records)
    got = store.records()
    assert got == records
    assert store.warnings == []
    assert store.keys() == {r["key"] for r in records}
    assert store.has(records[2]["key"])
    assert not store.has(record_key({"name": "absent"}))
    assert unpack_bits(got[3]["correct"], got[3]["n"]).sum() == got[3]["n_correct"]
    # one sorted-key JSON object per line
    lines = file_lines(store.path)
    assert len(lines) == 5
    assert lines[0].decode() == json.dumps(records[0], sort_keys=True)


def test_duplicate_key_skipped_unless_forced(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    first = make_record("a", seconds=1.0)
    other = make_record("b")
    rerun = make_record("a", seconds=2.0)
    assert store.append(first)
    assert store.append(other)
    assert store.append(rerun) is False
    assert [r["seconds"] for r in store.records() if r["key"] == first["key"]] == [1.0]
    assert store.append(rerun, force=True) is True
    assert len(store.records()) == 3
    latest = store.latest()
    assert [r["key"] for r in latest] == [other["key"], first["key"]]  # order of last occurrence
    assert latest[1]["seconds"] == 2.0


def test_truncated_last_line_is_skipped_and_next_append_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    store = ResultsStore(path)
    one, two, three = make_record("one"), make_record("two"), make_record("three")
    store.append(one)
    store.append(two)
    first_len = len(file_lines(path)[0]) + 1
    with open(path, "r+b") as f:  # a crash in the middle of the second line
        f.truncate(first_len + (path.stat().st_size - first_len) // 2)

    assert store.records() == [one]
    assert len(store.warnings) == 1
    assert "line 2" in store.warnings[0]
    assert str(path) in store.warnings[0]
    assert not store.has(two["key"])

    assert store.append(three)
    assert store.append(two)  # the truncated copy never counted, so it can be written again
    assert store.records() == [one, three, two]
    assert len(store.warnings) == 1
    assert "line 2" in store.warnings[0]
    lines = file_lines(path)
    assert len(lines) == 4
    assert json.loads(lines[2]) == three


def test_corrupt_middle_line_does_not_hide_later_records(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    store = ResultsStore(path)
    records = [make_record(f"r{i}") for i in range(3)]
    store.append(records[0])
    with open(path, "ab") as f:
        f.write(b'{"key": "x", "broken\x00\xff\n')  # corrupt, not even UTF-8
        f.write(b"[1, 2, 3]\n")  # valid JSON, but not a record
        f.write(b'{"no_key": true}\n')
        f.write(b"\n")  # blank lines are harmless
    store.append(records[1])
    store.append(records[2])
    assert store.records() == records
    assert len(store.warnings) == 3
    assert [w.split(": ")[0] for w in store.warnings] == [f"{path} line {i}" for i in (2, 3, 4)]
    # a clean read afterwards does not carry old warnings over
    clean = ResultsStore(tmp_path / "clean.jsonl")
    clean.append(records[0])
    assert clean.records() == [records[0]]
    assert clean.warnings == []


def test_missing_file_is_empty(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "nothing" / "results.jsonl")
    assert store.records() == []
    assert store.latest() == []
    assert store.keys() == set()
    assert store.warnings == []
    assert not store.path.exists()


def test_directory_path_is_a_results_error(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    with pytest.raises(ResultsError, match="directory"):
        store.records()
    with pytest.raises(ResultsError, match="directory"):
        store.append(make_record("a"))


def test_record_without_key_or_unserialisable_is_rejected(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    with pytest.raises(ResultsError, match="key"):
        store.append({"attack": "pgd"})
    with pytest.raises(ResultsError, match="JSON"):
        store.append({"key": "k", "value": object()})
    assert not store.path.exists()


def test_record_key_is_stable_under_key_order() -> None:
    a = {"checkpoint": "ab12", "cycles": 1, "params": {"eps": 0.1, "steps": 7}, "source": None}
    b = {"source": None, "params": {"steps": 7, "eps": 0.1}, "cycles": 1, "checkpoint": "ab12"}
    assert record_key(a) == record_key(b)
    assert len(record_key(a)) == 40
    assert int(record_key(a), 16) >= 0
    assert record_key(a) != record_key({**a, "cycles": 2})
    # fixed value: keys written by earlier versions must keep matching
    assert record_key({"a": 1}) == "9f89c740ceb46d7418c924a78ac57941d5e96520"


WRITER = """
import os, sys, time
from pathlib import Path
from cnnf_bench.results import ResultsStore, record_key
path, go, ready, prefix, count = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
store = ResultsStore(Path(path))
ready.touch()
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
written = 0
for i in range(count):
    record = {"key": record_key({"name": f"{prefix}{i}"}), "writer": os.getpid(), "i": i, "pad": "x" * 3000}
    written += store.append(record)
print(written)
"""


def run_writers(path: Path, prefixes: list[str], count: int) -> list[int]:
    """Start one writer process per prefix, release them together, return how many records each wrote."""
    go = path.with_name("go")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    procs = []
    readies = []
    for n, prefix in enumerate(prefixes):
        ready = path.with_name(f"ready{n}")
        readies.append(ready)
        args = [sys.executable, "-c", WRITER, str(path), str(go), str(ready), prefix, str(count)]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 30
    while not all(r.exists() for r in readies) and time.monotonic() < deadline:
        time.sleep(0.005)
    go.touch()
    written = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        written.append(int(out))
    return written


def test_concurrent_writers_distinct_keys(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    assert run_writers(path, ["a", "b"], 50) == [50, 50]
    lines = file_lines(path)
    assert len(lines) == 100
    assert all(isinstance(json.loads(line), dict) for line in lines)
    store = ResultsStore(path)
    records = store.records()
    assert store.warnings == []
    assert len(records) == 100
    assert len(store.keys()) == 100
    # each writer's records keep their own order
    for writer in {r["writer"] for r in records}:
        assert [r["i"] for r in records if r["writer"] == writer] == list(range(50))


def test_concurrent_writers_same_keys(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    written = run_writers(path, ["same", "same"], 30)
    assert sum(written) == 30
    store = ResultsStore(path)
    records = store.records()
    assert store.warnings == []
    assert len(records) == 30
    assert store.keys() == {record_key({"name": f"same{i}"}) for i in range(30)}
    assert len(file_lines(path)) == 30
