"""A tiny suite for the executor tests: two small models (CNN and CNN-F), one seed, clean, PGD, transfer."""

from __future__ import annotations

from pathlib import Path


def write_suite(folder: Path, body: str = "", cnnf_epochs: int = 1, executor: str = "") -> Path:
    """``folder/tiny.yaml`` whose checkpoints, results and report all live under ``folder``.

    eps 0.02 keeps the attacked accuracies away from 0, so a changed number would show.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.yaml"
    path.write_text(
        f"""
name: tiny
output_dir: {folder}/ck
results: {folder}/results/tiny.jsonl
report: {folder}/report
seeds: [0]
models: [cnn-fmnist-small, {{name: cnnf-fmnist-small, cycles: 1, train: {{epochs: {cnnf_epochs}}}}}]
config:
  data: {{test_subset: 32}}
  train: {{mode: standard, epochs: 1, batch_size: 64}}
evaluation: {{n: 16, readouts: [last, avg], batch_size: 16}}
attacks:
  - none
  - {{attack: pgd, targets: [first, e2e], params: {{steps: 2, eps: 0.02}}}}
  - {{attack: transfer, params: {{steps: 2, eps: 0.02}}}}
{body}
{executor}"""
    )
    return path
