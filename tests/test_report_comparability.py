"""Issue 9: the report combines only comparable records, and the worst case ANDs only shared images.

Hand-made stores reproduce the audit's findings (items 1, 2 and 4; item 3 is in test_issue9_cli.py)
and show the corrected behaviour; then record validation and the C19 comparability flags.
"""

from __future__ import annotations

from typing import Any

import pytest

from cnnf_bench.checks.base import Verdict
from cnnf_bench.checks.flags import comparability_flags
from cnnf_bench.report import MIN, WORST_CASE, build_tables, to_markdown, usable_checks, usable_records
from tests.test_report import check, make_record, single_table


def on_images(record: dict[str, Any], seed: int) -> dict[str, Any]:
    """The record as if run on the evaluation subset drawn with ``seed`` (other images)."""
    return {**record, "key": record["key"] + f"-s{seed}", "subset": {**record["subset"], "seed": seed}}


def clean(flags: str, seed: int = 0, **kw: Any) -> dict[str, Any]:
    return make_record(flags, cnnf=False, seed=seed, attack="none", target="-", eps=0.0, **kw)


def pgd(flags: str, seed: int = 0, **kw: Any) -> dict[str, Any]:
    return make_record(flags, cnnf=False, seed=seed, attack="pgd", target="first", **kw)


def test_item1_records_on_other_images_are_never_anded() -> None:
    """PGD on subset seed 0 and on subset seed 1 in one store: the old worst case ANDed them position by
    position (images that have nothing to do with each other) and read 0 here."""
    records = [clean("11111111"), pgd("11110000"), on_images(pgd("00001111"), seed=1)]
    table = single_table(records)
    assert table.columns == ["Clean", "PGD (first) [subset seed=0]", "PGD (first) [subset seed=1]"]
    check(table.cell("CNN", "PGD (first) [subset seed=0]"), 0.5, None, n_runs=1)
    check(table.cell("CNN", "PGD (first) [subset seed=1]"), 0.5, None, n_runs=1)
    # the worst case stays on subset seed 0 (Clean and PGD ran there): 11111111 & 11110000
    check(table.cell("CNN", WORST_CASE), 0.5, None, n_runs=1)
    assert any("ran on different evaluation images" in note for note in table.notes)
    assert any("leaves out PGD (first) [subset seed=1]" in note for note in table.notes)
    flags = table.flags["CNN"]
    assert [(f.check, f.verdict) for f in flags.flags] == [("C19", Verdict.WARN)]
    assert "Worst case leaves out PGD (first) [subset seed=1]" in to_markdown([table])


def test_item2_records_with_another_n_are_not_averaged() -> None:
    """PGD on the first 4 images (25%) and on the first 8 (50%) of one run: the old cell averaged the
    two as if they were attack seeds (37.5%, the accuracy of neither)."""
    records = [clean("11111111"), pgd("0101"), pgd("01011100")]
    table = single_table(records)
    assert table.columns == ["Clean", "PGD (first) [n=4]", "PGD (first) [n=8]"]
    check(table.cell("CNN", "PGD (first) [n=4]"), 0.5, None, n_runs=1, n_examples=4)
    check(table.cell("CNN", "PGD (first) [n=8]"), 0.5, None, n_runs=1, n_examples=8)
    # the sets nest (prefixes of one permutation): the worst case is on the 4 images both cover
    check(table.cell("CNN", WORST_CASE), 0.5, None, n_runs=1, n_examples=4)
    markdown = to_markdown([table])
    assert "PGD (first) ran on different evaluation images (n 4; n 8)" in markdown
    assert "Worst case of CNN: on the 4 images every included record covers" in markdown
    assert "(PGD (first) [n=4] ran on 4; the others on up to 8)" in markdown
    assert "Worst case over the 8 images, without PGD (first) [n=4]: CNN 50.00." in markdown  # 11111111 & 01011100


def test_training_seeds_on_the_same_images_combine() -> None:
    records = [clean("11111111", 0), clean("11111110", 1), pgd("11110000", 0), pgd("11000000", 1)]
    table = single_table(records)
    assert table.columns == ["Clean", "PGD (first)"]
    cell = table.cell("CNN", "PGD (first)")
    assert (cell.n_runs, cell.train_seeds, cell.run_values) == (2, (0, 1), (0.5, 0.25))
    check(table.cell("CNN", WORST_CASE), 0.375, 0.125 * 2**0.5)
    assert table.notes == [] and table.flags["CNN"].on_columns == ("C19",)
    assert "C19 holds on the columns" in to_markdown([table])


def test_a_training_seed_on_other_images_splits_the_column() -> None:
    records = [pgd("11110000", 0), pgd("11111111", 1, sha="c2" * 32)]
    records[1] = {**records[1], "n": 4, "n_correct": 4, "correct": make_record("1111", cnnf=False, seed=1,
                  attack="pgd", target="first")["correct"], "subset": {"split": "test", "seed": 0, "n": 4}}  # fmt: skip
    table = single_table(records)
    assert table.columns == ["Clean", "PGD (first) [n=4]", "PGD (first) [n=8]"]
    assert table.cell("CNN", "PGD (first) [n=8]").train_seeds == (0,)
    assert table.cell("CNN", "PGD (first) [n=4]").train_seeds == (1,)


