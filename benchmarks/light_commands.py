"""CPU time and peak memory of the light commands (`--help`, `report`, `models`, `attacks`, `status`).

Each command runs in a fresh process through the installed console script, as a user types it; the
script reads the child's own resource usage (``os.wait4``): user + system CPU seconds and peak RSS. The
report runs on a hand-made store shaped like the quick suite's (CNN and CNN-F with the last and avg
readouts, 2 training seeds, clean / PGD first+e2e / SPSA first+e2e on 50 images / transfer, 1,000
images), written into a temporary folder. Each command runs once untimed first, with bytecode caching on
(``PYTHONDONTWRITEBYTECODE`` removed): a user's installed environment has its ``.pyc`` files,
``models`` / ``attacks`` build their cached catalogue on the first call, and ``status`` plans the suite
on its first call and caches the outline of its jobs (later calls read it and the checkpoints' payloads
without torch). It prints a table (median
of ``--repeat`` runs) and, with ``--json``, writes the numbers.
Goal (issue 10): under 0.6 s CPU and 150 MB each on 2 cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PGD = {"eps": 0.1, "step_size": 0.0355, "steps": 7, "random_start": True, "restarts": 1, "track_best": False,
       "loss": "ce"}  # fmt: skip
SPSA = {"eps": 0.1, "nb_iter": 7, "lr": 0.005, "delta": 0.005, "nb_sample": 128, "max_batch_size": 64, "loss": "ce"}


def _bits(rate: float, n: int, rng: random.Random) -> tuple[str, int]:
    flags = [rng.random() < rate for _ in range(n)]
    packed = bytearray((n + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            packed[i // 8] |= 1 << (7 - i % 8)
    return base64.b64encode(bytes(packed)).decode("ascii"), sum(flags)


def quick_like_store(path: Path, n: int = 1000) -> int:
    """Write a store with the quick suite's shape; returns the number of records."""
    rng = random.Random(0)
    records: list[dict[str, Any]] = []
    plan = [("none", "-", {"eps": 0.0}, n, 0.8), ("pgd", "first", PGD, n, 0.5), ("pgd", "e2e", PGD, n, 0.45)]
    plan += [("spsa", "first", SPSA, 50, 0.6), ("spsa", "e2e", SPSA, 50, 0.55), ("transfer", "first", PGD, n, 0.6)]
    for model, readouts in (("cnn-fmnist", ("last",)), ("cnnf-fmnist", ("last", "avg"))):
        for seed in (0, 1):
            sha = f"{model[:4]}{seed}".encode().hex().ljust(64, "0")[:64]
            for readout in readouts:
                for attack, target, params, size, rate in plan:
                    if attack == "transfer" and model == "cnn-fmnist":
                        continue
                    flags, correct = _bits(rate, size, rng)
                    records.append(
                        {
                            "schema": 1,
                            "key": f"{sha}-{attack}-{target}-{readout}",
                            "checkpoint": {"path": f"ck/{model}_s{seed}/checkpoint.pt", "sha256": sha,
                                           "run": f"{model}_adversarial_s{seed}"},
                            "dataset": "fmnist",
                            "model": model,
                            "model_kwargs": {"ind": 2 if "cnnf" in model else 0, "cycles": int("cnnf" in model),
                                             "eta": 0.1, "readout": "avg" if "cnnf" in model else "last"},
                            "cycles": int("cnnf" in model),
                            "train_seed": seed,
                            "train_mode": "adversarial",
                            "protocol": "paper",
                            "attack": attack,
                            "params": params,
                            "eps": 0.1,
                            "target": target,
                            "readout": readout,
                            "attack_seed": 0,
                            "source": None if attack != "transfer" else {"path": "cnn.pt", "sha256": "c" * 64,
                                                                          "model": "cnn-fmnist", "target": "first"},
                            "subset": {"split": "test", "seed": 0, "n": size},
                            "n": size,
                            "n_correct": correct,
                            "correct": flags,
                            "max_linf": 0.1,
                            "seconds": 1.0,
                            "extras": {},
                            "versions": {"cnnf_bench": "0.1.0"},
                            "device": "cpu",
                            "timestamp": "2026-12-02T00:00:00+00:00",
                        }
                    )  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return len(records)


def measure(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """(CPU seconds, peak RSS in MB, exit code) of one run of ``argv``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(OMP_NUM_THREADS="1", COLUMNS="160")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_mb = usage.ru_maxrss / 1024  # Linux: kilobytes
    return usage.ru_utime + usage.ru_stime, peak_mb, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Runs per command (the median is shown).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the numbers here.")
    args = parser.parse_args()
    exe = shutil.which("cnnf-bench") or str(Path(sys.executable).parent / "cnnf-bench")
    repo = Path(__file__).resolve().parent.parent
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "quick.jsonl"
        count = quick_like_store(store)
        commands = {
            "--help": [exe, "--help"],
            f"report ({count} records)": [exe, "report", "--results", str(store)],
            "report --format json": [exe, "report", "--results", str(store), "--format", "json"],
            "models": [exe, "models"],
            "attacks": [exe, "attacks"],
            "status benchmarks/quick.yaml": [exe, "status", str(repo / "benchmarks" / "quick.yaml")],
        }
        for label, argv in commands.items():
            measure(argv, Path(tmp))  # warm-up: writes the bytecode caches and the models/attacks catalogue
            runs = [measure(argv, Path(tmp)) for _ in range(args.repeat)]
            cpu = statistics.median(r[0] for r in runs)
            rss = statistics.median(r[1] for r in runs)
            codes = sorted({r[2] for r in runs})
            rows.append({"command": label, "cpu_s": round(cpu, 3), "peak_rss_mb": round(rss, 1), "exit": codes})
    print(f"| command | CPU s (median of {args.repeat}) | peak RSS MB | exit |")
    print("|---|---:|---:|---|")
    for row in rows:
        print(f"| `cnnf-bench {row['command']}` | {row['cpu_s']:.2f} | {row['peak_rss_mb']:.0f} | {row['exit']} |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
