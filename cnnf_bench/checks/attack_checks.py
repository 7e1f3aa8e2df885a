"""Checks of how the gradient attack behaves as its budget grows: eps 0 (C4), an eps sweep (C5), the
whole input range (C6), twice the steps (C7), restarts (C9) and the best iterate (C16).

All of them use the checks' base PGD (``CheckContext.pgd_params``) on the view that differentiates the
deployed inference, except C6, which attacks every view. Because every run of a batch starts from the
same seeded random start, "more steps", "more restarts" and "best iterate" can only lower accuracy on
a deterministic model: a rise is a bug, not noise.
"""

from __future__ import annotations

from cnnf_bench.checks.base import CONVERGENCE_TOL, MONOTONE_TOL, Outcome, Verdict, pct, pp, register
from cnnf_bench.checks.context import CheckContext, fraction

#: gradient attacks that C4 runs at eps 0 (the ART ones return the clean images at eps 0 by contract)
EPS0_ATTACKS = ("pgd", "fgsm", "apgd-ce", "apgd-dlr")


@register(
    "C4",
    "eps 0 equals clean",
    "every gradient attack at eps 0 returns the clean images and the clean accuracy",
    "an attack that changes images at eps 0 is broken (projection, clipping or scoring path): fix it first",
)
def eps_zero(ctx: CheckContext) -> Outcome:
    """Each gradient attack at eps 0 on the deployed view: accuracy equals the clean accuracy."""
    clean = ctx.clean_correct()
    accuracies, moved, differing = {}, {}, {}
    for attack in EPS0_ATTACKS:
        params = ctx.pgd_params(0.0) if attack == "pgd" else {"eps": 0.0}
        if attack.startswith("apgd"):
            params["max_iter"] = ctx.settings.steps
        run = ctx.run(attack, params, ctx.primary_view)
        accuracies[attack] = run.accuracy
        moved[attack] = run.max_linf
        differing[attack] = int((run.correct != clean).sum())
    bad = [a for a in EPS0_ATTACKS if differing[a] or moved[a] > 0]
    clean_acc = fraction(clean)
    text = f"clean {pct(clean_acc)}; " + ", ".join(f"{a} {pct(accuracies[a])}" for a in EPS0_ATTACKS)
    return Outcome(
        Verdict.FAIL if bad else Verdict.PASS,
        max(abs(acc - clean_acc) for acc in accuracies.values()),
        text + (f"; differs: {', '.join(bad)}" if bad else ""),
        "accuracy == clean accuracy and zero perturbation",
        {"clean": clean_acc, "accuracy": accuracies, "max_linf": moved, "examples_differing": differing},
    )


@register(
    "C5",
    "budget monotonicity",
    "PGD accuracy does not increase along eps 0, eps/4, eps/2, eps, 2 eps",
    "accuracy that rises with eps means a broken attack (step size, projection) or a randomised model",
)
def monotonicity(ctx: CheckContext) -> Outcome:
    """Base PGD at five budgets; each point may exceed the previous by at most one example or 0.5 pp."""
    tol = max(MONOTONE_TOL, 1.0 / ctx.n)
    factors = (0.0, 0.25, 0.5, 1.0, 2.0)
    sweep = []
    for factor in factors:
        eps = min(1.0, factor * ctx.eps)
        sweep.append((eps, ctx.pgd(ctx.primary_view, eps).accuracy))
    rises = [sweep[i][1] - sweep[i - 1][1] for i in range(1, len(sweep))]
    worst = max(rises)
    text = " -> ".join(f"{pct(acc)}" for _, acc in sweep) + f" (eps {', '.join(f'{e:g}' for e, _ in sweep)})"
    return Outcome(
        Verdict.FAIL if worst > tol + 1e-12 else Verdict.PASS,
        worst,
        text,
        f"non-increasing (tolerance {100 * tol:.1f} pp)",
        {"eps": [e for e, _ in sweep], "accuracy": [a for _, a in sweep], "view": ctx.primary_view},
    )


