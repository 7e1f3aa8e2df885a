"""Attack cost: images/s of every registered attack on every view, against the attack's floor.

Usage:
    uv run python benchmarks/attack_cost.py [--n 50] [--models cnn-fmnist cnnf-fmnist] [--attacks spsa pgd]
        [--views first e2e] [--device auto] [--out benchmarks/results/attack_cost.json]

Models are randomly initialised (seed 0; speed does not depend on the weights) and attacked on the first
``--n`` images of the fixed Fashion-MNIST evaluation subset, in one batch. The floor is what the
attack's algorithm cannot avoid, timed directly on the same batch of the same view:

* gradient attacks (pgd, fgsm, transfer, art-pgd, art-fgsm): iterations x one forward+backward;
* score-based attacks (spsa, square): queries x one forward under ``torch.inference_mode()``
  (SPSA: 2 x nb_iter x nb_sample queries per image);
* ``noise``: draws x one deployed forward; ART's APGD and Square stop early on broken examples, so their
  floor uses the passes actually counted (:class:`cnnf_bench.attacks.cost.PassCounter`).

``ratio`` is floor time / measured time (1.0: no overhead). ``passes/img`` is what the counter saw
(forward, backward, deployed queries per image); the floor's passes are in the JSON. Settings are the
paper protocol's (eps 0.1, PGD-7, transfer PGD-7 from the CNN) except where a shorter budget keeps the
table cheap with the same per-iteration work: SPSA ``--spsa-iter`` iterations x 64 samples in chunks of 16
(the quick suite's), Square ``--square-iter`` queries, APGD ``--apgd-iter`` iterations, noise 20 draws.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cnnf_bench.attacks import ATTACKS
from cnnf_bench.attacks.cost import PassCounter
from cnnf_bench.attacks.pgd import input_gradient
from cnnf_bench.data import eval_indices, load_split
from cnnf_bench.runtime import configure_torch, describe_device, generator, resolve_device
from cnnf_bench.zoo import build_model
from cnnf_bench.zoo.classifier import Classifier

GRADIENT = {"pgd", "fgsm", "transfer", "art-pgd", "art-fgsm"}


def settings(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The parameters of every attack in the table (eps 0.1, the paper protocol's steps)."""
    pgd = {"eps": 0.1, "step_size": 0.0355, "steps": 7, "random_start": True}
    return {
        "none": {},
        "noise": {"eps": 0.1, "draws": 20},
        "fgsm": {"eps": 0.1},
        "pgd": pgd,
        "transfer": pgd,
        "spsa": {
            "eps": 0.1,
            "nb_iter": args.spsa_iter,
            "lr": 0.005,
            "delta": 0.005,
            "nb_sample": 64,
            "max_batch_size": 16,
        },
        "art-pgd": pgd,
        "art-fgsm": {"eps": 0.1},
        "square": {"eps": 0.1, "max_iter": args.square_iter},
        "apgd-ce": {"eps": 0.1, "max_iter": args.apgd_iter},
        "apgd-dlr": {"eps": 0.1, "max_iter": args.apgd_iter},
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], object], device: torch.device, repeat: int) -> float:
    """Best wall time of ``repeat`` calls after one warm-up call (the machine may be shared)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def nominal_passes(name: str, params: dict[str, Any], counted: dict[str, float]) -> dict[str, float]:
    """Per image, the passes the attack's algorithm needs: forward+backward, forward only, deployed queries."""
    if name in ("pgd", "transfer", "art-pgd"):
        return {"fb": params["steps"] * params.get("restarts", 1), "fwd": 0.0, "score": 0.0}
    if name in ("fgsm", "art-fgsm"):
        return {"fb": 1.0, "fwd": 0.0, "score": 0.0}
    if name == "spsa":
        return {"fb": 0.0, "fwd": 2.0 * params["nb_iter"] * params["nb_sample"], "score": 0.0}
    if name == "noise":
        return {"fb": 0.0, "fwd": 0.0, "score": float(params["draws"])}
    if name == "none":
        return {"fb": 0.0, "fwd": 0.0, "score": 0.0}
    # early-stopping library attacks: what they actually spent
    return {
        "fb": counted["backward"],
        "fwd": max(counted["forward"] - counted["backward"], 0.0),
        "score": counted["queries"],
    }


