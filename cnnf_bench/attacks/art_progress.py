"""Per-iteration progress from inside ART's Square and APGD attacks, without changing what they compute.

One ``generate`` call of Square (``nb_restarts x max_iter`` iterations) or APGD (``nb_random_init x
max_iter``) runs minutes on the CPU, and ART offers no callback. Running them in chunks of iterations is
not an option: Square's square size and APGD's step-size checkpoints depend on ``i_iter / max_iter``, so
chunks would change the attack. Both modules loop over ``trange(...)`` (their module-level name, from
``tqdm.auto``): a restarts loop, APGD also a loop over batches inside each restart, and an iterations
loop inside that, each with its own ``desc``. For the duration of one call, :func:`loop_progress` puts a
replacement under that name which yields exactly the numbers ``range(*args)`` yields (what ``trange``
yields, without a tqdm bar, and without drawing any random number) and calls
:func:`cnnf_bench.progress.report_iteration` as iterations finish. ART is not edited; the original
``trange`` is put back on the way out, also after an error.

Counting (``total = restarts * max_iter``): iteration ``i`` of batch ``b`` (of ``nb``) of restart ``r`` is
done when ART asks for the next number, which reports ``r * max_iter + (b * max_iter + i + 1) // nb``
(``nb`` is 1 for Square, and for APGD as this package calls it: one batch per call). ART leaves an
iteration loop early, and the restarts loop before a restart, once every image is misclassified; the
iterations so skipped count as done (the end of a batch or a restart reports where it ends, the end of
the call ``total``). Reports never go backwards and none repeats.

The substitution is process-wide (a module attribute), like the seeding in
:func:`cnnf_bench.attacks.art_adapter.art_session`: one ART attack runs at a time per process.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

from cnnf_bench.progress import report_iteration

SQUARE = ("art.attacks.evasion.square_attack", "SquareAttack - restarts", None)
APGD = ("art.attacks.evasion.auto_projected_gradient_descent", "AutoPGD - restart", "AutoPGD - batch")


@contextlib.contextmanager
def loop_progress(
    module_name: str, restarts_desc: str, batches_desc: str | None, max_iter: int, restarts: int
) -> Iterator[None]:
    """While the block runs, the ART attack in ``module_name`` reports its iterations.

    Args:
        module_name: the ART module whose ``trange`` drives the attack's loops.
        restarts_desc: ``desc`` of its restarts loop; ``batches_desc``: of its batches loop (None: none).
            Any other ``trange`` of the module is an iterations loop.
        max_iter: iterations per restart; restarts: how many restarts the attack runs.
    """
    module: Any = importlib.import_module(module_name)
    total = max_iter * restarts
    where = {"restart": 0, "batch": 0, "batches": 1}
    reported = [0]

    def report(done: int) -> None:
        done = min(done, total)
        if done > reported[0]:
            reported[0] = done
            report_iteration(done, total)

    def restarts_loop(numbers: range) -> Iterator[int]:
        for r in numbers:
            where.update(restart=r, batch=0, batches=1)
            yield r
            report((r + 1) * max_iter)  # a restart left early skipped the rest of its iterations

    def batches_loop(numbers: range) -> Iterator[int]:
        where["batches"] = max(1, len(numbers))
        base = where["restart"] * max_iter
        for b in numbers:
            where["batch"] = b
            yield b
            report(base + (b + 1) * max_iter // where["batches"])

    def iterations_loop(numbers: range) -> Iterator[int]:
        base, batch, batches = where["restart"] * max_iter, where["batch"], where["batches"]
        for i in numbers:
            yield i
            report(base + (batch * max_iter + i + 1) // batches)

    def trange(*args: Any, **kwargs: Any) -> Iterator[int]:
        numbers = range(*args)
        desc = kwargs.get("desc")
        if desc == restarts_desc:
            return restarts_loop(numbers)
        if batches_desc is not None and desc == batches_desc:
            return batches_loop(numbers)
        return iterations_loop(numbers)

    original = module.trange
    module.trange = trange
    try:
        yield
        report(total)  # restarts skipped because every image was already misclassified
    finally:
        module.trange = original


def square_progress(max_iter: int, nb_restarts: int) -> contextlib.AbstractContextManager[None]:
    """ART's Square reports its iterations while the block runs."""
    module, restarts_desc, batches_desc = SQUARE
    return loop_progress(module, restarts_desc, batches_desc, max_iter, nb_restarts)


def apgd_progress(max_iter: int, nb_random_init: int) -> contextlib.AbstractContextManager[None]:
    """ART's AutoProjectedGradientDescent reports its iterations while the block runs (it runs
    ``max(1, nb_random_init)`` restarts)."""
    module, restarts_desc, batches_desc = APGD
    return loop_progress(module, restarts_desc, batches_desc, max_iter, max(1, nb_random_init))
