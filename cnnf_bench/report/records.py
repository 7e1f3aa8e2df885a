"""Which stored records a report may use, and what identifies the images and the run behind each one.

A store can hold lines from another schema, a newer cnnf-bench, hand edits or other tools. The report
never trusts a field it has not checked: :func:`usable_records` keeps the records whose fields have the
types and ranges the tables need and says, in one line per reason, what it left out. It also keeps one
record per *content identity* (what was measured, protocol included), the latest, so that a record
stored under an older key scheme and its forced re-run do not count twice.
"""

from __future__ import annotations

import binascii
import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnnf_bench.bits import unpack_bits

Record = Mapping[str, Any]

#: the record schema this report reads (docs/results-schema.md)
SCHEMA = 1
#: verdicts a stored check record may hold
VERDICTS = frozenset({"pass", "warn", "fail", "skip"})


@dataclass(frozen=True)
class Images:
    """The evaluation images of a record: the first ``n`` of the permutation drawn with ``seed``.

    Records of one *family* (split, seed) nest: the smaller set is a prefix of the larger one. Records
    of different families share no known image order. ``seed`` is None where a record does not say.
    """

    split: str
    seed: int | None
    n: int

    @property
    def family(self) -> tuple[str, int | None]:
        """What two nested image sets have in common."""
        return (self.split, self.seed)


def images(record: Record) -> Images:
    """The evaluation images of a (usable) record."""
    subset = record.get("subset")
    subset = subset if isinstance(subset, Mapping) else {}
    seed = subset.get("seed")
    return Images(str(subset.get("split", "test")), seed if isinstance(seed, int) else None, int(record["n"]))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


#: field -> (required, test of its value); the fields the report reads
_FIELDS: dict[str, tuple[bool, Callable[[Any], bool]]] = {
    "checkpoint": (True, lambda v: isinstance(v, Mapping) and isinstance(v.get("sha256"), str)),
    "dataset": (True, _is_str),
    "model": (True, _is_str),
    "protocol": (True, _is_str),
    "attack": (True, _is_str),
    "params": (True, _is_mapping),
    "eps": (True, lambda v: _is_number(v) and v >= 0),
    "target": (True, _is_str),
    "readout": (True, _optional(_is_str)),
    "n": (True, lambda v: _is_int(v) and v >= 1),
    "n_correct": (True, lambda v: _is_int(v) and v >= 0),
    "model_kwargs": (False, _optional(_is_mapping)),
    "cycles": (False, lambda v: _is_int(v) and v >= 0),
    "train_seed": (False, _optional(_is_int)),
    "train_mode": (False, _optional(_is_str)),
    "attack_seed": (False, _optional(_is_int)),
    "subset": (False, _optional(lambda v: isinstance(v, Mapping) and _optional(_is_int)(v.get("seed")))),
    "correct": (False, _optional(_is_str)),
    "source": (False, _optional(lambda v: isinstance(v, (str, Mapping)))),
    "extras": (False, _optional(_is_mapping)),
}


def record_problem(record: Any) -> str | None:
    """Why a results record cannot be used (a short phrase), or None when it can."""
    if not isinstance(record, Mapping):
        return "that are not JSON objects"
    schema = record.get("schema")
    if schema is None:
        return "without a 'schema' field (not cnnf-bench results records)"
    if not _is_int(schema):
        return f"with a non-integer schema ({json.dumps(schema, default=str)[:20]})"
    if schema != SCHEMA:
        newer = " (written by a newer cnnf-bench?)" if schema > SCHEMA else ""
        return f"of schema {schema}{newer}; this cnnf-bench reads schema {SCHEMA}"
    missing = [name for name, (required, _) in _FIELDS.items() if required and name not in record]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    wrong = [name for name, (_, test) in _FIELDS.items() if name in record and not test(record[name])]
    if wrong:
        return f"with invalid {', '.join(wrong)}"
    if record["n_correct"] > record["n"]:
        return "with n_correct above n"
    if record.get("correct"):
        try:
            unpack_bits(str(record["correct"]), int(record["n"]))
        except (ValueError, binascii.Error):
            return "with unreadable per-example flags ('correct')"
    try:
        json.dumps(record["params"], sort_keys=True)
    except (TypeError, ValueError):
        return "with params that are not plain JSON"
    return None


def check_problem(verdict: Any) -> str | None:
    """Why a stored check verdict cannot be used, or None when it can."""
    if not isinstance(verdict, Mapping):
        return "that are not JSON objects"
    checkpoint = verdict.get("checkpoint")
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("sha256"), str):
        return "without a checkpoint sha256"
    if not isinstance(verdict.get("check"), str):
        return "without a check id"
    if verdict.get("verdict") not in VERDICTS:
        return "with an unknown verdict"
    if "cycles" in verdict and not _is_int(verdict["cycles"]):
        return "with invalid cycles"
    if not _optional(_is_str)(verdict.get("readout")):
        return "with an invalid readout"
    return None


def _short(record: Any) -> str:
    key = record.get("key") if isinstance(record, Mapping) else None
    return str(key)[:12] if key is not None else "?"


def _split(items: Sequence[Any], problem: Callable[[Any], str | None], what: str) -> tuple[list[Record], list[str]]:
    kept: list[Record] = []
    skipped: dict[str, list[str]] = defaultdict(list)
    for item in items:
        reason = problem(item)
        if reason is None:
            kept.append(item)
        else:
            skipped[reason].append(_short(item))
    warnings = []
    for reason, keys in skipped.items():
        shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        count = f"{len(keys)} {what}{'s' if len(keys) != 1 else ''}"
        warnings.append(f"skipped {count} {reason} (key {shown})")
    return kept, warnings


def content_identity(record: Record) -> str:
    """What a record measured, protocol included, whatever key it was stored under."""
    source = record.get("source")
    identity = {
        "checkpoint": record["checkpoint"]["sha256"],
        "cycles": record.get("cycles"),
        "protocol": record["protocol"],
        "attack": record["attack"],
        "params": record["params"],
        "target": record["target"],
        "readout": record.get("readout"),
        "attack_seed": record.get("attack_seed"),
        "subset": record.get("subset"),
        "n": record["n"],
        "source": source.get("sha256") if isinstance(source, Mapping) else source,
    }
    return json.dumps(identity, sort_keys=True, default=str)


def usable_records(records: Sequence[Any]) -> tuple[list[Record], list[str]]:
    """The records a report can use (one per content identity, the last), and one warning per reason
    for the ones it skipped."""
    kept, warnings = _split(records, record_problem, "record")
    latest: dict[str, Record] = {}
    for record in kept:
        identity = content_identity(record)
        latest.pop(identity, None)
        latest[identity] = record
    return list(latest.values()), warnings


def usable_checks(verdicts: Sequence[Any]) -> tuple[list[Record], list[str]]:
    """The stored check verdicts a report can use, and one warning per reason for the skipped ones."""
    return _split(verdicts, check_problem, "check verdict")
