"""Result records -> the numbers behind the figures: series of runs, accuracies per run, mean ± std.

Pure Python and numpy (no torch). A *series* is one trained model family as a reader names it (CNN,
CNN-F-5, ...): the same model, training mode, trained cycles, eta and readout, over training seeds. A
*run* is one checkpoint (its sha256). Per run, records of several views (targets) of the same attack
are combined per example (correct under every view: the stronger attack, per example) and averaged over
attack seeds; a figure's point is the mean and sample std of those run values over training seeds.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnf_bench.bits import unpack_bits
from cnnf_bench.report.layout import EXTERNAL_MODE

Record = Mapping[str, Any]

#: parameters that name how many iterations an attack runs (for labels such as "PGD-40")
STEP_PARAMS = ("steps", "nb_iter", "max_iter")
DISPLAY = {"none": "Clean", "fgsm": "FGSM", "pgd": "PGD", "spsa": "SPSA", "noise": "Noise", "transfer": "Transfer"}


@dataclass(frozen=True, order=True)
class SeriesKey:
    """What makes records belong to the same curve (everything but the seed and the test-time cycles)."""

    dataset: str
    model: str
    train_mode: str
    trained_cycles: int
    eta: float
    readout: str  # "-" for a CNN: without feedback the readout does not matter

    @property
    def cnn(self) -> bool:
        """Whether this is a plain CNN (trained without feedback cycles)."""
        return self.trained_cycles == 0


@dataclass(frozen=True)
class Stat:
    """Mean and sample std (None for one run) over training runs of a per-run value (a fraction)."""

    mean: float
    std: float | None
    seeds: tuple[int | None, ...]
    values: tuple[float, ...]
    n: int  # test images per run (the smallest, when runs differ)

    @property
    def n_runs(self) -> int:
        """Number of training runs behind the mean."""
        return len(self.values)


def trained_cycles(record: Record) -> int:
    """Feedback cycles the model was trained (and is deployed) with."""
    kwargs = record.get("model_kwargs") or {}
    return int(kwargs.get("cycles", record.get("cycles", 0)) or 0)


def eval_cycles(record: Record) -> int:
    """Feedback cycles used when the record was evaluated."""
    return int(record.get("cycles", trained_cycles(record)))


def deployed(record: Record) -> bool:
    """Whether the record was evaluated with the cycles the model was trained with."""
    return eval_cycles(record) == trained_cycles(record)


def series_key(record: Record) -> SeriesKey:
    """The curve a record belongs to."""
    kwargs = record.get("model_kwargs") or {}
    cycles = trained_cycles(record)
    return SeriesKey(
        dataset=str(record.get("dataset", "?")),
        model=str(record.get("model", "?")),
        train_mode=str(record.get("train_mode") or "?"),
        trained_cycles=cycles,
        eta=float(kwargs.get("eta", 0.0)),
        readout="-" if cycles == 0 else str(record.get("readout", "-")),
    )


def series_labels(keys: Iterable[SeriesKey]) -> dict[SeriesKey, str]:
    """Reader-facing names: "CNN" and "CNN-F-k" (trained with k iterations, as in the paper), with the
    model, training mode, eta or readout added only where the given series differ in it."""
    keys = sorted(set(keys))
    cnnf = [k for k in keys if not k.cnn]
    varies = {
        "dataset": len({k.dataset for k in keys}) > 1,
        "model": len({k.model for k in keys if k.cnn}) > 1 or len({k.model for k in cnnf}) > 1,
        "train_mode": len({k.train_mode for k in keys}) > 1,
        "eta": len({k.eta for k in cnnf}) > 1,
        "readout": len({k.readout for k in cnnf}) > 1,
    }
    labels = {}
    for key in keys:
        if key.train_mode == EXTERNAL_MODE:  # a user's model: its own name, never the zoo's "CNN"
            labels[key] = key.model
            continue
        label = "CNN" if key.cnn else f"CNN-F-{key.trained_cycles}"
        extra = []
        if varies["readout"] and not key.cnn:
            extra.append(key.readout)
        if varies["eta"] and not key.cnn:
            extra.append(f"eta {key.eta:g}")
        if varies["train_mode"]:
            extra.append(key.train_mode)
        if varies["model"]:
            extra.append(key.model)
        if varies["dataset"]:
            extra.append(key.dataset)
        labels[key] = f"{label} ({', '.join(extra)})" if extra else label
    return labels


def canonical(value: Any) -> str:
    """Stable text of a JSON-like value (dictionary keys sorted)."""
    return json.dumps(value, sort_keys=True, default=str)


def family(record: Record) -> tuple[str, str]:
    """An attack with every parameter but eps (records of one family differ only in eps): (attack, params)."""
    params = {k: v for k, v in (record.get("params") or {}).items() if k != "eps"}
    if record.get("attack") == "transfer":
        source = record.get("source") or {}
        params["source"] = source.get("model") if isinstance(source, Mapping) else source
    return str(record["attack"]), canonical(params)


def family_label(attack: str, params: Mapping[str, Any]) -> str:
    """Short name such as "PGD-40" or "FGSM"."""
    name = DISPLAY.get(attack, attack.upper())
    steps = next((params[k] for k in STEP_PARAMS if k in params), None)
    return f"{name}-{steps}" if steps is not None else name


def params_text(params: Mapping[str, Any], skip: Sequence[str] = ("eps",)) -> str:
    """Parameters as "key value" text for titles (booleans as words, floats shortest)."""
    parts = []
    for key, value in sorted(params.items()):
        if key in skip:
            continue
        text = f"{value:g}" if isinstance(value, float) else ("default" if value is None else str(value))
        parts.append(f"{key} {text}")
    return ", ".join(parts)


def _flags(record: Record) -> np.ndarray | None:
    correct = record.get("correct")
    if not correct:
        return None
    return unpack_bits(str(correct), int(record["n"]))


def run_value(records: Sequence[Record]) -> tuple[float, int]:
    """Accuracy of one run under the records' attack: per attack seed, correct under every view (per
    example, on the common prefix of the subsets), then the mean over attack seeds; and the images used.

    Records without per-example flags fall back to the smallest stored accuracy (the stronger view).
    """
    by_seed: dict[Any, list[Record]] = defaultdict(list)
    for record in records:
        by_seed[record.get("attack_seed", 0)].append(record)
    values, sizes = [], []
    for seed_records in by_seed.values():
        flags = [_flags(r) for r in seed_records]
        if all(f is not None for f in flags):
            m = min(int(r["n"]) for r in seed_records)
            survived = np.ones(m, dtype=bool)
            for f in flags:
                assert f is not None
                survived &= f[:m]
            values.append(float(survived.mean()) if m else 0.0)
            sizes.append(m)
        else:
            values.append(min(int(r["n_correct"]) / max(int(r["n"]), 1) for r in seed_records))
            sizes.append(min(int(r["n"]) for r in seed_records))
    return statistics.fmean(values), min(sizes)


def run_seed(records: Sequence[Record]) -> int | None:
    """Training seed of a run's records."""
    seed = records[0].get("train_seed")
    return None if seed is None else int(seed)


