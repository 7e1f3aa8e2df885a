"""Rows and columns of a report table: which records share a row or a column, and their labels.

Rows: ``CNN`` (``model_kwargs["cycles"] == 0``), ``CNN-F (last)``, ``CNN-F (avg)`` (by readout), ``FPD``
(records whose ``family`` is ``fpd``: one readout, so none is named), plus disambiguated variants (other
models, training modes, trained cycles, test-time ``T=k``, model settings). A model the tool did not
train (training mode ``external``: ``--model-spec``, the API, a suite's ``external:`` entry) gets a row
under its own name, after the zoo's rows, so it is never read as the zoo's CNN.

Columns: one per attack, view and setting. Records share a column only when they are comparable: the
same attack parameters (and transfer source) *and the same evaluation images* (subset seed and n), so
that the column's cell averages training runs of one measurement. Where one attack and view holds
several settings or image sets, the column splits and its label says what differs (``[steps=40]``,
``[n=400]``, ``[subset seed=1]``); a note explains image splits.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnnf_bench.report.model import Record
from cnnf_bench.report.records import images

DISPLAY_NAMES: dict[str, str] = {
    "none": "Clean",
    "fgsm": "FGSM",
    "pgd": "PGD",
    "spsa": "SPSA",
    "transfer": "Transfer",
    "square": "Square",
    "apgd-ce": "APGD-CE",
    "apgd-dlr": "APGD-DLR",
    "noise": "Noise",
    "autoattack": "AutoAttack",
    "bim": "BIM",
    "cw-l2": "C&W-L2",
    "deepfool": "DeepFool",
    "hsj": "HopSkipJump",
}
#: attacks that are not attacks for Min / Worst case
NON_ATTACKS = frozenset({"none", "noise"})
#: attacks whose column ignores the target (view)
VIEWLESS = frozenset({"none", "noise", "transfer"})
#: the paper's column order (attack, target); transfer with any target
PAPER_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("none", None),
    ("pgd", "first"),
    ("pgd", "e2e"),
    ("spsa", "first"),
    ("spsa", "e2e"),
    ("transfer", None),
)
ATTACK_ORDER = (
    "fgsm", "art-fgsm", "pgd", "art-pgd", "bim", "spsa", "square", "apgd-ce", "apgd-dlr", "autoattack", "cw-l2",
    "deepfool", "hsj",
)  # fmt: skip
TARGET_ORDER = ("-", "first", "e2e", "e2e-avg", "pre-tanh", "bpda")
READOUT_ORDER = ("last", "avg")
#: how image qualifiers are named in split column labels
IMAGE_N, IMAGE_SEED = "n", "subset seed"


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys), so equal settings compare equal whatever their key order."""
    return json.dumps(value, sort_keys=True, default=str)


def display_name(attack: str) -> str:
    """Display name of an attack (unknown names upper-cased)."""
    return DISPLAY_NAMES.get(attack, attack.upper())


def value_text(value: Any) -> str:
    """A setting's value as label text."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


# ----------------------------------------------------------------------------------------------- rows

#: the training mode of records of models the tool did not train (``cnnf_bench.external.EXTERNAL_MODE``)
EXTERNAL_MODE = "external"


@dataclass(frozen=True)
class RowKey:
    """What puts records in one row: the model, its training, its test-time cycles and readout."""

    cnn: bool
    model: str
    train_mode: str
    trained_cycles: int
    test_cycles: int
    readout: str | None  # None for CNN rows: the readout is irrelevant without feedback
    #: the other model settings (eta, ind, ...) as canonical JSON; "" for CNN rows (no feedback to set)
    settings: str = ""
    #: the model family a record names (``fpd``); "" for CNN and CNN-F records
    family: str = ""

    @property
    def external(self) -> bool:
        """A model the tool did not train: its row is labelled with its own name."""
        return self.train_mode == EXTERNAL_MODE


#: model settings that a row key holds in its own fields
_ROW_FIELDS = ("cycles", "readout")
#: model settings that only matter with feedback cycles
FEEDBACK_SETTINGS = ("eta", "ind", "readout")


def _trained_cycles(record: Record) -> int:
    kwargs: Mapping[str, Any] = record.get("model_kwargs") or {}
    cycles = kwargs.get("cycles", record.get("cycles"))
    return int(cycles) if isinstance(cycles, int) else 0


def row_key(record: Record) -> RowKey:
    """The row a record belongs to."""
    trained = _trained_cycles(record)
    family = str(record.get("family") or "")
    cnn = trained == 0 and not family
    kwargs: Mapping[str, Any] = record.get("model_kwargs") or {}
    settings = "" if cnn else canonical({k: v for k, v in kwargs.items() if k not in _ROW_FIELDS})
    return RowKey(
        cnn=cnn,
        model=str(record["model"]),
        train_mode=str(record.get("train_mode") or ""),
        trained_cycles=trained,
        test_cycles=int(record.get("cycles", trained)),
        readout=None if cnn else str(record.get("readout")),
        settings=settings,
        family=family,
    )


def model_settings(record: Record, key: RowKey) -> str:
    """The record's model settings that should agree within a row (feedback settings ignored for CNNs)."""
    kwargs = dict(record.get("model_kwargs") or {})
    if key.cnn:  # settings of the feedback mean nothing without cycles
        kwargs = {k: v for k, v in kwargs.items() if k not in FEEDBACK_SETTINGS}
    return canonical(kwargs)


