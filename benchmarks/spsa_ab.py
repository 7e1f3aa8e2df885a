"""A/B: SPSA before (db7ac8a) and after the rewrite, interleaved on the same inputs, with the floor.

Usage:
    git show db7ac8a:cnnf_bench/attacks/spsa.py | sed '/@ATTACKS.register("spsa")/d' > /tmp/h15/spsa_old.py
    uv run python benchmarks/spsa_ab.py N ROUNDS 128,512

Per (model, view): median seconds of one SPSA iteration x 64 samples (chunks of 16) on N images with the
old implementation, the new one at each CPU_QUERY_IMAGES given, and the floor (128 x one forward of the N
images under inference_mode); asserts the images are identical. One JSON line per (model, view).
"""

import importlib.util
import json
import os
import sys
import time

import torch

import cnnf_bench.attacks.spsa as new
from cnnf_bench.data import eval_indices, load_split
from cnnf_bench.runtime import configure_torch
from cnnf_bench.zoo import build_model

spec = importlib.util.spec_from_file_location("spsa_old", "/tmp/h15/spsa_old.py")
old = importlib.util.module_from_spec(spec)
sys.modules["spsa_old"] = old
spec.loader.exec_module(old)
configure_torch()
n = int(sys.argv[1])
rounds = int(sys.argv[2])
sizes = [int(s) for s in sys.argv[3].split(",")]
test = load_split("fmnist", False)
x, y = test.subset(eval_indices(len(test), n, 0)).batch(torch.arange(n))
kw = {"eps": 0.1, "nb_iter": 1, "lr": 0.005, "delta": 0.005, "nb_sample": 64, "max_batch_size": 16}
out = []
for name, view in (("cnn-fmnist", "first"), ("cnnf-fmnist", "first"), ("cnnf-fmnist", "e2e-avg")):
    torch.manual_seed(0)
    m = build_model(name).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    f = m.view(view)
    res = {"old": [], "floor": [], **{f"new{s}": [] for s in sizes}}
    for _r in range(rounds):
        t = time.perf_counter()
        a = old.spsa_linf(f, x, y, generator=torch.Generator().manual_seed(0), **kw)
        res["old"].append(time.perf_counter() - t)
        for s in sizes:
            new.CPU_QUERY_IMAGES = s
            t = time.perf_counter()
            b = new.spsa_linf(f, x, y, generator=torch.Generator().manual_seed(0), **kw)
            res[f"new{s}"].append(time.perf_counter() - t)
            assert torch.equal(a, b)
        with torch.inference_mode():
            t = time.perf_counter()
            f(x)
            res["floor"].append((time.perf_counter() - t) * 128)
    med = {k: sorted(v)[len(v) // 2] for k, v in res.items()}
    line = {
        "model": name,
        "view": view,
        "n": n,
        **{k: round(v, 3) for k, v in med.items()},
        **{f"ratio_{k}": round(med["floor"] / v, 2) for k, v in med.items() if k != "floor"},
    }
    print(json.dumps(line), flush=True)
    out.append(line)
print("load", os.getloadavg())