@register(
    "C6",
    "large-eps sanity",
    "PGD with eps = 1 (the whole [0, 1] range) from the clean image drives every view to chance or below",
    "the gradient does not lead anywhere even without a budget: gradient masking; trust black-box/BPDA numbers",
)
def large_eps(ctx: CheckContext) -> Outcome:
    """Base PGD at eps 1 without random start (noise alone would reach chance) on each view."""
    accuracies = {v: ctx.pgd(v, 1.0, random_start=False).accuracy for v in ctx.views()}
    worst_view = max(accuracies, key=lambda v: accuracies[v])
    failing = [v for v, acc in accuracies.items() if acc > ctx.chance + 1e-12]
    text = ", ".join(f"{v} {pct(acc)}" for v, acc in accuracies.items()) + f" (chance {pct(ctx.chance)})"
    return Outcome(
        Verdict.FAIL if failing else Verdict.PASS,
        accuracies[worst_view],
        text,
        f"<= {pct(ctx.chance)} (1/K) on every view",
        {"accuracy": accuracies, "chance": ctx.chance, "failing_views": failing},
    )


def _drop_check(base_acc: float, more_acc: float, what: str, warning: str) -> tuple[Verdict, str]:
    """Shared verdict of C7/C9/C16: a drop > tolerance is a warning, any rise is a failure."""
    drop = base_acc - more_acc
    if drop < -1e-12:
        return Verdict.FAIL, f"{what} raised accuracy ({pct(base_acc)} -> {pct(more_acc)}): a bug"
    if drop > CONVERGENCE_TOL + 1e-12:
        return Verdict.WARN, f"{pct(base_acc)} -> {pct(more_acc)} ({pp(-drop)}): {warning}"
    return Verdict.PASS, f"{pct(base_acc)} -> {pct(more_acc)} ({pp(-drop)})"


@register(
    "C7",
    "convergence in steps",
    "doubling PGD's steps (same step size and start) does not lower accuracy by more than 0.5 pp",
    "the attack has not converged: use more steps (or APGD) before trusting the number",
)
def convergence(ctx: CheckContext) -> Outcome:
    """Base PGD vs the same PGD with twice the steps (same step size, same random start)."""
    base = ctx.pgd(ctx.primary_view)
    step = ctx.pgd_params()["step_size"]
    more = ctx.pgd(ctx.primary_view, steps=2 * ctx.settings.steps, step_size=step)
    verdict, text = _drop_check(base.accuracy, more.accuracy, "more steps", "not converged")
    return Outcome(
        verdict,
        base.accuracy - more.accuracy,
        f"{ctx.settings.steps} vs {2 * ctx.settings.steps} steps: {text}",
        f"drop <= {100 * CONVERGENCE_TOL:.1f} pp; no rise",
        {"view": ctx.primary_view, "steps": [ctx.settings.steps, 2 * ctx.settings.steps]},
    )


@register(
    "C9",
    "restarts",
    "R random restarts do not lower PGD accuracy by more than 0.5 pp compared with one start",
    "single-start PGD is not enough here: evaluate with restarts (the strong protocol uses 5)",
)
def restarts(ctx: CheckContext) -> Outcome:
    """Base PGD with one start vs R starts (the first start is shared, so R can only be stronger)."""
    base = ctx.pgd(ctx.primary_view)
    if ctx.settings.restarts < 2:
        return Outcome(Verdict.SKIP, None, "restarts setting is 1", "drop <= 0.5 pp with R > 1 restarts")
    more = ctx.pgd(ctx.primary_view, restarts=ctx.settings.restarts)
    verdict, text = _drop_check(base.accuracy, more.accuracy, "more restarts", "restarts help")
    return Outcome(
        verdict,
        base.accuracy - more.accuracy,
        f"1 vs {ctx.settings.restarts} restarts: {text}",
        f"drop <= {100 * CONVERGENCE_TOL:.1f} pp; no rise",
        {"view": ctx.primary_view, "restarts": ctx.settings.restarts},
    )


@register(
    "C16",
    "silent success",
    "keeping each example's best iterate (any misclassifying step) gains at most 0.5 pp over the final iterate",
    "the final iterate misses adversarial examples the attack passed through: keep best iterates (track_best)",
)
def silent_success(ctx: CheckContext) -> Outcome:
    """Final-iterate PGD vs the same run keeping every example's best iterate under the deployed model."""
    final = ctx.pgd(ctx.primary_view, track_best=False)
    best = ctx.pgd(ctx.primary_view)
    verdict, text = _drop_check(final.accuracy, best.accuracy, "keeping the best iterate", "silent successes")
    return Outcome(
        verdict,
        final.accuracy - best.accuracy,
        f"final {pct(final.accuracy)}, best iterate {pct(best.accuracy)}"
        + ("" if verdict is Verdict.PASS else f" ({text})"),
        f"gain <= {100 * CONVERGENCE_TOL:.1f} pp",
        {"view": ctx.primary_view, "final": final.accuracy, "best": best.accuracy},
    )