def _order_index(value: str, order: Sequence[str]) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), value)


def row_labels(keys: Iterable[RowKey]) -> dict[RowKey, str]:
    """Paper row names, disambiguated only where a row kind holds several models / modes / trainings.

    An external model's rows are a kind of their own, named after the model (its factory's or the
    suite's given name); should that name be a zoo row's label, " (external)" follows it.
    """
    keys = list(keys)
    by_kind: dict[tuple[bool, str | None, str, str], list[RowKey]] = defaultdict(list)
    for key in keys:
        by_kind[(key.cnn, key.readout, key.family, key.model if key.external else "")].append(key)
    labels: dict[RowKey, str] = {}
    for kind_keys in by_kind.values():
        many_models = len({k.model for k in kind_keys}) > 1
        many_modes = len({k.train_mode for k in kind_keys}) > 1
        many_trained = len({k.trained_cycles for k in kind_keys}) > 1
        settings = {k.settings: json.loads(k.settings) if k.settings else {} for k in kind_keys}
        names = sorted({name for values in settings.values() for name in values})
        differing = [n for n in names if len({canonical(v.get(n)) for v in settings.values()}) > 1]
        for key in kind_keys:
            inner = [] if key.cnn or key.family else [str(key.readout)]
            if key.test_cycles != key.trained_cycles:
                inner.append(f"T={key.test_cycles}")
            label = _base_row_label(key)
            if inner:
                label += f" ({', '.join(inner)})"
            extra = []
            if many_models:
                extra.append(key.model)
            if many_modes:
                extra.append(key.train_mode or "unknown training")
            if many_trained:
                extra.append(f"trained T={key.trained_cycles}")
            extra.extend(f"{n}={value_text(settings[key.settings].get(n, '-'))}" for n in differing)
            if extra:
                label += f" ({', '.join(extra)})"
            labels[key] = label
    taken = {label for key, label in labels.items() if not key.external}
    return {key: f"{label} (external)" if key.external and label in taken else label for key, label in labels.items()}


def _base_row_label(key: RowKey) -> str:
    if key.external:
        return key.model
    return "CNN" if key.cnn else (key.family.upper() if key.family else "CNN-F")


def row_order(key: RowKey) -> tuple[Any, ...]:
    """CNN first, then CNN-F by readout (last, avg), then FPD, then external models by name; then the
    disambiguating fields."""
    readout = (0, "") if key.cnn else (2 if key.family else 1, *_order_index(str(key.readout), READOUT_ORDER))
    if key.external:
        readout = (3, key.model, *readout)
    return (readout, key.model, key.train_mode, key.trained_cycles, key.test_cycles, key.settings)


# -------------------------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class ColumnKey:
    """What puts records in one column: attack and view (``base``), settings and evaluation images."""

    base: str  # label without the suffix that splits a base into several columns
    variant: str  # canonical JSON of the settings that distinguish records under the same base label
    images: str  # canonical JSON of the evaluation images (split, subset seed, n)

    @property
    def setting(self) -> tuple[str, str]:
        """The column without its image set: one measurement, whatever images it ran on."""
        return (self.base, self.variant)


def _loss(record: Record) -> str:
    """The loss an attack maximised; "ce" (cross-entropy) where the record does not say."""
    loss = (record.get("params") or {}).get("loss")
    return loss if isinstance(loss, str) else "ce"


#: a record field the report sets (never stored) to name a record's column by another view than its target
COLUMN_VIEW = "_column_view"


def column_view(record: Record) -> str:
    """The view a record's column is named by: its target, unless the report renamed it (COLUMN_VIEW)."""
    return str(record.get(COLUMN_VIEW, record.get("target", "-")))


def base_label(record: Record) -> str:
    """Attack (with a non-default loss) and view: "PGD (e2e)", "PGD-margin (e2e-avg)", "Transfer"."""
    attack, target = str(record["attack"]), column_view(record)
    name = display_name(attack)
    loss = _loss(record)
    if loss != "ce":
        name += f"-{loss}"
    if attack in VIEWLESS or target in ("-", ""):
        return name
    return f"{name} ({target})"


