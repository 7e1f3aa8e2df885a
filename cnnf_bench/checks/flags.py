"""Flags for the report's rows (torch-free): stored check verdicts, plus C10, C11 and C19 on the table.

C10 (iterative beats single-step) and C11 (white-box beats black-box and transfer) need no fresh
computation: a table that holds PGD and FGSM columns, or gradient and SPSA / Square / Transfer columns,
already answers them, per training run and on the images both columns cover. C19 (mean ± std over
training seeds of comparable records) re-derives, from the records' own fields, that every cell
combined one measurement on one image set and that the Worst case ANDed flags only on shared images.
Any failed check among :data:`~cnnf_bench.checks.base.UNRELIABLE_CHECKS` marks the row "potentially
unreliable", as RobustBench marks an evaluation.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnf_bench.bits import unpack_bits
from cnnf_bench.checks.base import BLACK_BOX_TOL, UNRELIABLE_CHECKS, Verdict, check_number, pct

Record = Mapping[str, Any]

#: white-box attacks that follow the view's input gradient
GRADIENT_ATTACKS = frozenset({"pgd", "fgsm", "apgd-ce", "apgd-dlr", "art-pgd", "art-fgsm"})
#: attacks a gradient attack must beat (C11): score-based and transfer
BASELINE_ATTACKS = frozenset({"spsa", "square", "transfer"})


@dataclass(frozen=True)
class Flag:
    """A warned or failed check on one table row; ``origin`` is ``check`` (stored) or ``table`` (columns)."""

    check: str
    verdict: Verdict
    text: str
    origin: str

    @property
    def unreliable(self) -> bool:
        """Whether this flag marks the row's robust numbers as potentially unreliable."""
        return self.verdict is Verdict.FAIL and self.check in UNRELIABLE_CHECKS


@dataclass(frozen=True)
class RowFlags:
    """The flags of one row and how many stored verdicts stood behind them (0: never checked)."""

    flags: tuple[Flag, ...] = ()
    stored: int = 0
    #: checks evaluated on the row's own columns (C10 needs PGD and FGSM; C11 gradient and baseline columns)
    on_columns: tuple[str, ...] = ()

    @property
    def unreliable(self) -> bool:
        """Whether any flag marks the row potentially unreliable."""
        return any(f.unreliable for f in self.flags)

    def failed_unreliable(self) -> list[str]:
        """Ids of the failed checks that make the row unreliable, sorted."""
        return sorted({f.check for f in self.flags if f.unreliable}, key=check_number)


def _run_label(record: Record) -> str:
    seed = record.get("train_seed")
    return f"seed {seed}" if seed is not None else f"run {str(record['checkpoint']['sha256'])[:8]}"


def _flags_of(record: Record) -> np.ndarray:
    return unpack_bits(str(record["correct"]), int(record["n"]))


def _family(record: Record) -> tuple[str, Any]:
    """The image family of a record: records of one family nest (prefixes of one permutation)."""
    subset = record.get("subset")
    subset = subset if isinstance(subset, Mapping) else {}
    return (str(subset.get("split", "test")), subset.get("seed"))


