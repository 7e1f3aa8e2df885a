"""What ``cnnf-bench models`` and ``cnnf-bench attacks`` list, without importing torch on every call.

The listings come from the registries (model classes, attack dataclasses, view names, protocols), which
import torch and ART. Building them takes seconds and ~750 MB; the result depends only on the package's
source and the installed torch / ART versions. So the first call after an install or an edit builds the
catalogue from the registries and keeps it as JSON in the cache folder, under a fingerprint of exactly
those inputs; every later call reads the JSON (milliseconds, no torch). A changed source file or library
version changes the fingerprint, so a stale listing is never shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

from cnnf_bench.fileio import atomic_write_bytes

PACKAGE = Path(__file__).resolve().parent
LIBRARIES = ("torch", "adversarial-robustness-toolbox")


def cache_folder() -> Path:
    """The tool's cache folder (``$XDG_CACHE_HOME/cnnf-bench``, default ``~/.cache/cnnf-bench``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cnnf-bench"


def fingerprint() -> str:
    """sha256 of every source file of the package (path and bytes) and of the torch and ART versions."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{name}={importlib.metadata.version(name)}\0".encode())
    return digest.hexdigest()[:16]


def build() -> dict[str, Any]:
    """The catalogue from the registries (imports torch and ART)."""
    import dataclasses

    from cnnf_bench.attacks import ATTACKS
    from cnnf_bench.attacks.views import VIEW_HELP
    from cnnf_bench.protocols import PROTOCOLS
    from cnnf_bench.zoo import MODELS, build_model

    models = []
    for name, spec in MODELS.items():
        model = build_model(name)
        models.append(
            {
                "model": name,
                "dataset": spec.dataset,
                "cycles": getattr(model, "cycles", None),  # None: not a feedback model (FPD)
                "k": getattr(model, "ind", None),
                "eta": getattr(model, "eta", None),
                "readout": str(model.readout),
                "parameters": int(model.num_unique_parameters()),
                "description": spec.description,
            }
        )
    attacks = []
    for name, cls in ATTACKS.items():
        fields = [f for f in dataclasses.fields(cls) if f.name != "eps"]
        attacks.append(
            {
                "attack": name,
                "kind": "view-free" if not cls.uses_view else ("black-box" if cls.black_box else "gradient"),
                "parameters": ", ".join(f"{f.name}={f.default}" for f in fields) or "-",
                "summary": cls.summary,
            }
        )
    return {
        "models": models,
        "attacks": attacks,
        "views": dict(VIEW_HELP),
        "protocols": {name: p.description for name, p in PROTOCOLS.items()},
    }


def catalogue() -> dict[str, Any]:
    """The catalogue: read from the cache when its fingerprint matches, else built and cached."""
    path = cache_folder() / f"catalog-{fingerprint()}.json"
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and {"models", "attacks", "views", "protocols"} <= data.keys():
            return data
    data = build()
    with contextlib.suppress(Exception):  # a cache that cannot be written only costs time
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(data, sort_keys=True).encode())
    return data
