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
