"""Attack families: the records of one attack with every parameter but eps fixed, on one dataset.

A figure of accuracy against eps (or against iterations at each eps) draws one family; the grouping
has to recognise a PGD step stored as a multiple of eps, which is what this module is for.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cnnf_bench.plots.data import Record, family, family_label


@dataclass
class Family:
    """Records of one attack with fixed parameters except eps, on one dataset."""

    dataset: str
    attack: str
    params: dict[str, Any]
    records: list[Record] = field(default_factory=list)

    @property
    def label(self) -> str:
        """Short name, e.g. "PGD-40"."""
        return family_label(self.attack, self.params)

    def eps_values(self) -> list[float]:
        """Distinct eps values, ascending."""
        return sorted({float(r["eps"]) for r in self.records})


#: parameters that attacks often scale with eps (a PGD step of 2.5 eps / steps); see :func:`attack_families`
EPS_SCALED_PARAMS = ("step_size",)


def _step_rule(record: Record, relative: bool) -> tuple[str, float | None]:
    """How a record's step relates to its eps: ("relative", step / eps) or ("absolute", step)."""
    params = record.get("params") or {}
    step = next((params[k] for k in EPS_SCALED_PARAMS if params.get(k) is not None), None)
    eps = float(record["eps"])
    if step is None:
        return ("none", None)
    if relative and eps > 0:
        return ("relative", round(float(step) / eps, 9))
    return ("absolute", float(step))


def attack_families(records: Sequence[Record]) -> list[Family]:
    """Attacks that use a view (gradient, score or transfer attacks with an eps), grouped into families.

    A family shares every parameter but eps. A step size is part of the family either as a fixed value
    or as a multiple of eps (attacks such as PGD store the step they derived from eps): records whose
    step is the same multiple of eps at two or more eps values form one family ("step_size 0.0625 eps"),
    the others are grouped by their absolute step.
    """
    base: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in records:
        if record.get("target", "-") == "-" or record.get("eps") is None:
            continue
        attack, family_params = family(record)
        trimmed = {k: v for k, v in json.loads(family_params).items() if k not in EPS_SCALED_PARAMS}
        base[(str(record.get("dataset")), attack, json.dumps(trimmed, sort_keys=True))].append(record)
    families: list[Family] = []
    for (dataset, attack, params_json), group in base.items():
        by_ratio: dict[tuple[str, float | None], list[Record]] = defaultdict(list)
        for record in group:
            by_ratio[_step_rule(record, relative=True)].append(record)
        rest: list[Record] = []
        for rule, members in by_ratio.items():
            if rule[0] == "relative" and len({float(r["eps"]) for r in members}) >= 2:
                params = {**json.loads(params_json), "step_size": f"{rule[1]:g} eps"}
                families.append(Family(dataset, attack, params, members))
            else:
                rest += members
        by_step: dict[tuple[str, float | None], list[Record]] = defaultdict(list)
        for record in rest:
            by_step[_step_rule(record, relative=False)].append(record)
        for rule, members in by_step.items():
            params = json.loads(params_json) | ({} if rule[1] is None else {"step_size": rule[1]})
            families.append(Family(dataset, attack, params, members))
    return sorted(families, key=lambda f: (f.dataset, f.attack, json.dumps(f.params, sort_keys=True)))
