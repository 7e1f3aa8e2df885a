"""Result records as a tidy pandas DataFrame: one row per stored measurement, with its configuration.

For analyses the report does not make (plots of one's own, regressions over settings, joins with other
runs). pandas is imported only here, on call, so the report and the light commands stay fast; the
report's own aggregation stays pure Python (measured on the 2-core VM: importing pandas alone takes
0.5 s of CPU, as much as the whole ``report`` command on the quick suite's store).

Columns: the record's scalar fields (``dataset``, ``model``, ``train_mode``, ``train_seed``, ``cycles``
(test-time), ``protocol``, ``attack``, ``target``, ``readout``, ``eps``, ``attack_seed``, ``n``,
``n_correct``, ``seconds``, ``device``, ``timestamp``, ``key``), ``accuracy`` (fraction) and
``accuracy_pct``, ``subset_seed``, ``checkpoint_sha256``, ``run``, ``source_model``, every attack
parameter as ``param.<name>``, every model constructor argument as ``model.<name>``, library versions
as ``version.<name>`` and the protocol limits joined by "; ". The packed per-example flags and
predictions are left out unless ``bits=True``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCALARS = (
    "key",
    "dataset",
    "model",
    "train_mode",
    "train_seed",
    "cycles",
    "protocol",
    "attack",
    "target",
    "readout",
    "eps",
    "attack_seed",
    "n",
    "n_correct",
    "seconds",
    "max_linf",
    "device",
    "timestamp",
)


def _mapping(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = record.get(name)
    return value if isinstance(value, Mapping) else {}


def record_row(record: Mapping[str, Any], bits: bool = False) -> dict[str, Any]:
    """One record flattened into the frame's columns (see the module docstring)."""
    row: dict[str, Any] = {name: record.get(name) for name in SCALARS}
    n, correct = record.get("n"), record.get("n_correct")
    accuracy = correct / n if isinstance(n, int) and n > 0 and isinstance(correct, int) else None
    row["accuracy"] = accuracy
    row["accuracy_pct"] = None if accuracy is None else round(100 * accuracy, 2)
    subset = _mapping(record, "subset")
    row["subset_seed"] = subset.get("seed")
    checkpoint = _mapping(record, "checkpoint")
    row["checkpoint_sha256"] = checkpoint.get("sha256")
    row["run"] = checkpoint.get("run")
    source = record.get("source")
    row["source_model"] = source.get("model") if isinstance(source, Mapping) else None
    for prefix, field in (("param", "params"), ("model", "model_kwargs"), ("version", "versions")):
        values = record.get(field)
        if isinstance(values, Mapping):
            row.update({f"{prefix}.{k}": v for k, v in values.items()})
    extras = _mapping(record, "extras")
    limits = extras.get("limits") or []
    row["limits"] = "; ".join(str(x) for x in limits) if limits else None
    if bits:
        row["correct"] = record.get("correct")
        row["predictions"] = record.get("predictions")
    return row


def records_frame(records: Sequence[Mapping[str, Any]], bits: bool = False) -> Any:
    """A pandas DataFrame with one row per record (imports pandas)."""
    import pandas as pd

    return pd.DataFrame([record_row(r, bits) for r in records])


def load_results(path: str | Path, bits: bool = False) -> Any:
    """The latest record of each measurement in a store (a JSONL file or a suite's shard folder) as a
    tidy DataFrame; a store the tool cannot read raises :class:`~cnnf_bench.errors.ResultsError`."""
    from cnnf_bench.errors import ResultsError
    from cnnf_bench.shards import open_results

    path = Path(path)
    if not path.exists():
        raise ResultsError(f"no results store at {path}")
    return records_frame(open_results(path).latest(), bits)
