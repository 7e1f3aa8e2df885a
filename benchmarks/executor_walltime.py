"""Wall time of a suite with the ``local`` executor and with ``pool --workers N``, one after the other.

Usage:
    uv run python benchmarks/executor_walltime.py [SUITE] [--workers 2] [--data-dir DIR] [--out DIR]

Runs ``cnnf-bench run`` twice from empty folders (a copy of the suite whose checkpoints, results and
report point into ``--out``): first ``--executor local`` (one process, torch's default threads), then
``--executor pool --workers N`` (N processes, cores / N threads each). Prints the two wall times and
whether the two reports are the same digit for digit, and writes
``benchmarks/results/executor_walltime.json``. Default suite: ``benchmarks/quick.yaml`` (about 12
minutes per run on 2 CPU cores). Run it on an otherwise idle machine, without ``OMP_NUM_THREADS`` (so
that ``local`` uses every core, as a user's run would).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml


def suite_copy(suite: Path, folder: Path) -> Path:
    """The suite with its checkpoints, results and report under ``folder``."""
    data = yaml.safe_load(suite.read_text())
    name = data.get("name", suite.stem)
    data.update(
        output_dir=str(folder / "checkpoints"),
        results=str(folder / "results" / f"{name}.jsonl"),
        report=str(folder / "reports" / name),
    )
    data.pop("executor", None)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / suite.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def timed_run(suite: Path, extra: list[str], data_dir: str | None) -> tuple[float, str, str]:
    """Wall time of one ``cnnf-bench run``, and its Markdown and CSV reports."""
    command = [sys.executable, "-m", "cnnf_bench", "run", str(suite), *extra]
    if data_dir:
        command += ["--data-dir", data_dir]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    report = Path(yaml.safe_load(suite.read_text())["report"])
    return seconds, report.with_suffix(".md").read_text(), report.with_suffix(".csv").read_text()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path, nargs="?", default=Path("benchmarks/quick.yaml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=None, help="Working folder (default: a temporary one).")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/executor_walltime.json"))
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="executor-walltime-"))
    rows = []
    reports = {}
    for label, extra in (
        ("local", ["--executor", "local"]),
        (f"pool --workers {args.workers}", ["--executor", "pool", "--workers", str(args.workers)]),
    ):
        suite = suite_copy(args.suite, out / label.replace(" ", "_").replace("--", ""))
        seconds, markdown, csv = timed_run(suite, extra, args.data_dir)
        reports[label] = (markdown, csv)
        rows.append({"executor": label, "seconds": round(seconds, 1)})
        print(f"{label}: {seconds / 60:.1f} min", flush=True)
    first, second = reports.values()
    same = first == second
    print("\n| executor | wall time |\n|---|---:|")
    for row in rows:
        print(f"| `{row['executor']}` | {row['seconds'] / 60:.1f} min |")
    print(f"\nreports identical digit for digit: {same}")
    result = {
        "suite": str(args.suite),
        "rows": rows,
        "reports_identical": same,
        "cpus": os.cpu_count(),
        "machine": cpu_model(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "work_folder": str(out),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
