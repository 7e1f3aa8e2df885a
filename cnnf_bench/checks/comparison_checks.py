"""Checks that compare attacks with each other: iterative vs single-step (C10), white-box vs black-box and
transfer (C11), attacks vs random noise (C12), the views against each other (C14), validity of every
example made (C17) and the per-example worst case (C18).

"White-box" is the per-example worst case over the checks' gradient runs at eps: the base PGD and FGSM
on every view, plus the deployed view's PGD with R restarts and with twice the steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from cnnf_bench.bits import pack_bits
from cnnf_bench.checks.base import BLACK_BOX_TOL, MASKING_GAP, VALIDITY_TOL, Outcome, Verdict, pct, pp, register
from cnnf_bench.checks.context import AttackRun, CheckContext, fraction


def white_box_runs(ctx: CheckContext) -> list[AttackRun]:
    """The gradient runs whose per-example minimum is "the white-box attack" (computed once, cached)."""
    runs = [ctx.pgd(v) for v in ctx.views()]
    runs += [ctx.fgsm(v) for v in ctx.views()]
    if ctx.settings.restarts > 1:
        runs.append(ctx.pgd(ctx.primary_view, restarts=ctx.settings.restarts))
    runs.append(ctx.pgd(ctx.primary_view, steps=2 * ctx.settings.steps, step_size=ctx.pgd_params()["step_size"]))
    return runs


def per_example_min(runs: list[AttackRun], n: int) -> Tensor:
    """Correct under every run (each run constrains the prefix of images it covered)."""
    survived = torch.ones(n, dtype=torch.bool)
    for run in runs:
        m = min(run.n, n)
        survived[:m] &= run.correct[:m]
    return survived


@register(
    "C10",
    "iterative beats single-step",
    "on every view, PGD accuracy is no higher than FGSM accuracy",
    "FGSM beating PGD points to masked or noisy gradients (or a PGD bug): inspect C13 and the step size",
)
def iterative_vs_single_step(ctx: CheckContext) -> Outcome:
    """Base PGD vs FGSM, view by view."""
    pairs = {v: (ctx.pgd(v).accuracy, ctx.fgsm(v).accuracy) for v in ctx.views()}
    failing = [v for v, (p, f) in pairs.items() if p > f + 1e-12]
    worst = max(p - f for p, f in pairs.values())
    text = ", ".join(f"{v} PGD {pct(p)} vs FGSM {pct(f)}" for v, (p, f) in pairs.items())
    return Outcome(
        Verdict.FAIL if failing else Verdict.PASS,
        worst,
        text,
        "acc(PGD) <= acc(FGSM) on every view",
        {"pgd": {v: p for v, (p, _) in pairs.items()}, "fgsm": {v: f for v, (_, f) in pairs.items()}},
    )


def _baselines(ctx: CheckContext) -> list[AttackRun]:
    s, eps, view = ctx.settings, ctx.eps, ctx.primary_view
    square = {"eps": eps, "max_iter": s.square_iter, "p_init": 0.8, "nb_restarts": 1}
    spsa = {
        "eps": eps,
        "nb_iter": s.spsa_iter,
        "lr": 2.0 * eps / s.spsa_iter,
        "delta": 0.01,
        "nb_sample": s.spsa_samples,
        "max_batch_size": min(32, s.spsa_samples),
        "loss": "margin",
    }
    runs = [ctx.run("square", square, view, n=s.black_box_n), ctx.run("spsa", spsa, view, n=s.spsa_n)]
    if ctx.source is not None:
        runs.append(ctx.run("pgd", ctx.pgd_params(track_best=False), "first", transfer=True))
    return runs


@register(
    "C11",
    "white-box beats black-box",
    "the white-box attack is at least as strong as SPSA, Square and transfer from the CNN (within 0.2 pp)",
    "a black-box or transfer attack beats the gradient: gradient masking; report the black-box number too",
)
def white_vs_black_box(ctx: CheckContext) -> Outcome:
    """Per-example white-box minimum vs each score-based / transfer baseline, on the images both covered."""
    white = white_box_runs(ctx)
    rows: dict[str, dict[str, Any]] = {}
    failing = []
    worst = -1.0
    for run in _baselines(ctx):
        m = run.n
        wb = fraction(per_example_min(white, m))
        name = "transfer" if run.transfer else run.attack
        rows[name] = {"n": m, "white_box": wb, "black_box": run.accuracy}
        worst = max(worst, wb - run.accuracy)
        if wb > run.accuracy + BLACK_BOX_TOL + 1e-12:
            failing.append(name)
    text = ", ".join(
        f"{name} {pct(r['black_box'])} vs white-box {pct(r['white_box'])} (n={r['n']})" for name, r in rows.items()
    )
    if ctx.source is None:
        text += "; no transfer source"
    return Outcome(
        Verdict.FAIL if failing else Verdict.PASS,
        worst,
        text,
        f"acc(white-box) <= acc(baseline) + {100 * BLACK_BOX_TOL:.1f} pp",
        {"baselines": rows, "failing": failing, "view": ctx.primary_view},
    )


@register(
    "C12",
    "beats random noise",
    "uniform noise in the eps-ball (best of many draws) leaves accuracy at least as high as the attack",
    "random noise beating the attack means the attack is broken or masked: do not report its number",
)
def noise_baseline(ctx: CheckContext) -> Outcome:
    """Noise accuracy (an example counts as broken if any draw breaks it) vs the white-box minimum."""
    noise = ctx.run("noise", {"eps": ctx.eps, "draws": ctx.settings.noise_draws})
    wb = fraction(per_example_min(white_box_runs(ctx), ctx.n))
    return Outcome(
        Verdict.FAIL if noise.accuracy < wb - 1e-12 else Verdict.PASS,
        noise.accuracy - wb,
        f"noise ({ctx.settings.noise_draws} draws) {pct(noise.accuracy)} vs white-box {pct(wb)}",
        "acc(noise) >= acc(attack)",
        {"noise": noise.accuracy, "white_box": wb},
    )


@register(
    "C14",
    "views agree",
    "the end-to-end views are not much weaker than the first pass or BPDA; reports every view and their minimum",
    "differentiating through the cycles is masked: report the per-example minimum over views (first/BPDA)",
)
def views_agree(ctx: CheckContext) -> Outcome:
    """Base PGD on each view and the per-example minimum; e2e views must be within 5 pp of first/BPDA."""
    runs = {v: ctx.pgd(v) for v in ctx.views()}
    acc = {v: r.accuracy for v, r in runs.items()}
    minimum = fraction(per_example_min(list(runs.values()), ctx.n))
    reference = [acc[v] for v in ("first", "bpda") if v in acc]
    gaps = {v: acc[v] - min(reference) for v in ("e2e", "e2e-avg") if v in acc and reference}
    weak = [v for v, gap in gaps.items() if gap > MASKING_GAP + 1e-12]
    text = ", ".join(f"{v} {pct(a)}" for v, a in acc.items()) + f"; per-example min {pct(minimum)}"
    if len(runs) == 1:
        text += " (one view: no cycles)"
    if weak:
        text += "; " + ", ".join(f"{v} {pp(gaps[v])} vs first/bpda" for v in weak)
    return Outcome(
        Verdict.WARN if weak else Verdict.PASS,
        max(gaps.values()) if gaps else 0.0,
        text,
        f"e2e views within {100 * MASKING_GAP:.0f} pp of min(first, bpda)",
        {"accuracy": acc, "per_example_min": minimum, "gaps": gaps},
    )


@register(
    "C17",
    "valid examples",
    "every adversarial example made by the checks is finite, inside [0, 1] and inside its eps-ball",
    "an attack produced invalid images: its accuracy is meaningless until it projects and clips correctly",
)
def validity(ctx: CheckContext) -> Outcome:
    """Validity of every run made so far (the white-box runs at least); the max perturbation is logged."""
    white_box_runs(ctx)
    runs = ctx.runs()
    invalid = [r.label for r in runs if not r.valid]
    at_eps = [r for r in runs if r.eps == ctx.eps]
    max_linf = max((r.max_linf for r in at_eps), default=0.0)
    nonfinite = sum(r.nonfinite for r in runs)
    excess = max((r.range_excess for r in runs), default=0.0)
    text = (
        f"max L-inf perturbation {max_linf:.5f} at eps {ctx.eps:g}; {nonfinite} non-finite pixels; "
        f"max excursion outside [0, 1] {excess:.2g}; {len(runs)} runs"
    )
    if invalid:
        text += f"; invalid: {', '.join(invalid)}"
    return Outcome(
        Verdict.FAIL if invalid else Verdict.PASS,
        max_linf,
        text,
        f"L-inf <= eps + {VALIDITY_TOL:g}, pixels in [0, 1], all finite",
        {"max_linf": max_linf, "nonfinite": nonfinite, "range_excess": excess, "invalid": invalid},
    )


def _pseudo_record(
    ctx: CheckContext, key: str, attack: str, view: str, params: dict[str, Any], eps: float, correct: Tensor
) -> dict[str, Any]:
    """A schema-1 results record of one of the checks' runs, so the report's own code can be checked on it."""
    n = int(correct.shape[0])
    return {
        "schema": 1,
        "key": key,
        "checkpoint": {"sha256": "checks", "path": "-", "run": "checks"},
        "dataset": "checks",
        "protocol": "checks",
        "model": "model",
        "model_kwargs": {"cycles": ctx.cycles},
        "cycles": ctx.cycles,
        "train_seed": 0,
        "train_mode": "checks",
        "attack": attack,
        "params": params,
        "eps": eps,
        "target": view,
        "readout": ctx.readout,
        "attack_seed": ctx.settings.attack_seed,
        "subset": {"split": "test", "seed": ctx.settings.subset_seed, "n": n},
        "n": n,
        "n_correct": int(correct.sum()),
        "correct": pack_bits(correct.numpy()),
    }


@register(
    "C18",
    "per-example worst case",
    "the report's Worst case is the mean over images of 'correct clean and under every attack', on the "
    "images all attacks covered, and is <= every column there",
    "the worst case is computed wrongly (min over columns of accuracy is not the per-example worst case)",
)
def worst_case(ctx: CheckContext) -> Outcome:
    """Feed the clean images and the checks' attack runs at eps to the report; compare its Worst case with
    a direct computation on the images every run covered (the runs' subsets are prefixes of one order)."""
    from cnnf_bench.report import WORST_CASE, build_tables

    white_box_runs(ctx)
    runs = [r for r in ctx.runs() if r.eps == ctx.eps and r.attack not in ("none", "noise")]
    clean = ctx.clean_correct()
    records = [_pseudo_record(ctx, "check-clean", "none", "-", {"eps": ctx.eps}, ctx.eps, clean)]
    records += [
        _pseudo_record(ctx, f"check-{i}", r.attack, r.view, {**r.params, "transfer": r.transfer}, r.eps, r.correct)
        for i, r in enumerate(runs)
    ]
    table = build_tables(records)[0]
    reported = table.cell(table.rows[0], WORST_CASE)
    m = min([clean.shape[0], *(r.n for r in runs)])
    survived = clean[:m].clone()
    for run in runs:
        survived &= run.correct[:m]
    direct = fraction(survived)
    columns = {"clean": fraction(clean[:m]), **{r.label: fraction(r.correct[:m]) for r in runs}}
    above = [label for label, value in columns.items() if direct > value + 1e-12]
    lowest = min(columns, key=lambda label: columns[label])
    ok = reported.mean is not None and abs(reported.mean - direct) < 1e-12 and reported.n_examples == m and not above
    text = (
        f"worst case {pct(reported.mean)} on {reported.n_examples} images (direct {pct(direct)} on {m}); "
        f"lowest column there {pct(columns[lowest])} ({lowest})"
    )
    if above:
        text += f"; above: {', '.join(above)}"
    return Outcome(
        Verdict.PASS if ok else Verdict.FAIL,
        reported.mean,
        text + f"; {len(runs)} runs",
        "report == mean_x (clean and every attack correct) on the shared images, and <= every column there",
        {"reported": reported.mean, "direct": direct, "n": m, "columns_above": above, "lowest_column": lowest},
    )