def test_worst_case_leaves_out_a_run_without_per_example_flags() -> None:
    records = [pgd("11110000", 0), pgd("11000000", 1)]
    records[1] = {**records[1], "correct": None}
    table = single_table(records)
    check(table.cell("CNN", WORST_CASE), 0.5, None, n_runs=1)
    assert any("train seed 1 (c1c1c1c1) has records without per-example flags; left out" in n for n in table.notes)


def test_min_and_worst_case_include_the_margin_pgd_column() -> None:
    margin = dict(pgd("11110000")["params"], loss="margin")
    records = [clean("11111111"), pgd("11110000"), pgd("11100001", params=margin)]
    table = single_table(records)
    assert table.columns == ["Clean", "PGD (first)", "PGD-margin (first)"]
    assert table.cell("CNN", MIN).source_column == "PGD (first)"
    check(table.cell("CNN", WORST_CASE), 0.375, None, n_runs=1)  # 11100000
    strength = "PGD: 7 steps x 1 restart (step 0.0355), n=8 / 7 steps x 1 restart (step 0.0355, margin loss), n=8"
    assert table.strength == strength


def test_table_checks_compare_only_records_on_the_same_images() -> None:
    """C11 against an SPSA column on other images would compare unrelated images."""
    spsa = {"eps": 0.1, "nb_iter": 7}
    records = [
        pgd("11110000"),
        on_images(make_record("00000011", cnnf=False, seed=0, attack="spsa", target="first", params=spsa), seed=1),
    ]
    table = single_table(records)
    assert not table.unreliable("CNN")
    assert "C11" not in table.flags["CNN"].on_columns
    # on the same images the same flags do fail C11
    same = [pgd("11110000"), make_record("00000011", cnnf=False, seed=0, attack="spsa", target="first", params=spsa)]
    assert single_table(same).unreliable("CNN")


def test_comparability_flags_catch_a_mixed_cell() -> None:
    """C19 re-derives comparability from the records' own fields: a cell mixing n or settings fails."""
    a, b = pgd("11110000"), pgd("1111")
    flags = comparability_flags({"PGD (first)": [a, b]}, [a, b], 4, [], cnn=True)
    assert [(f.check, f.verdict) for f in flags] == [("C19", Verdict.FAIL)]
    assert "differ in n" in flags[0].text
    other = on_images(pgd("11110000"), 1)
    flags = comparability_flags({"PGD (first)": [a]}, [a, other], 8, [], cnn=True)
    assert "ANDs flags of different images" in flags[0].text
    assert comparability_flags({"PGD (first)": [a, pgd("11000000", 1)]}, [a], 8, [], cnn=True) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"schema": 99}, "of schema 99 (written by a newer cnnf-bench?); this cnnf-bench reads schema 1"),
        ({"schema": None}, "without a 'schema' field"),
        ({"n": "eight"}, "with invalid n"),
        ({"eps": float("nan")}, "with invalid eps"),
        ({"checkpoint": "abc"}, "with invalid checkpoint"),
        ({"n_correct": 9}, "with n_correct above n"),
        ({"correct": "!!not base64"}, "with unreadable per-example flags"),
        ({"params": [1, 2]}, "with invalid params"),
    ],
)
def test_records_the_report_cannot_use_are_skipped_with_one_line(change: dict[str, Any], reason: str) -> None:
    bad = {**pgd("00000000"), **change, "key": "bad-record"}
    if change.get("schema", 1) is None:
        del bad["schema"]
    good = pgd("11110000")
    usable, warnings = usable_records([good, bad])
    assert usable == [good]
    assert len(warnings) == 1 and warnings[0].startswith(f"skipped 1 record {reason}"), warnings
    assert warnings[0].endswith("(key bad-record)")
    table = single_table([good, bad])  # build_tables leaves it out too, without an exception
    check(table.cell("CNN", "PGD (first)"), 0.5, None, n_runs=1)


def test_renamed_fields_are_skipped_not_a_traceback() -> None:
    renamed = {("model_name" if k == "model" else "eps_budget" if k == "eps" else k): v for k, v in pgd("1").items()}
    usable, warnings = usable_records([renamed, renamed, renamed, renamed, "not a record"])
    assert usable == []
    assert warnings[0].startswith("skipped 4 records missing field(s) model, eps (key ")
    assert warnings[0].endswith(" and 1 more)")
    assert warnings[1] == "skipped 1 record that are not JSON objects (key ?)"
    assert build_tables([renamed]) == []


def test_bad_check_verdicts_are_skipped() -> None:
    good = {"checkpoint": {"sha256": "x"}, "check": "C6", "verdict": "fail", "cycles": 0, "readout": None}
    verdicts, warnings = usable_checks([good, {**good, "verdict": "maybe"}, {**good, "checkpoint": 3}])
    assert verdicts == [good]
    assert len(warnings) == 2


def test_a_record_measured_twice_counts_once_whatever_its_key() -> None:
    """A record stored under the pre-protocol key and its forced re-run (new key) are one measurement."""
    old = pgd("11110000")
    new = {**pgd("00000000"), "key": "new-key"}
    usable, _ = usable_records([old, new])
    assert usable == [new]
    check(single_table([old, new]).cell("CNN", "PGD (first)"), 0.0, None, n_runs=1)
