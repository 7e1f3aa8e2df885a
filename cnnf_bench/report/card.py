"""A model card per report row, the kind of entry RobustBench's leaderboard keeps.

What the row's records say about how its numbers were made: the threat model (L-inf, eps in [0, 1]
pixel units), the model and its training (mode, constructor settings, training seeds, and the recipe
from each checkpoint's ``config.yaml`` when that file is still beside the checkpoint), the paper the
architecture comes from, each checkpoint's sha256, and the tool and library versions and devices the
evaluations ran with. Torch-free; a missing or unreadable ``config.yaml`` leaves the recipe out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cnnf_bench.report.layout import EXTERNAL_MODE
from cnnf_bench.report.model import Record

#: the paper each model family comes from (by registry-name prefix)
PAPERS = {
    "cnnf-": "Huang, Gao, Zhao, Anandkumar et al., Neural Networks with Recurrent Generative Feedback, NeurIPS 2020",
    "cnn-": "the CNN baseline of Huang et al., NeurIPS 2020 (the CNN-F architecture with 0 feedback cycles)",
}
#: training-recipe fields copied from a checkpoint's config.yaml
RECIPE_KEYS = ("mode", "epochs", "batch_size", "lr", "momentum", "weight_decay", "eps", "step", "steps", "optimizer")


def paper_of(model: str) -> str | None:
    """The paper of a registered model name, None when the tool does not know it."""
    return next((text for prefix, text in PAPERS.items() if model.startswith(prefix)), None)


def _recipe(checkpoint_path: str) -> dict[str, Any] | None:
    """The training section (and data sizes) of the ``config.yaml`` beside a checkpoint, if readable."""
    import yaml

    path = Path(checkpoint_path).parent / "config.yaml"
    with contextlib.suppress(OSError, yaml.YAMLError, AttributeError, TypeError):
        config = yaml.safe_load(path.read_text())
        train = config.get("train") or {}
        data = config.get("data") or {}
        recipe = {k: train[k] for k in RECIPE_KEYS if k in train}
        recipe.update({f"data.{k}": v for k, v in data.items() if k in ("dataset", "train_subset")})
        return recipe
    return None


def _distinct(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def model_card(records: Sequence[Record], dataset: str, eps: float) -> dict[str, Any]:
    """The card of one row from its records (every column's, clean included)."""
    models = _distinct([str(r["model"]) for r in records])
    zoo = _distinct([str(r["model"]) for r in records if r.get("train_mode") != EXTERNAL_MODE])
    checkpoints: dict[str, dict[str, Any]] = {}
    for r in records:
        ckpt: Mapping[str, Any] = r.get("checkpoint") or {}
        sha = str(ckpt.get("sha256", ""))
        if sha and sha not in checkpoints:
            checkpoints[sha] = {
                "train_seed": r.get("train_seed"),
                "sha256": sha,
                "path": ckpt.get("path"),
                "recipe": _recipe(str(ckpt.get("path", ""))),
            }
    timestamps = sorted(str(r["timestamp"]) for r in records if r.get("timestamp"))
    return {
        "threat_model": {"norm": "Linf", "eps": eps, "units": "[0, 1] pixel scale"},
        "dataset": dataset,
        "models": models,
        # a model the tool did not train may carry any name: no paper is claimed for it
        "papers": _distinct([p for m in zoo if (p := paper_of(m)) is not None]),
        "training": {
            "modes": _distinct([r.get("train_mode") for r in records]),
            "model_kwargs": _distinct([dict(r.get("model_kwargs") or {}) for r in records]),
            "train_seeds": sorted({s for r in records if isinstance(s := r.get("train_seed"), int)}),
        },
        "checkpoints": sorted(checkpoints.values(), key=lambda c: (str(c["train_seed"]), c["sha256"])),
        "versions": _distinct([dict(r.get("versions") or {}) for r in records]),
        "devices": _distinct([r.get("device") for r in records if r.get("device")]),
        "evaluated": {"first": timestamps[0], "last": timestamps[-1]} if timestamps else None,
    }


def report_environment() -> dict[str, Any]:
    """Where and with what the report itself was made: tool version, its git commit, Python, hardware."""
    import platform
    import subprocess

    from cnnf_bench import __version__

    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        commit = out.stdout.strip() or None if out.returncode == 0 else None
    return {
        "tool": "cnnf-bench",
        "tool_version": __version__,
        "tool_git_commit": commit,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "system": platform.system(),
    }
