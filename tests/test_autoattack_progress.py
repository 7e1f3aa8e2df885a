"""AutoAttack moves the progress bar once per stage (a stage runs minutes on the CPU without it)."""

from __future__ import annotations

import torch

from cnnf_bench.evaluate import make_attack
from cnnf_bench.progress import listen


def test_autoattack_reports_each_of_its_four_stages() -> None:
    torch.manual_seed(0)
    weight = torch.randn(10, 16)
    attack = make_attack("autoattack", {"eps": 0.3, "n_iter": 2, "n_queries": 5})
    heard: list[tuple[int, int]] = []
    x, y = torch.rand(6, 1, 4, 4), torch.arange(6)
    with listen(lambda done, total: heard.append((done, total))):
        attack.run(lambda v: v.flatten(1) @ weight.T, x, y, torch.Generator().manual_seed(0))
    assert heard == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_autoattack_does_not_import_art() -> None:
    """AutoAttack needs ART's session only for device pinning and state restore; ART's import costs seconds."""
    import subprocess
    import sys

    code = """
import sys, torch
from cnnf_bench.evaluate import make_attack
weight = torch.randn(10, 16, generator=torch.Generator().manual_seed(0))
attack = make_attack("autoattack", {"eps": 0.3, "n_iter": 2, "n_queries": 5, "version": "standard"})
attack.run(lambda v: v.flatten(1) @ weight.T, torch.rand(4, 1, 4, 4), torch.arange(4), torch.Generator().manual_seed(0))
print(sorted(m for m in sys.modules if m == "art" or m.startswith("art.")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
