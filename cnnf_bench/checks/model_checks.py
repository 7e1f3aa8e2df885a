"""Checks of the model function itself: determinism (C1), eval mode and batch invariance (C3), usable
input gradients (C13). None of them runs an attack."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from cnnf_bench.attacks.pgd import input_gradient
from cnnf_bench.checks.base import BATCH_TOL, DETERMINISM_TOL, GRAD_RATIO_RANGE, Outcome, Verdict, register
from cnnf_bench.checks.context import CheckContext, Forward, fraction


def normalised(logits: Tensor) -> Tensor:
    """Logits divided by their per-example L2 norm (AutoAttack's ``check_randomized`` compares these)."""
    return logits / (logits.norm(dim=-1, keepdim=True) + 1e-10)


def _batched_logits(ctx: CheckContext, forward: Forward, x: Tensor) -> Tensor:
    out = []
    with torch.no_grad():
        for lo in range(0, x.shape[0], ctx.settings.batch_size):
            out.append(forward(x[lo : lo + ctx.settings.batch_size]).float())
    return torch.cat(out)


def _reset(model: Any) -> None:
    reset = getattr(model, "reset", None)
    if callable(reset):
        reset()


@register(
    "C1",
    "determinism",
    "repeated forward passes on the same images give the same logits (deployed inference and every view)",
    "the model is randomised or stateful: evaluate with EOT (average gradients over draws) and reset state",
)
def determinism(ctx: CheckContext) -> Outcome:
    """Run the deployed inference and every view ``passes`` times; argmax and normalised logits must agree."""
    functions: dict[str, Forward] = {"deployed": ctx.score}
    functions.update({v: ctx.view(v) for v in ctx.views()})
    worst_diff, changed, per_function = 0.0, 0, {}
    for name, forward in functions.items():
        _reset(ctx.model)
        reference = _batched_logits(ctx, forward, ctx.x)
        diff, flips = 0.0, 0
        for _ in range(ctx.settings.passes - 1):
            _reset(ctx.model)
            again = _batched_logits(ctx, forward, ctx.x)
            diff = max(diff, float((normalised(again) - normalised(reference)).abs().max()))
            # an iteration stack (any-iter) counts an example once when any iteration's argmax changed
            changed_rows = (again.argmax(-1) != reference.argmax(-1)).reshape(again.shape[0], -1).any(1)
            flips = max(flips, int(changed_rows.sum()))
        per_function[name] = {"max_diff": diff, "argmax_changed": flips}
        worst_diff, changed = max(worst_diff, diff), max(changed, flips)
    ok = changed == 0 and worst_diff < DETERMINISM_TOL
    return Outcome(
        Verdict.PASS if ok else Verdict.FAIL,
        worst_diff,
        f"max normalised-logit diff {worst_diff:.2g}; argmax changed on {changed}/{ctx.n}",
        f"identical argmax and diff < {DETERMINISM_TOL:g} over {ctx.settings.passes} passes",
        {"functions": per_function, "passes": ctx.settings.passes},
    )


def _training_modules(model: Any) -> list[str]:
    modules = getattr(model, "named_modules", None)
    if not callable(modules):
        return ["<model>"] if getattr(model, "training", False) else []
    return [name or "<model>" for name, module in modules() if module.training]


@register(
    "C3",
    "eval mode, batch invariance",
    "the model is in evaluation mode and classifies an image the same alone as in a batch",
    "call model.eval() before attacking (dropout / batch norm in training mode randomise or couple images)",
)
def eval_mode(ctx: CheckContext) -> Outcome:
    """``training`` is False everywhere, and logits at batch 1 match those at batch B."""
    training = _training_modules(ctx.model)
    m = min(ctx.settings.batch1_n, ctx.n)
    big = min(ctx.settings.batch_size, ctx.n)
    batched = _batched_logits(ctx, ctx.score, ctx.x[:big])[:m]
    with torch.no_grad():
        single = torch.cat([ctx.score(ctx.x[i : i + 1]).float() for i in range(m)])
    diff = float((normalised(single) - normalised(batched)).abs().max()) if m else 0.0
    top2 = normalised(batched).topk(min(2, batched.shape[1]), dim=1).values
    gap = top2[:, 0] - top2[:, -1]
    # an argmax flip on a numerical tie (top-2 gap below the tolerance) is float noise, not batch dependence
    flips = int(((single.argmax(1) != batched.argmax(1)) & (gap > BATCH_TOL)).sum())
    ok = not training and flips == 0 and diff < BATCH_TOL
    where = f"training mode: {', '.join(training[:3])}{' ...' if len(training) > 3 else ''}; " if training else ""
    return Outcome(
        Verdict.PASS if ok else Verdict.FAIL,
        diff,
        f"{where}batch 1 vs {big}: argmax differs on {flips}/{m}, max normalised-logit diff {diff:.2g}",
        f"model.training False; same argmax and diff < {BATCH_TOL:g} at batch 1 and batch {big}",
        {"training_modules": training, "argmax_changed": flips, "max_diff": diff, "images": m, "batch": big},
    )


def _gradient_norms(ctx: CheckContext, forward: Forward) -> tuple[Tensor, Tensor]:
    """Per-example L2 norm of the CE input gradient, and whether the gradient is all finite."""
    norms, finite = [], []
    for lo in range(0, ctx.n, ctx.settings.batch_size):
        x, y = ctx.x[lo : lo + ctx.settings.batch_size], ctx.y[lo : lo + ctx.settings.batch_size]
        grad, _ = input_gradient(forward, x, y)
        flat = grad.flatten(1).double()
        finite.append(torch.isfinite(flat).all(1).cpu())
        norms.append(torch.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0).norm(dim=1).cpu())
    return torch.cat(norms), torch.cat(finite)


