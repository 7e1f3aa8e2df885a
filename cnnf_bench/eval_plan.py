"""What an evaluation asks for, and which attack runs it takes.

:class:`EvalRequest` is the request; :func:`plan_jobs` groups its (target, readout) records by the
adversarial examples they need, so each set is made once; :func:`stored_keys` and :func:`legacy_key`
recognise records a store already holds (also under the keys of stores written before the protocol
joined a record's identity); :func:`subset_size` decides how many images are attacked. Nothing here
runs a model: :mod:`cnnf_bench.evaluate` does, following this plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnf_bench.errors import UsageError
from cnnf_bench.results import ResultsStore, record_key

if TYPE_CHECKING:
    from cnnf_bench.attacks import Attack
    from cnnf_bench.checkpoint import Checkpoint
    from cnnf_bench.zoo.classifier import Classifier


@dataclass(frozen=True)
class EvalRequest:
    """What to run: an attack with its parameters, on which views, scored with which readouts.

    ``n`` images of the fixed evaluation subset (None: the whole test split); with ``n_from_protocol``
    the protocol's own subset size for this attack wins where it has one (the original ran SPSA on
    1,000 Fashion-MNIST / 640 CIFAR-10 images). An ``n`` above the test split's size is an error when
    ``n_explicit`` (the user asked for it); a default is clipped to the split, with a limit note.
    """

    attack: str
    params: dict[str, Any] = field(default_factory=dict)
    targets: tuple[str, ...] = ("first",)
    readouts: tuple[str, ...] | None = None
    n: int | None = 1000
    n_from_protocol: bool = False
    n_explicit: bool = False
    subset_seed: int = 0
    attack_seed: int = 0
    batch_size: int = 250
    protocol: str = "paper"
    cycles: int | None = None
    source: Path | Checkpoint | None = None


@dataclass
class Job:
    """One generation of adversarial examples and the (target, readout) records it yields."""

    target: str  # the view used to generate
    readout_for_score: str | None  # deployed readout the attack may consult, None if it does not
    outputs: list[tuple[str, str, dict[str, Any]]]  # (target, readout, identity)
    view_readout: str | None = None  # the readout the view itself computes (bpda), None if it has none


def plan_jobs(
    model: Classifier, attack: Attack, targets: tuple[str, ...], readouts: tuple[str, ...], identity: dict[str, Any]
) -> list[Job]:
    """Group the requested (target, readout) records by the examples they need, so each is made once.

    A single-function model (a CNN) makes one set of examples for every view; an attack that never
    consults the deployed model shares its examples across readouts, unless the view itself depends on
    the readout (bpda). The ``deployed`` alias becomes the concrete view of each readout.
    """
    jobs: dict[tuple[str, str | None, str | None], Job] = {}
    for requested in targets:
        for readout in readouts:
            target = requested if requested == "-" else model.resolve_view(requested, readout)
            gen_target = targets[0] if model.single_function else target
            if model.single_function and gen_target != "-":
                gen_target = model.resolve_view(gen_target, readouts[0])
            score_readout = readout if attack.uses_score() and not model.single_function else None
            if attack.uses_score() and score_readout is None:
                score_readout = readouts[0]
            view_readout = readout if gen_target != "-" and model.view_uses_readout(gen_target) else None
            key = (gen_target, score_readout, view_readout)
            job = jobs.setdefault(key, Job(gen_target, score_readout, [], view_readout))
            ident = {**identity, "target": target, "readout": readout}
            job.outputs.append((target, readout, ident))
    return list(jobs.values())


def stored_keys(store: ResultsStore | None, protocol: str) -> tuple[set[str], set[str]]:
    """Keys in the store, and the keys of its records of ``protocol`` (to recognise pre-protocol keys)."""
    if store is None:
        return set(), set()
    records = store.records()  # raises for a file that is not a JSONL store, before any attack runs
    return {r["key"] for r in records}, {r["key"] for r in records if r.get("protocol") == protocol}


def legacy_key(identity: dict[str, Any]) -> str:
    """The key a record had before the protocol joined the identity (stores written up to 0.1.x)."""
    return record_key({k: v for k, v in identity.items() if k != "protocol"})


def subset_size(request: EvalRequest, protocol_n: int | None, total: int, dataset: str) -> tuple[int | None, str]:
    """The number of evaluation images, and a limit note when a default had to be clipped to the split."""
    n = protocol_n if request.n_from_protocol and protocol_n is not None else request.n
    if n is None or n <= total:
        return n, ""
    if request.n_explicit:
        raise UsageError(
            f"--n {n} is more than the {total} images of the {dataset} test split; use --n {total} or --all"
        )
    return total, f"n {n} asked for, but the {dataset} test split has only {total} images: all {total} used"
