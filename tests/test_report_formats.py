"""Every report format carries the same content: the terminal table, Markdown, CSV, LaTeX and JSON of one
hand-made store show the same numbers, median L2 distances, marks, flags, notes, limits and strength;
bracketed headers survive."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cnnf_bench.cli import app
from cnnf_bench.report import build_tables, latex_escape, usable_checks
from cnnf_bench.report.distance import format_distance
from cnnf_bench.report.model import MIN
from cnnf_bench.report.render import latex_text, rendered_cell
from tests.test_report import PGD, SPSA, make_record

runner = CliRunner()


def _rekey(record: dict[str, Any], suffix: str) -> dict[str, Any]:
    """Another measurement (other params) needs its own store key, as the evaluator gives it."""
    return {**record, "key": record["key"] + suffix}


def _store(tmp_path: Path) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]:
    r = make_record
    strong = dict(PGD, steps=40)
    spsa_limit = {"limits": ["SPSA-7 with lr 0.005 moves at most 0.035 in L-inf, 35% of eps"]}
    records = []
    for seed, flip in ((0, "0"), (1, "1")):
        for cnnf, readout in ((False, "last"), (True, "avg")):
            kw: dict[str, Any] = {"cnnf": cnnf, "seed": seed, "readout": readout}
            # a minimum-norm attack: every image survives at the budget (Min and Worst case stay as they
            # were), and its median L2 is a value of its own; CNN-F seed 1 broke under half: not reached
            median = MEDIAN_L2[(cnnf, seed)]
            l2 = {"median_l2": median, "l2_budget": 1.5, "found_fraction": 0.4 if median is None else 0.9}
            records += [
                {**r("11111111", attack="cw-l2", target="first", params=CW, **kw), "extras": l2},
                r("1111111" + flip, attack="none", target="-", eps=0.0, **kw),
                r("111100" + flip + "1", attack="pgd", target="first", **kw),
                r("11100" + flip + "00", attack="pgd", target="e2e", **kw),
                _rekey(r("1100" + flip + "000", attack="pgd", target="e2e", params=strong, **kw), "-steps40"),
                {**r("111" + flip, attack="spsa", target="first", params=SPSA, **kw), "extras": spsa_limit},
            ]
    sha = next(x["checkpoint"]["sha256"] for x in records if x["model"] == "cnnf-fmnist" and x["train_seed"] == 0)
    verdict = {"key": f"{sha}-C6", "kind": "check", "checkpoint": {"sha256": sha}, "cycles": 1, "readout": "avg",
               "check": "C6", "verdict": "fail", "value_text": "e2e 40.0% at eps 1"}  # fmt: skip
    store = tmp_path / "results.jsonl"
    store.write_text("".join(json.dumps(x) + "\n" for x in records))
    (tmp_path / "checks.jsonl").write_text(json.dumps(verdict) + "\n")
    return store, records, [verdict]


CW = {"eps": 0.1, "l2_budget": 1.5, "max_iter": 10, "confidence": 0.0}
#: (CNN-F?, training seed) -> the recorded median L2 of C&W-L2
MEDIAN_L2 = {(False, 0): 1.2, (False, 1): 1.4, (True, 0): 2.0, (True, 1): None}


def _render(store: Path, fmt: str) -> str:
    args = ["report", "--results", str(store)] + ([] if fmt == "terminal" else ["--format", fmt])
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return result.output


def _flat(text: str) -> str:
    """Whitespace collapsed (the terminal may break long note lines)."""
    return " ".join(text.split())


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, Any]:
    store, records, verdicts = _store(tmp_path)
    table = build_tables(records, usable_checks(verdicts)[0])[0]
    outputs = {fmt: _render(store, fmt) for fmt in ("terminal", "markdown", "csv", "latex", "json")}
    return {"table": table, **outputs}


def test_headers_with_brackets_survive_in_the_terminal(rendered: dict[str, Any]) -> None:
    bracketed = [c for c in rendered["table"].columns if "[" in c]
    assert len(bracketed) == 2 and bracketed[0] != bracketed[1]
    for column in bracketed:
        assert column in rendered["terminal"], column
        assert column in rendered["markdown"] and latex_escape(column) in rendered["latex"]


def test_every_format_carries_the_same_numbers(rendered: dict[str, Any]) -> None:
    table = rendered["table"]
    rows = list(csv.DictReader(io.StringIO(rendered["csv"])))
    cells = {(r["row"], r["column"]): r for r in rows if r["kind"] == "cell"}
    document = json.loads(rendered["json"])["tables"][0]
    by_row = {entry["row"]: entry for entry in document["rows"]}
    for row in table.rows:
        for column in table.all_columns():
            text = rendered_cell(table, row, column, 2)
            cell = table.cell(row, column)
            assert text in rendered["terminal"] and text in rendered["markdown"], (row, column)
            assert text.replace("±", "$\\pm$") in rendered["latex"], (row, column)
            assert cells[(row, column)]["text"] == text
            if cell.mean is not None:
                assert cells[(row, column)]["value"] == f"{100 * cell.mean:.2f}"  # percent, as displayed
            entry = by_row[row]
            shown = {"Clean": entry["clean"], "Min": entry["min"], "Worst case": entry["worst_case"]}
            js = shown.get(column) or entry["attacks"][column]
            assert js["text"] == text and js["n_examples"] == cell.n_examples
            assert js["train_seeds"] == list(cell.train_seeds)
    assert "0.5800000000000001" not in rendered["csv"]
    assert all(re.fullmatch(r"\d+\.\d\d|", r["value"]) for r in cells.values())


def test_a_failed_c6_and_every_note_show_in_all_five(rendered: dict[str, Any]) -> None:
    table = rendered["table"]
    assert table.unreliable("CNN-F (avg)") and not table.unreliable("CNN")
    assert "CNN-F (avg) †" in rendered["terminal"] and "| CNN-F (avg) † |" in rendered["markdown"]
    assert "CNN-F (avg)$^\\dagger$ &" in rendered["latex"]
    rows = list(csv.DictReader(io.StringIO(rendered["csv"])))
    assert {r["unreliable"] for r in rows if r["row"] == "CNN-F (avg)"} == {"†"}
    assert {r["unreliable"] for r in rows if r["row"] == "CNN"} == {""}
    entry = next(e for e in json.loads(rendered["json"])["tables"][0]["rows"] if e["row"] == "CNN-F (avg)")
    assert entry["unreliable"] and entry["mark"] == "†"
    assert any(f["check"] == "C6" and f["verdict"] == "fail" for f in entry["flags"])
    texts = [r["text"] for r in rows if r["kind"] != "cell"]
    document = json.loads(rendered["json"])["tables"][0]
    lines = [*table.notes, f"Evaluation strength: {table.strength}.", "failed C6"]
    assert any("Limit: SPSA-7" in note for note in table.notes)
    for line in lines:
        assert line in _flat(rendered["terminal"]), line
        assert line in rendered["markdown"], line
        assert latex_text(line) in rendered["latex"], line
        assert any(line in t for t in texts), line
        json_texts = [*document["notes"], *document["flags"], f"Evaluation strength: {document['strength']}."]
        assert any(line in t for t in json_texts), line


def test_json_has_a_model_card(rendered: dict[str, Any]) -> None:
    document = json.loads(rendered["json"])
    assert document["format"] == "cnnf-bench-report" and document["generated_by"]["tool_version"]
    card = document["tables"][0]["rows"][1]["model_card"]
    assert card["threat_model"] == {"norm": "Linf", "eps": 0.1, "units": "[0, 1] pixel scale"}
    assert card["models"] == ["cnnf-fmnist"] and "NeurIPS 2020" in card["papers"][0]
    assert card["training"]["train_seeds"] == [0, 1] and len(card["checkpoints"]) == 2
    assert all(len(c["sha256"]) == 64 for c in card["checkpoints"])


def test_out_suffix_picks_the_format(tmp_path: Path) -> None:
    store, _, _ = _store(tmp_path)
    for suffix, probe in ((".json", '"format": "cnnf-bench-report"'), (".tex", "\\begin{table}"), (".csv", "kind")):
        out = tmp_path / f"r{suffix}"
        result = runner.invoke(app, ["report", "--results", str(store), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert probe in out.read_text()
    markdown = _render(store, "markdown")
    assert markdown.startswith("### fmnist") and "┃" not in markdown  # Markdown text, not a box table


def test_every_format_carries_the_median_l2_of_minimum_norm_attacks(rendered: dict[str, Any]) -> None:
    table = rendered["table"]
    column = "C&W-L2 (first)"
    assert table.cell("CNN", column).mean == 1.0 and table.cell("CNN", MIN).source_column != column
    expected = {"CNN": "1.300 ± 0.141", "CNN-F (avg)": "not reached in 1 of 2 runs"}
    header = f"{column} median L2"
    assert header in rendered["terminal"] and f"| {header} |" in rendered["markdown"]
    assert latex_escape(header) in rendered["latex"]
    rows = list(csv.DictReader(io.StringIO(rendered["csv"])))
    lines = {r["row"]: r for r in rows if r["kind"] == "median_l2"}
    document = json.loads(rendered["json"])["tables"][0]
    assert document["median_l2_columns"] == [column]
    by_row = {entry["row"]: entry for entry in document["rows"]}
    for row, text in expected.items():
        assert format_distance(table.distances[(row, column)]) == text
        assert text in rendered["terminal"] and f"| {text} |" in rendered["markdown"], row
        assert text.replace("±", "$\\pm$") in rendered["latex"], row
        assert lines[row]["column"] == column and lines[row]["text"] == text
        js = by_row[row]["attacks"][column]["median_l2"]
        assert js["text"] == text and js["l2_budget"] == 1.5 and js["n_runs"] == 2
    assert (lines["CNN"]["value"], lines["CNN"]["std"]) == ("1.300", "0.141")
    assert (
        lines["CNN-F (avg)"]["value"] == "" and by_row["CNN-F (avg)"]["attacks"][column]["median_l2"]["value"] is None
    )
    assert by_row["CNN"]["attacks"][column]["median_l2"]["value"] == 1.3
    assert "median_l2" not in by_row["CNN"]["attacks"]["PGD (first)"]  # only minimum-norm attacks have one
    caption = "the median L2 distance ([0, 1] pixel units) of the minimum-norm attack's adversarial examples"
    assert caption in document["caption"]
    for fmt in ("terminal", "markdown", "latex", "csv"):
        assert caption in _flat(rendered[fmt]), fmt


def test_a_table_of_minimum_norm_attacks_is_not_titled_with_their_placeholder_eps() -> None:
    from cnnf_bench.report import table_title

    l2 = {"median_l2": 1.2, "l2_budget": 1.5, "found_fraction": 0.9}
    kw: dict[str, Any] = {"cnnf": False, "seed": 0, "eps": 1.0}
    cw = {**make_record("1101", attack="cw-l2", target="first", params=dict(CW, eps=1.0), **kw), "extras": l2}
    linf = make_record("1100", attack="pgd", target="first", cnnf=False, seed=0)
    titles = sorted(table_title(t) for t in build_tables([cw, linf]))
    assert titles == [
        "fmnist, protocol paper, eps = 0.1",
        "fmnist, protocol paper, minimum-norm L2 attacks (no L-inf budget)",
    ]
