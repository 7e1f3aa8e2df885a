"""Issue 9 item 7: bad inputs and failing disks end in one clear line, with nothing written or destroyed."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

from cnnf_bench.checkpoint import load_checkpoint, save_checkpoint, sha256_file, sidecar
from cnnf_bench.config import load_yaml, run_config_from_mapping
from cnnf_bench.errors import CheckpointError, ConfigError, ResultsError
from cnnf_bench.results import ResultsStore
from tests.test_cli import _fails, _ok
from tests.test_report import make_record
from tests.test_results import make_record as store_record


def _store(path: Path, *records: dict) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name or "probe" in p.name)


# ------------------------------------------------------------------------------------------------ report


def test_report_zero_byte_and_binary_stores_fail_cleanly(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    _fails(["report", "--results", str(empty)], 1, "holds no records")
    binary = tmp_path / "model.pt"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary\xff\xfe\n\x00more")
    _fails(["report", "--results", str(binary)], 1, "not a JSONL results store")


def test_report_warns_about_other_schemas_and_types(tmp_path: Path) -> None:
    good = make_record("11110000", cnnf=False, seed=0, attack="pgd", target="first")
    future = {**good, "key": "future", "schema": 99}
    typed = {**good, "key": "typed", "n": "1000", "attack": "fgsm"}
    store = _store(tmp_path / "r.jsonl", good, future, typed)
    out = _ok(["report", "--results", str(store)])
    assert "warning:" in out and "schema 99" in out and "with invalid n" in out
    assert "50.00" in out and "Traceback" not in out
    only_future = _store(tmp_path / "f.jsonl", future)
    output = _fails(["report", "--results", str(only_future)], 1, "schema 99", "no record this report can use")
    assert output.count("error:") == 1


def test_report_out_must_be_a_writable_file_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path / "r.jsonl", make_record("1100", cnnf=False, seed=0, attack="pgd", target="first"))
    folder = tmp_path / "reports"
    folder.mkdir()
    _fails(["report", "--results", str(store), "--out", str(folder)], 2, "is a folder")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    _fails(["report", "--results", str(store), "--out", str(blocker / "t.md")], 1, "is not a folder")

    def read_only(self: Path, data: bytes) -> int:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "write_bytes", read_only)
    _fails(["report", "--results", str(store), "--out", str(folder / "t.md")], 1, "Read-only file system")
    monkeypatch.undo()
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------------------------------- the store


def test_a_file_that_is_not_a_store_is_never_appended_to(tmp_path: Path, tiny_runs: dict[str, Path]) -> None:
    checkpoint = tiny_runs["cnn-fmnist-small"]
    copy = tmp_path / "checkpoint.pt"
    copy.write_bytes(checkpoint.read_bytes())
    before = sha256_file(copy)
    with pytest.raises(ResultsError, match="not a JSONL results store"):
        ResultsStore(copy).append(store_record("a"))
    assert sha256_file(copy) == before
    text = tmp_path / "notes.txt"
    text.write_text("a note\n")
    with pytest.raises(ResultsError, match="not a JSONL results store"):
        ResultsStore(text).records()
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert ResultsStore(empty).append(store_record("a")) and ResultsStore(empty).keys() == {store_record("a")["key"]}
    crashed = tmp_path / "crashed.jsonl"
    crashed.write_bytes(b'{"key": "trunc')  # a crash during the very first write is still a store
    assert ResultsStore(crashed).append(store_record("b"))
    assert ResultsStore(crashed).keys() == {store_record("b")["key"]}


def test_a_failed_append_leaves_no_partial_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.jsonl"
    store = ResultsStore(path)
    store.append(store_record("a"))
    before = path.read_bytes()
    real_write = os.write

    def disk_full(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[:100]))  # the first 100 bytes land, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(ResultsError, match="No space left on device; the record was not stored"):
        store.append(store_record("b"))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert store.append(store_record("b")) and store.keys() == {store_record(k)["key"] for k in "ab"}


# ------------------------------------------------------------------------------------------ checkpoints


def test_garbage_sidecar_is_a_clean_error(tiny_runs: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(tiny_runs["cnn-fmnist-small"].read_bytes())
    sidecar(path).write_bytes(os.urandom(64) + b"\xff\xfe")
    with pytest.raises(CheckpointError, match="is not a sha256 sidecar"):
        load_checkpoint(path)
    _fails(["evaluate", "--checkpoint", str(path), "--attack", "none"], 1, "not a sha256 sidecar")
    sidecar(path).unlink()
    assert load_checkpoint(path).model_name == "cnn-fmnist-small"


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run" / "checkpoint.pt"
    payload = {"model": {"name": "x", "kwargs": {}}, "state_dict": {"w": torch.zeros(3)}, "config": {}}
    digest = save_checkpoint(path, payload)
    real_save = torch.save

    def disk_full(obj: object, f: Path) -> None:
        real_save(obj, f)
        Path(f).write_bytes(Path(f).read_bytes()[:50])
        raise RuntimeError("[enforce fail at inline_container.cc] PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match=r"cannot save .*PytorchStreamWriter.*previous one is unchanged"):
        save_checkpoint(path, {**payload, "epoch": 2})
    monkeypatch.undo()
    assert sha256_file(path) == digest and load_checkpoint(path).sha256 == digest
    assert _leftovers(path.parent) == []


# ---------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "text", ["train: {eps: .nan}", "train: {lr: .inf}", "train: {eps: -.inf}", "model: {eta: .nan}"]
)
def test_non_finite_numbers_are_refused_in_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="must be a finite number"):
        run_config_from_mapping(load_yaml(path))


def test_empty_and_binary_yaml_are_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing but a comment\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_yaml(empty)
    _fails(["train", "--config", str(empty)], 2, "is empty")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(os.urandom(256) + b"\xff\x00")
    _fails(["train", "--config", str(binary)], 2, "not a YAML text file")
    control = tmp_path / "c.yaml"
    control.write_bytes(b"model: cnn\x01fmnist\n")
    _fails(["train", "--config", str(control)], 2, "not valid YAML")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_on_the_command_line(value: str, tmp_path: Path) -> None:
    _fails(["train", "--model", "cnn-fmnist-small", "--eps", value, "--output-dir", str(tmp_path)], 2, "finite number")
    _fails(["train", "--model", "cnn-fmnist-small", "--lr", value, "--output-dir", str(tmp_path)], 2, "finite number")
    assert list(tmp_path.iterdir()) == []


def test_non_finite_attack_parameters_are_refused(tiny_runs: dict[str, Path], tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    base = ["evaluate", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--attack", "pgd"]
    base += ["--results", str(results)]
    _fails([*base, "--eps", "nan"], 2, "finite number")
    _fails([*base, "-p", "step_size=.inf"], 2, "finite number")
    _fails([*base, "--step-size", "nan"], 2, "finite number")
    assert not results.exists()


# ----------------------------------------------------------------------------------------------- train


def test_train_output_folder_that_is_a_file_or_read_only(
    fashion_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["train", "--model", "cnn-fmnist-small", "--mode", "standard", "--epochs", "1"]
    args += ["--data-dir", str(fashion_dir)]
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    _fails([*args, "--output-dir", str(blocker)], 1, "exists and is not a folder")
    assert blocker.read_text() == "not a folder"
    real_mkdir = Path.mkdir

    def read_only(self: Path, *a: object, **kw: object) -> None:
        if not self.exists():
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        real_mkdir(self, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only)
    _fails([*args, "--output-dir", str(tmp_path / "ro" / "out")], 1, "Read-only file system")
    assert not (tmp_path / "ro").exists()


# -------------------------------------------------------------------------------------------- evaluate


def test_evaluate_n_above_the_test_split(tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    args = ["evaluate", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--attack", "none"]
    args += ["--results", str(results), "--data-dir", str(fashion_dir)]
    _fails([*args, "--n", "100"], 2, "--n 100 is more than the 64 images", "--all")
    assert not results.exists()
    out = _ok(args)  # the default 1000 is clipped to the 64 tiny test images, and says so
    assert "/64)" in out
    assert "limit:" in out and "n 1000 asked for, but the fmnist test split has only 64 images" in out
    (record,) = ResultsStore(results).records()
    assert record["n"] == 64 and record["subset"]["n"] == 64


def test_evaluate_with_a_read_only_cache(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    results = tmp_path / "r.jsonl"
    args = ["evaluate", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--attack", "none", "--n", "8"]
    _fails([*args, "--results", str(results), "--data-dir", str(fashion_dir)], 1, "cannot stage the dataset")
    assert not results.exists()


def test_evaluate_never_appends_to_a_checkpoint(tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(tiny_runs["cnn-fmnist-small"].read_bytes())
    before = sha256_file(target)
    args = ["evaluate", "--checkpoint", str(tiny_runs["cnn-fmnist-small"]), "--attack", "none", "--n", "8"]
    _fails([*args, "--results", str(target), "--data-dir", str(fashion_dir)], 1, "not a JSONL results store")
    assert sha256_file(target) == before