def _cycle_norms(ctx: CheckContext) -> list[float]:
    """Median input-gradient norm of the iteration-t logits for t = 0..T (how gradients scale with cycles)."""
    out = []
    x, y = ctx.x[: ctx.settings.batch_size], ctx.y[: ctx.settings.batch_size]
    for t in range(ctx.cycles + 1):

        def forward(z: Tensor, t: int = t) -> Tensor:
            return ctx.model.run(z, cycles=t).logits[-1]  # type: ignore[no-any-return]

        grad, _ = input_gradient(forward, x, y)
        out.append(float(grad.flatten(1).double().norm(dim=1).median()))
    return out


@register(
    "C13",
    "usable gradients",
    "every view has a finite, non-zero input gradient on every image; e2e/first gradient norms are comparable",
    "zero or non-finite gradients mask the attack: use BPDA, a margin/DLR loss, or reparameterise the model",
)
def usable_gradients(ctx: CheckContext) -> Outcome:
    """Fraction of images whose CE input gradient is zero or non-finite, per view; norm ratios to ``first``."""
    fractions: dict[str, float] = {}
    norms: dict[str, Tensor] = {}
    for v in ctx.views():
        norm, finite = _gradient_norms(ctx, ctx.view(v))
        bad = (norm == 0) | ~finite
        fractions[v] = fraction(bad)
        norms[v] = norm
    ratios: dict[str, float] = {}
    base = norms.get("first")
    if base is not None:
        usable = base > 0
        for v, norm in norms.items():
            if v != "first" and bool(usable.any()):
                ratios[v] = float((norm[usable] / base[usable]).median())
    low, high = GRAD_RATIO_RANGE
    bad_ratio = {v: r for v, r in ratios.items() if not low <= r <= high}
    worst = max(fractions.values())
    details: dict[str, Any] = {"bad_fraction": fractions, "norm_ratio_to_first": ratios}
    if ctx.cycles > 0 and hasattr(ctx.model, "run"):
        details["median_norm_by_cycles"] = _cycle_norms(ctx)
    text = ", ".join(f"{v} {100 * f:.1f}%" for v, f in fractions.items()) + " zero/non-finite"
    if ratios:
        text += "; norm ratio to first: " + ", ".join(f"{v} {r:.3g}" for v, r in ratios.items())
    return Outcome(
        Verdict.PASS if worst == 0 and not bad_ratio else Verdict.FAIL,
        worst,
        text,
        f"0 images with zero/non-finite gradient; ratio in [{low:g}, {high:g}]",
        details,
    )