def _variant(record: Record) -> dict[str, Any]:
    """What separates records sharing a base label: params (eps ignored for clean), plus transfer source."""
    attack = str(record["attack"])
    variant = dict(record.get("params") or {})
    variant.pop("loss", None)  # in the base label
    if attack == "none":
        variant.pop("eps", None)
    if attack == "transfer":
        variant["target"] = record.get("target")
        source = record.get("source") or {}
        # the source *model name*, not its checkpoint: each training seed may use its own source run
        variant["source"] = source.get("model") if isinstance(source, Mapping) else source
    return variant


def _images_of(record: Record) -> dict[str, Any]:
    found = images(record)
    return {"split": found.split, IMAGE_SEED: found.seed, IMAGE_N: found.n}


def column_key(record: Record) -> ColumnKey:
    """The column a record belongs to."""
    return ColumnKey(base_label(record), canonical(_variant(record)), canonical(_images_of(record)))


def _base_order(attack: str, target: str) -> tuple[Any, ...]:
    """The paper's attacks first (Clean, PGD, SPSA, Transfer), each with its views in TARGET_ORDER (first,
    e2e, e2e-avg, bpda), then the other attacks in ATTACK_ORDER, then Noise (not an attack)."""
    paper = tuple(dict.fromkeys(a for a, _ in PAPER_COLUMNS))
    if attack in paper:
        return (0, (paper.index(attack), ""), _order_index(target, TARGET_ORDER))
    if attack == "noise":  # not an attack: after every attack column
        return (2, (0, ""), (0, ""))
    return (1, _order_index(attack, ATTACK_ORDER), _order_index(target, TARGET_ORDER))


def _value_order(value: Any) -> tuple[int, float, str]:
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return (1, float(value), "")
    return (2, 0.0, value_text(value))


def _differing(group: Iterable[Mapping[str, Any]]) -> list[str]:
    group = list(group)
    missing = object()
    names = sorted({name for values in group for name in values})
    return [name for name in names if len({canonical(v.get(name, missing)) for v in group}) > 1]


@dataclass
class Columns:
    """The columns of a table: labels per key, display order, the attack columns, and split notes."""

    labels: dict[ColumnKey, str]
    ordered: list[str]
    attack_labels: set[str]
    notes: list[str]


def column_layout(records: Sequence[Record]) -> Columns:
    """Labels of every column key (split where settings or images differ), their order and notes."""
    groups: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    order: dict[str, tuple[Any, ...]] = {}
    attack_bases: set[str] = set()
    for record in records:
        key = column_key(record)
        attack, target = str(record["attack"]), column_view(record)
        groups[key.base][(key.variant, key.images)] = {**_variant(record), **_images_of(record)}
        order[key.base] = (_base_order(attack, target), _loss(record) != "ce")  # CE beside its margin twin
        if attack not in NON_ATTACKS:
            attack_bases.add(key.base)
    out = Columns({}, [], set(), [])
    for base in sorted(groups, key=lambda b: (order[b], b)):
        group = groups[base]
        if len(group) == 1:
            ((variant, image_set),) = group
            out.labels[ColumnKey(base, variant, image_set)] = base
            out.ordered.append(base)
        else:
            found = _differing(group.values())
            # settings first, then the images (n before subset seed)
            image_names = [n for n in (IMAGE_N, IMAGE_SEED, "split") if n in found]
            params = [n for n in found if n not in image_names]
            differing = [*params, *image_names]

            def sort_key(item: tuple[tuple[str, str], dict[str, Any]], names: list[str] = differing) -> tuple[Any, ...]:
                values = item[1]
                return tuple((0, 0.0, "") if n not in values else _value_order(values[n]) for n in names)

            for (variant, image_set), values in sorted(group.items(), key=sort_key):
                suffix = ", ".join(
                    f"{n}={value_text(values[n]) if n in values else '-'}" for n in [*params, *image_names]
                )
                label = f"{base} [{suffix}]"
                out.labels[ColumnKey(base, variant, image_set)] = label
                out.ordered.append(label)
            if image_names:
                sets = "; ".join(
                    ", ".join(f"{n} {value_text(v[n])}" for n in image_names)
                    for v in sorted(group.values(), key=lambda v: tuple(_value_order(v[n]) for n in image_names))
                )
                out.notes.append(
                    f"{base} ran on different evaluation images ({sets}): records on different images are "
                    "never averaged, so it is split into columns."
                )
        if base in attack_bases:
            out.attack_labels.update(label for key, label in out.labels.items() if key.base == base)
    return out
