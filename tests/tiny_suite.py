"""Tiny suites for the suite and executor tests: small models on a few test images, written under a folder."""

from __future__ import annotations

from pathlib import Path

TWO_MODELS = "[cnn-fmnist-small, {name: cnnf-fmnist-small, cycles: 1}]"


def suite_header(
    folder: Path,
    models: str = TWO_MODELS,
    seeds: str = "[0]",
    results: str = "results.jsonl",
    test_subset: int = 32,
) -> str:
    """The YAML every tiny suite starts with: its name, its folders under ``folder``, its models and seeds,
    and one epoch of standard training on ``test_subset`` test images; the test adds evaluation and attacks."""
    folder.mkdir(parents=True, exist_ok=True)
    return f"""
name: tiny
output_dir: {folder}/ck
results: {folder}/{results}
report: {folder}/report
seeds: {seeds}
models: {models}
config:
  data: {{test_subset: {test_subset}}}
  train: {{mode: standard, epochs: 1, batch_size: 64}}
"""


def write_suite(folder: Path, body: str = "", cnnf_epochs: int = 1, executor: str = "") -> Path:
    """``folder/tiny.yaml``: CNN and CNN-F-1, one seed, clean, PGD and transfer, results in one JSONL under
    ``folder/results`` (the executors' layout).

    eps 0.02 keeps the attacked accuracies away from 0, so a changed number would show.
    """
    path = folder / "tiny.yaml"
    models = f"[cnn-fmnist-small, {{name: cnnf-fmnist-small, cycles: 1, train: {{epochs: {cnnf_epochs}}}}}]"
    path.write_text(
        suite_header(folder, models=models, results="results/tiny.jsonl")
        + f"""evaluation: {{n: 16, readouts: [last, avg], batch_size: 16}}
attacks:
  - none
  - {{attack: pgd, targets: [first, e2e], params: {{steps: 2, eps: 0.02}}}}
  - {{attack: transfer, params: {{steps: 2, eps: 0.02}}}}
{body}
{executor}"""
    )
    return path