def by_run(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Records grouped by training run (checkpoint sha256), ordered by training seed."""
    runs: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        runs[str((record.get("checkpoint") or {}).get("sha256", "?"))].append(record)
    return dict(sorted(runs.items(), key=lambda item: (run_seed(item[1]) is None, run_seed(item[1]) or 0, item[0])))


def summarise(values: Sequence[float], seeds: Sequence[int | None], n: int) -> Stat:
    """Mean and sample standard deviation (ddof 1; None for a single run)."""
    std = statistics.stdev(values) if len(values) >= 2 else None
    return Stat(statistics.fmean(values), std, tuple(seeds), tuple(values), n)


def accuracy(records: Sequence[Record]) -> Stat | None:
    """Mean ± std over training runs of :func:`run_value` (None without records)."""
    if not records:
        return None
    values, seeds, sizes = [], [], []
    for run_records in by_run(records).values():
        value, size = run_value(run_records)
        values.append(value)
        seeds.append(run_seed(run_records))
        sizes.append(size)
    return summarise(values, seeds, min(sizes))


def seeds_text(seeds: Iterable[int | None]) -> str:
    """ "seed 0" / "seeds 0-4" / "seeds 0, 2" for titles."""
    known = sorted({s for s in seeds if s is not None})
    if not known:
        return "seed unknown"
    if len(known) == 1:
        return f"seed {known[0]}"
    if known == list(range(known[0], known[-1] + 1)):
        return f"seeds {known[0]}-{known[-1]}"
    return "seeds " + ", ".join(str(s) for s in known)


def n_text(sizes: Iterable[int]) -> str:
    """ "n=1000" (or "n=50-1000" when records differ) test images per run."""
    values = sorted(set(sizes))
    if not values:
        return "n=?"
    return f"n={values[0]}" if len(values) == 1 else f"n={values[0]}-{values[-1]}"


VIEW_ORDER = ("first", "e2e", "e2e-avg", "bpda")


def ordered_views(views: Iterable[str]) -> list[str]:
    """Views in the conventional order (first, e2e, ...), unknown ones after, alphabetically."""
    return sorted(set(views), key=lambda v: (VIEW_ORDER.index(v) if v in VIEW_ORDER else len(VIEW_ORDER), v))


def targets_text(records: Iterable[Record]) -> str:
    """The views a set of records attacked, e.g. "worst of views first, e2e per example"."""
    views = ordered_views({str(r.get("target", "-")) for r in records} - {"-"})
    if not views:
        return ""
    if len(views) == 1:
        return f"view {views[0]}"
    return f"worst of views {', '.join(views)} per example"


def stat_fields(stat: Stat) -> list[Any]:
    """CSV cells of a statistic: mean, std, n_runs, seeds, n, per-run values (space separated)."""
    return [
        stat.mean,
        stat.std,
        stat.n_runs,
        " ".join(str(s) for s in stat.seeds),
        stat.n,
        " ".join(repr(v) for v in stat.values),
    ]


STAT_HEADER = ("mean", "std", "n_runs", "seeds", "n", "run_values")
