"""A suite's job list as ``status`` reads it, kept in the cache so that ``status`` needs no torch.

Planning a suite validates it against the model, attack, view and protocol registries and resolves
every run config, which imports torch and ART (seconds, ~750 MB). What ``status`` needs from the plan
is small: each job's id, kind, label, folder name, checkpoint and the checkpoints it reads. That outline
depends only on the suite file's bytes, the path it was given by, the working folder (relative output
folders), the package's source and the torch / ART versions; so the first ``status`` of a suite plans
it and keeps the outline as JSON in the cache folder under a hash of exactly those inputs
(:func:`cnnf_bench.catalog.fingerprint` for the source and versions), and every later call reads the
JSON. An edited suite, source file or library changes the hash, so a stale outline is never used.
``run`` plans the suite anyway, so it saves the same outline under the same name (:func:`save_outline`)
when it runs the suite as written; a ``status`` after a ``run`` then never imports torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnf_bench.catalog import cache_folder, fingerprint
from cnnf_bench.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from cnnf_bench.jobs import JobGraph

SCHEMA = 1


@dataclass(frozen=True)
class JobRef:
    """What ``status`` knows of one job (the fields :mod:`cnnf_bench.ledger` reads)."""

    id: str
    kind: str
    label: str
    slug: str
    checkpoint: Path
    sources: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Outline:
    """A validated suite's name, results file and jobs in execution order."""

    name: str
    results: Path
    jobs: tuple[JobRef, ...]

    def count(self, kind: str) -> int:
        """How many jobs of a kind."""
        return sum(1 for job in self.jobs if job.kind == kind)


def outline_path(suite: Path) -> Path:
    """The cache file of a suite's outline (see the module doc for what the name hashes)."""
    try:
        text = Path(suite).read_bytes()
    except OSError:
        text = b""  # load_suite reports the unreadable file
    digest = hashlib.sha256()
    for part in (fingerprint().encode(), str(suite).encode(), os.getcwd().encode(), text):
        digest.update(part + b"\0")
    return cache_folder() / "outlines" / f"{digest.hexdigest()[:24]}.json"


def _to_json(outline: Outline) -> dict[str, Any]:
    jobs = [
        {
            "id": job.id,
            "kind": job.kind,
            "label": job.label,
            "slug": job.slug,
            "checkpoint": str(job.checkpoint),
            "sources": [str(p) for p in job.sources],
        }
        for job in outline.jobs
    ]
    return {"schema": SCHEMA, "name": outline.name, "results": str(outline.results), "jobs": jobs}


def _from_json(data: Any) -> Outline | None:
    """The outline a cache file holds, or None when it is not one this version wrote."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    try:
        jobs = tuple(
            JobRef(
                id=str(j["id"]),
                kind=str(j["kind"]),
                label=str(j["label"]),
                slug=str(j["slug"]),
                checkpoint=Path(j["checkpoint"]),
                sources=tuple(Path(p) for p in j["sources"]),
            )
            for j in data["jobs"]
        )
        return Outline(name=str(data["name"]), results=Path(data["results"]), jobs=jobs)
    except (KeyError, TypeError):
        return None


def outline_of(graph: JobGraph) -> Outline:
    """What ``status`` reads of a planned suite."""
    jobs = tuple(JobRef(j.id, j.kind, j.label, j.slug, j.checkpoint, j.sources) for j in graph.jobs)
    return Outline(name=graph.suite.name, results=graph.suite.results, jobs=jobs)


def build_outline(suite: Path) -> Outline:
    """Parse, validate and plan the suite (imports torch and ART) and keep only what ``status`` reads."""
    from cnnf_bench.jobs import plan
    from cnnf_bench.suite import load_suite

    return outline_of(plan(load_suite(suite)))


def save_outline(path: Path, outline: Outline) -> None:
    """Keep ``outline`` in the cache file ``path`` (:func:`outline_path` of its suite file).

    Only an outline planned from that file exactly as written belongs there (not one of a suite whose
    output folders a command line overrode): ``status SUITE`` trusts it without planning again. Take
    ``path`` before reading the suite, so that a file edited meanwhile is not filed under its new bytes.
    """
    with contextlib.suppress(Exception):  # a cache that cannot be written only costs time
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(_to_json(outline), sort_keys=True).encode())


def suite_outline(suite: Path) -> Outline:
    """The suite's outline: read from the cache when its inputs are unchanged, else built and cached."""
    path = outline_path(suite)
    with contextlib.suppress(OSError, ValueError):
        cached = _from_json(json.loads(path.read_text()))
        if cached is not None:
            return cached
    outline = build_outline(suite)
    save_outline(path, outline)
    return outline