def _per_run(records_by_column: Mapping[str, Sequence[Record]]) -> dict[tuple[str, Any], dict[str, list[Record]]]:
    """(run, image family) -> column -> records: per-example flags compare only within one family."""
    runs: dict[tuple[str, Any], dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for column, records in records_by_column.items():
        for record in records:
            if record.get("correct"):
                runs[(str(record["checkpoint"]["sha256"]), _family(record))][column].append(record)
    return runs


def _survivors(records: Sequence[Record], m: int) -> np.ndarray:
    """Correct under every record, on the first ``m`` images (records must cover them)."""
    out = np.ones(m, dtype=bool)
    for record in records:
        out &= _flags_of(record)[:m]
    return out


def table_flags(records_by_column: Mapping[str, Sequence[Record]]) -> tuple[list[Flag], set[str]]:
    """C10 and C11 evaluated on one row's own columns, per training run, on the images both cover
    (never across image families: records with other subset seeds hold other images).

    Returns the flags and the ids of the checks the columns allowed (C10 needs PGD and FGSM on the same
    view; C11 a gradient column and an SPSA, Square or Transfer column).
    """
    flags: list[Flag] = []
    evaluated: set[str] = set()
    per_run = _per_run(records_by_column)
    several = len({family for _, family in per_run}) > 1
    for (_, family), columns in per_run.items():
        first = next(iter(next(iter(columns.values()))))
        run = _run_label(first) + (f" (subset seed {family[1]})" if several else "")
        attack_of = {c: str(rs[0]["attack"]) for c, rs in columns.items()}
        view_of = {c: str(rs[0].get("target", "-")) for c, rs in columns.items()}
        # C10: per view, the best PGD column vs the best FGSM column
        for view in sorted({view_of[c] for c, a in attack_of.items() if a == "pgd"}):
            pgd = [r for c, rs in columns.items() if attack_of[c] == "pgd" and view_of[c] == view for r in rs]
            fgsm = [r for c, rs in columns.items() if attack_of[c] == "fgsm" and view_of[c] == view for r in rs]
            if not fgsm:
                continue
            evaluated.add("C10")
            m = min(int(r["n"]) for r in [*pgd, *fgsm])
            best_pgd = min(float(_flags_of(r)[:m].mean()) for r in pgd)
            best_fgsm = min(float(_flags_of(r)[:m].mean()) for r in fgsm)
            if best_pgd > best_fgsm + 1e-12:
                flags.append(
                    Flag("C10", Verdict.FAIL, f"{run}: PGD ({view}) {pct(best_pgd)} > FGSM {pct(best_fgsm)}", "table")
                )
        # C11: the per-example white-box minimum vs every score-based / transfer column
        white = [r for c, rs in columns.items() if attack_of[c] in GRADIENT_ATTACKS for r in rs]
        if not white:
            continue
        n_white = min(int(r["n"]) for r in white)
        for column, records in columns.items():
            if attack_of[column] not in BASELINE_ATTACKS:
                continue
            evaluated.add("C11")
            for record in records:
                m = min(n_white, int(record["n"]))
                wb = float(_survivors(white, m).mean()) if m else 0.0
                bb = float(_flags_of(record)[:m].mean()) if m else 0.0
                if wb > bb + BLACK_BOX_TOL + 1e-12:
                    text = f"{run}: {column} {pct(bb)} < white-box {pct(wb)} on {m} images"
                    flags.append(Flag("C11", Verdict.FAIL, text, "table"))
    return flags, evaluated


def stored_flags(row_records: Sequence[Record], checks: Sequence[Record], cnn: bool) -> RowFlags:
    """Warned and failed stored verdicts for the checkpoints, readout and test-time cycles of a row."""
    wanted: dict[tuple[str, int], Record] = {}
    readouts = set()
    for record in row_records:
        wanted[(str(record["checkpoint"]["sha256"]), int(record.get("cycles", 0)))] = record
        readouts.add(record.get("readout"))
    latest: dict[tuple[str, int, str], Record] = {}
    for check in checks:
        key = (str(check["checkpoint"]["sha256"]), int(check.get("cycles", 0)))
        if key not in wanted or (not cnn and check.get("readout") not in readouts):
            continue
        latest[(*key, str(check["check"]))] = check  # later records supersede earlier ones
    flags = []
    for (sha, cycles, _), check in sorted(latest.items(), key=lambda kv: (kv[0][:2], check_number(kv[0][2]))):
        verdict = Verdict(check["verdict"])
        if verdict in (Verdict.WARN, Verdict.FAIL):
            run = _run_label(wanted[(sha, cycles)])
            flags.append(Flag(str(check["check"]), verdict, f"{run}: {check.get('value_text', '')}", "check"))
    return RowFlags(tuple(flags), len(latest))


def _measurement(record: Record, cnn: bool) -> dict[str, Any]:
    """What must agree for two records to be averaged as training runs of one measurement (C19)."""
    clean = record.get("attack") == "none"
    params = {k: v for k, v in (record.get("params") or {}).items() if not (clean and k == "eps")}
    source = record.get("source")
    subset = record.get("subset") if isinstance(record.get("subset"), Mapping) else {}
    return {
        "dataset": record.get("dataset"),
        "protocol": record.get("protocol"),
        "eps": None if clean else record.get("eps"),
        "attack": record.get("attack"),
        "params": params,
        "view": record.get("target"),
        "readout": None if cnn else record.get("readout"),
        "cycles": record.get("cycles"),
        "model": record.get("model"),
        "train_mode": record.get("train_mode"),
        "source": source.get("model") if isinstance(source, Mapping) else source,
        "image split": (subset or {}).get("split", "test"),
        "subset seed": (subset or {}).get("seed"),
        "n": record.get("n"),
    }


def comparability_flags(
    cells: Mapping[str, Sequence[Record]],
    worst: Sequence[Record],
    worst_n: int,
    left_out: Sequence[str],
    cnn: bool,
) -> list[Flag]:
    """C19 on one row: each cell's records are one measurement on one image set, and the Worst case
    (``worst``: the records it ANDed on their first ``worst_n`` images) stays within one image family.

    A cell that mixes measurements, or a worst case over images some record does not cover, fails (a
    report bug); a worst case that had to leave columns out (other images) warns: its value does not
    cover every attack of the row.
    """
    flags: list[Flag] = []
    for column, records in cells.items():
        seen = [_measurement(r, cnn) for r in records]
        differing = sorted({name for m in seen for name in m if json.dumps(m[name], sort_keys=True, default=str)
                            != json.dumps(seen[0][name], sort_keys=True, default=str)})  # fmt: skip
        if differing:
            flags.append(Flag("C19", Verdict.FAIL, f"{column} combines records that differ in {', '.join(differing)}",
                              "table"))  # fmt: skip
    families = {(_measurement(r, cnn)["image split"], _measurement(r, cnn)["subset seed"]) for r in worst}
    if len(families) > 1 or any(int(r["n"]) < worst_n for r in worst):
        flags.append(Flag("C19", Verdict.FAIL, "the Worst case ANDs flags of different images", "table"))
    if left_out:
        text = f"Worst case leaves out {', '.join(left_out)} (other evaluation images)"
        flags.append(Flag("C19", Verdict.WARN, text, "table"))
    return flags


def row_flags(
    attack_records: Mapping[str, Sequence[Record]],
    checks: Sequence[Record],
    cnn: bool,
    row_records: Sequence[Record],
    comparability: Sequence[Flag] | None = None,
) -> RowFlags:
    """All flags of a row: stored verdicts for its checkpoints, C10/C11 on its attack columns, and the
    C19 flags of :func:`comparability_flags` when given (then C19 counts as evaluated)."""
    stored = stored_flags(row_records, checks, cnn)
    derived, evaluated = table_flags(attack_records)
    if comparability is not None:
        derived = [*derived, *comparability]
        evaluated.add("C19")
    ordered = sorted([*stored.flags, *derived], key=lambda f: (check_number(f.check), f.origin))
    return RowFlags(tuple(ordered), stored.stored, tuple(sorted(evaluated, key=check_number)))
