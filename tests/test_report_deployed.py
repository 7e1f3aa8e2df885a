"""Models attacked only through the function each deploys share one "(deployed)" column."""

from __future__ import annotations

from typing import Any

from cnnf_bench.report import build_tables, to_markdown
from tests.test_report import make_record


def _three_families(with_field: bool = True, cnnf_first: bool = False) -> list[dict[str, Any]]:
    """CNN (deploys e2e), CNN-F with the avg readout (e2e-avg) and an FPD (e2e): clean and PGD on the
    deployed view, as `targets: [deployed]` makes them."""
    records = []
    rows = [
        ("cnn", "e2e", "last", "11110000"),
        ("cnnf", "e2e-avg", "avg", "11111100"),
        ("fpd", "e2e", "last", "11100000"),
    ]
    for kind, view, readout, pgd in rows:
        common = {"cnnf": kind == "cnnf", "seed": 0, "readout": readout}
        made = [
            make_record("11111111", attack="none", target="-", **common),
            make_record(pgd, attack="pgd", target=view, **common),
        ]
        if kind == "cnnf" and cnnf_first:
            made.append(make_record("11111000", attack="pgd", target="first", **common))
        for r in made:
            if kind == "fpd":
                r.update(model="fpd-fmnist", family="fpd", model_kwargs={}, cycles=0)
                r["checkpoint"] = {**r["checkpoint"], "sha256": "f" * 64, "run": "fpd-fmnist_s0"}
                r["key"] = "fpd-" + r["key"]
            if with_field:
                r["deployed_view"] = view
        records += made
    return records


def test_deployed_views_of_several_families_share_one_column() -> None:
    (table,) = build_tables(_three_families())
    assert table.columns == ["Clean", "PGD (deployed)"]
    assert [table.cell(row, "PGD (deployed)").mean for row in table.rows] == [0.5, 0.75, 0.375]
    assert [table.cell(row, "Worst case").mean for row in table.rows] == [0.5, 0.75, 0.375]
    note = (
        "PGD (deployed): each row attacked through the function it deploys (e2e for CNN, FPD; e2e-avg for CNN-F (avg))."
    )
    assert note in table.notes and note in to_markdown([table])


def test_records_without_the_field_or_with_other_views_keep_their_view_columns() -> None:
    (old,) = build_tables(_three_families(with_field=False))  # a store written before deployed_view
    assert old.columns == ["Clean", "PGD (e2e)", "PGD (e2e-avg)"]
    (both,) = build_tables(_three_families(cnnf_first=True))  # CNN-F also attacked through its first pass
    assert both.columns == ["Clean", "PGD (first)", "PGD (e2e)", "PGD (e2e-avg)"]
    assert not any("deployed" in note for note in both.notes)