def render(paths: list[Path]) -> str:
    """A Markdown table of one or more JSON outputs side by side (img/s and ratio of each, by row)."""
    results = [json.loads(p.read_text()) for p in paths]
    labels = [r.get("label") or p.stem for r, p in zip(results, paths, strict=True)]
    keys: list[tuple[str, str, str]] = []
    by: list[dict[tuple[str, str, str], dict[str, Any]]] = []
    for result in results:
        rows = {(r["model"], r["attack"], r["view"]): r for r in result["rows"]}
        keys.extend(k for k in rows if k not in keys)
        by.append(rows)
    head = "| model | attack | view | passes/img (f/b/q) |" + "".join(f" {lab} img/s | {lab} ratio |" for lab in labels)
    lines = [head, "|---|---|---|---|" + "---:|---:|" * len(labels)]
    for key in keys:
        first = next(rows[key] for rows in by if key in rows)
        c = first["counted"]
        cells = [f"| {key[0]} | {key[1]} | {key[2]} | {c['forward']:g}/{c['backward']:g}/{c['queries']:g} |"]
        for rows in by:
            row = rows.get(key)
            if row is None:
                cells.append(" - | - |")
                continue
            ratio = "-" if row["ratio_to_floor"] is None else f"{row['ratio_to_floor']:.2f}"
            cells.append(f" {row['images_per_s']:.3g} | {ratio} |")
        lines.append("".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render", nargs="+", type=Path, help="print earlier JSON outputs as one Markdown table")
    parser.add_argument("--n", type=int, default=50, help="images attacked (one batch)")
    parser.add_argument("--models", nargs="+", default=["cnn-fmnist", "cnnf-fmnist"])
    parser.add_argument("--attacks", nargs="+", default=None, help="default: every registered attack")
    parser.add_argument("--views", nargs="+", default=None, help="default: every view of each model")
    parser.add_argument("--spsa-iter", type=int, default=2)
    parser.add_argument("--square-iter", type=int, default=100)
    parser.add_argument("--apgd-iter", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each floor primitive (best kept)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--label", default="", help="a tag stored with the results (e.g. before / after)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "attack_cost.json")
    args = parser.parse_args()
    if args.render:
        print(render(args.render))
        return
    configure_torch()
    device = resolve_device(args.device)
    test = load_split("fmnist", False)
    x, y = test.subset(eval_indices(len(test), args.n, 0)).batch(torch.arange(args.n), device)
    table = settings(args)
    names = args.attacks or sorted(ATTACKS.names())
    models: dict[str, Classifier] = {}
    for model_name in args.models:
        torch.manual_seed(0)
        model = build_model(model_name).to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        models[model_name] = model
    source = models.get("cnn-fmnist") or build_model("cnn-fmnist").to(device).eval()

    if any(name.startswith(("art-", "apgd", "square")) for name in names):
        import art.attacks.evasion  # noqa: F401  (seconds to import: not part of any attack's time)

    rows = []
    print(f"{'model':12s} {'attack':9s} {'view':8s} {'img/s':>8s} {'floor':>8s} {'ratio':>6s}  passes/img (f/b/q)")
    for model_name, model in models.items():
        deployed = model.readout
        score_fn = model.logits  # the deployed readout by default
        for name in names:
            cls = ATTACKS.get(name)
            if name not in table:
                continue
            attack = cls.from_params(table[name])
            if cls.needs_source and model_name == "cnn-fmnist":
                continue  # transfer from the CNN onto itself is its white-box attack
            if not cls.uses_view:
                views = ["-"]
            elif cls.needs_source or model.single_function:
                views = ["first"]  # a CNN's views are one function
            else:
                views = [v for v in model.views() if args.views is None or v in args.views]
            for view_name in views:
                owner = source if cls.needs_source else model
                view = owner.view(view_name if view_name != "-" else owner.deployed_view(), deployed)
                counter = PassCounter()
                counted_view = counter.view(view)
                counted_score = counter.score(score_fn) if attack.uses_score() else None
                gen = generator(0, device)
                sync(device)
                start = time.perf_counter()
                attack.run(counted_view, x, y, gen, counted_score)
                sync(device)
                seconds = time.perf_counter() - start
                counted = counter.per_image(args.n, seconds)
                need = nominal_passes(name, attack.params(), counted)
                floor = 0.0
                if need["fb"]:
                    floor += need["fb"] * best_time(lambda v=view: input_gradient(v, x, y), device, args.repeat)
                if need["fwd"]:
                    with torch.inference_mode():
                        floor += need["fwd"] * best_time(lambda v=view: v(x), device, args.repeat)
                if need["score"]:
                    with torch.inference_mode():
                        floor += need["score"] * best_time(lambda s=score_fn: s(x), device, args.repeat)
                row = {
                    "model": model_name,
                    "attack": name,
                    "view": view_name,
                    "params": attack.params(),
                    "seconds": seconds,
                    "images_per_s": args.n / seconds,
                    "floor_seconds": floor,
                    "floor_images_per_s": args.n / floor if floor else None,
                    "ratio_to_floor": floor / seconds if floor else None,
                    "floor_passes": need,
                    "counted": counted,
                }
                rows.append(row)
                ratio = f"{row['ratio_to_floor']:6.2f}" if floor else "     -"
                floor_ips = f"{row['floor_images_per_s']:8.1f}" if floor else "       -"
                print(
                    f"{model_name:12s} {name:9s} {view_name:8s} {row['images_per_s']:8.1f} {floor_ips} {ratio}  "
                    f"{counted['forward']:g}/{counted['backward']:g}/{counted['queries']:g}",
                    flush=True,
                )
    result = {
        "benchmark": "attack_cost",
        "label": args.label,
        "machine": describe_device(device),
        "device": str(device),
        "torch": str(torch.__version__),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": os.getloadavg(),
        "n": args.n,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nmachine: {result['machine']}; load average {result['load_average']}; written to {args.out}")


if __name__ == "__main__":
    main()
