"""One "deployed" column where each model of a table was attacked only through the function it deploys.

Which view computes what a model deploys depends on the model: ``e2e-avg`` for a CNN-F with the avg
readout, ``e2e`` for a CNN, an FPD or a CNN-F with the last readout. A suite that attacks every model
with ``targets: [deployed]`` made one measurement, but labelled by view it would fall into as many
sparse columns as there are deployed views (each row filled in only one of them). Records carry the
model's ``deployed_view`` (stores written before that field are left as they are), and where an
attack's records in a table are each on its row's deployed view, one view per row, and the rows differ
in it, their column is labelled "(deployed)" and a note names each row's view. Only the label changes:
the records keep their target, so the checks still see the view that was attacked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from cnnf_bench.report.layout import COLUMN_VIEW, NON_ATTACKS, VIEWLESS, RowKey, column_key, row_key, row_labels
from cnnf_bench.report.model import Record

DEPLOYED = "deployed"


def merge_deployed(records: Sequence[Record]) -> tuple[list[Record], list[str]]:
    """``records`` with the column view of qualifying ones set to "deployed", and a note per merged column."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        target = str(record.get("target", "-"))
        if record["attack"] in NON_ATTACKS or record["attack"] in VIEWLESS or target in ("-", ""):
            continue
        column = column_key({**record, COLUMN_VIEW: DEPLOYED})
        groups[(column.base, column.variant, column.images)].append(i)
    out = list(records)
    notes: list[str] = []
    labels: dict[RowKey, str] = {}
    for (base, _, _), members in groups.items():
        group = [records[i] for i in members]
        if any(r.get("deployed_view") != r.get("target") for r in group):
            continue
        views: dict[RowKey, set[str]] = defaultdict(set)
        for r in group:
            views[row_key(r)].add(str(r["target"]))
        if any(len(v) > 1 for v in views.values()) or len({str(r["target"]) for r in group}) < 2:
            continue
        for i in members:
            out[i] = {**records[i], COLUMN_VIEW: DEPLOYED}
        labels = labels or row_labels({row_key(r) for r in records})  # the table's row names, once
        rows_of: dict[str, list[str]] = defaultdict(list)
        for row, (view,) in views.items():
            rows_of[view].append(labels[row])
        each = "; ".join(f"{view} for {', '.join(sorted(rows))}" for view, rows in sorted(rows_of.items()))
        notes.append(f"{base}: each row attacked through the function it deploys ({each}).")
    return out, notes
