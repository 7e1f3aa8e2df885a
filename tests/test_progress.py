"""Progress for long work: per-iteration reports from inside a batch, ETA, time stamps when piped, and
repeated warnings printed once."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from rich.console import Console

from cnnf_bench.cli.render import ProgressRenderer
from cnnf_bench.evaluate import EvalEvent, EvalRequest, evaluate_checkpoint, make_attack
from cnnf_bench.progress import listen, report_iteration


def test_report_iteration_reaches_only_the_current_listener() -> None:
    heard: list[tuple[int, int]] = []
    report_iteration(1, 2)  # nobody listens: nothing happens
    with listen(lambda done, total: heard.append((done, total))):
        report_iteration(1, 3)
        with listen(None):
            report_iteration(2, 3)
        report_iteration(3, 3)
    report_iteration(4, 4)
    assert heard == [(1, 3), (3, 3)]


def test_pgd_reports_every_step_of_every_restart() -> None:
    attack = make_attack("pgd", {"eps": 0.1, "steps": 3, "restarts": 2, "step_size": 0.05})
    weight = torch.randn(10, 4)
    heard: list[tuple[int, int]] = []
    with listen(lambda done, total: heard.append((done, total))):
        attack.run(lambda v: v.flatten(1) @ weight.T, torch.rand(5, 4), torch.arange(5), torch.Generator())
    assert heard == [(i, 6) for i in range(1, 7)]


def test_evaluate_sends_iteration_events_inside_a_batch(tiny_runs: dict[str, Path], fashion_dir: Path) -> None:
    events: list[EvalEvent] = []
    request = EvalRequest(attack="pgd", params={"steps": 4, "eps": 0.05}, targets=("first",), n=8, batch_size=4)
    evaluate_checkpoint(tiny_runs["cnn-fmnist-small"], request, None, "cpu", fashion_dir, callback=events.append)
    inside = [e for e in events if e.kind == "iteration"]
    assert [e.info["iteration"] for e in inside] == [1, 2, 3, 4] * 2
    assert [e.done for e in inside] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all("eps 0.05" in e.label for e in events if e.label)


def test_piped_progress_has_time_stamps_eta_and_each_warning_once() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=200)
    with ProgressRenderer(console) as progress:
        progress.evaluate(EvalEvent("start", 0, 100, "spsa eps 0.1 e2e -> avg"))
        for done in (50, 100):
            progress.evaluate(EvalEvent("batch", done, 100, "spsa eps 0.1 e2e -> avg", {"accuracy": 0.5}))
        for _ in range(3):
            progress.once("[yellow]limit:[/] SPSA-7 reaches 35% of eps")
    lines = buffer.getvalue().splitlines()
    assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in lines), lines
    assert "eta" in lines[0] and "50/100" in lines[0] and "100/100" in lines[1]
    assert sum("SPSA-7 reaches" in line for line in lines) == 1


def test_iteration_lines_in_a_piped_log_are_throttled(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnf_bench.cli.render as render

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=200)
    clock = SimpleNamespace(now=0.0)
    with ProgressRenderer(console) as progress:
        monkeypatch.setattr(render.time, "monotonic", lambda: clock.now)
        progress.evaluate(EvalEvent("start", 0, 50, "spsa"))
        for i in range(1, 21):
            clock.now = 10.0 * i  # an iteration every 10 s: a line every 30 s
            info = {"iteration": i, "iterations": 20, "batch_start": 0, "batch_size": 50}
            progress.evaluate(EvalEvent("iteration", int(50 * i / 20), 50, "spsa", info))
        monkeypatch.undo()
    lines = [line for line in buffer.getvalue().splitlines() if "iteration" in line]
    assert len(lines) == 6 and "iteration 3/20" in lines[0] and "eta" in lines[0]
