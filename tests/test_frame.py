"""Result records as a tidy DataFrame: one row per record with its configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnnf_bench
from cnnf_bench.errors import ResultsError
from cnnf_bench.results import ResultsStore
from tests.test_report import paper_records


def test_to_frame_and_load_results_give_one_row_per_latest_record(tmp_path: Path) -> None:
    records = paper_records()
    store = tmp_path / "r.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in records))
    frame = ResultsStore(store).to_frame()
    assert len(frame) == len(ResultsStore(store).latest())
    loaded = cnnf_bench.load_results(store)
    assert list(loaded.columns) == list(frame.columns) and len(loaded) == len(frame)
    assert {"param.steps", "model.cycles", "accuracy_pct", "checkpoint_sha256", "subset_seed"} <= set(frame.columns)
    assert "correct" not in frame.columns and "correct" in ResultsStore(store).to_frame(bits=True).columns
    pgd = frame[(frame.attack == "pgd") & (frame.model == "cnn-fmnist") & (frame.target == "first")]
    assert sorted(pgd.accuracy_pct) == [50.0, 75.0]  # "11110000" and "11111100"
    by_seed = frame[frame.attack == "none"].groupby(["model", "readout"]).accuracy.mean()
    assert by_seed[("cnn-fmnist", "last")] == pytest.approx((7 / 8 + 1) / 2)


def test_load_results_of_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no results store"):
        cnnf_bench.load_results(tmp_path / "none.jsonl")
