"""Light commands stay light: --help, report, models and attacks never import torch or ART."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_report import paper_records

PROBE = """
import sys
from cnnf_bench.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("torch", "art", "torchvision", "matplotlib") if m in sys.modules)
print("PROBE", code, ",".join(heavy))
"""


def _probe(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=300)
    line = next(line for line in out.stdout.splitlines() if line.startswith("PROBE"))
    _, code, heavy = [*line.split(" "), ""][:3]
    return int(code or 0), heavy


def test_importing_the_report_path_does_not_import_torch() -> None:
    code = "import sys, cnnf_bench.report, cnnf_bench.cli, cnnf_bench.results, cnnf_bench.shards, cnnf_bench.fileio\n"
    code += "print('torch' in sys.modules or 'art' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_report_in_every_format_runs_without_torch(tmp_path: Path) -> None:
    store = tmp_path / "r.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in paper_records()))
    for fmt in ("terminal", "markdown", "csv", "latex", "json"):
        assert _probe("report", "--results", str(store), "--format", fmt) == (0, "")
    assert _probe("--help") == (0, "")


def test_models_and_attacks_read_the_cached_catalogue_without_torch(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    assert _probe("models", env=env)[0] == 0  # the first call builds the catalogue (imports torch once)
    assert list((tmp_path / "cnnf-bench").glob("catalog-*.json"))
    assert _probe("models", env=env) == (0, "")
    assert _probe("attacks", env=env) == (0, "")


def test_the_catalogue_is_what_the_registries_say(tmp_path: Path, monkeypatch: object) -> None:
    from cnnf_bench import catalog

    built = catalog.build()
    names = [m["model"] for m in built["models"]]
    assert "cnnf-fmnist" in names and "pgd" in [a["attack"] for a in built["attacks"]]
    assert next(m for m in built["models"] if m["model"] == "cnnf-fmnist")["parameters"] == 3_298_962
    assert "deployed" in built["views"] and "paper" in built["protocols"]
