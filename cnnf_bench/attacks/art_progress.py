"""Per-iteration progress from inside ART's Square attack, without changing what it computes.

A Square batch runs ``nb_restarts x max_iter`` iterations inside one ``generate`` call (minutes on the
CPU), and ART offers no callback. Running it in chunks of iterations is not an option: the square size
schedule depends on ``i_iter / max_iter``, so chunks would change the attack. ART's
``square_attack`` module loops over ``trange(...)`` (its module-level name, from ``tqdm.auto``): the
restarts loop with ``desc="SquareAttack - restarts"``, each restart's iterations with another ``desc``.
For the duration of one call, :func:`square_progress` puts a replacement under that name which yields
exactly the numbers ``range(*args)`` yields (what ``trange`` yields, without a tqdm bar, and without
drawing any random number) and calls :func:`cnnf_bench.progress.report_iteration` as iterations
finish. ART is not edited; the original ``trange`` is put back on the way out, also after an error.

Counting (``total = nb_restarts * max_iter``): iteration ``i`` of restart ``r`` is done when ART asks
for the next number, which reports ``r * max_iter + i + 1``. ART leaves a restart's iteration loop
early, and the restarts loop before a restart, once every image is misclassified; the iterations so
skipped count as done (the end of a restart reports ``(r + 1) * max_iter``, the end of the call
``total``). Reports never go backwards and none repeats.

The substitution is process-wide (a module attribute), like the seeding in
:func:`cnnf_bench.attacks.art_adapter.art_session`: one ART attack runs at a time per process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from cnnf_bench.progress import report_iteration

RESTARTS_DESC = "SquareAttack - restarts"


@contextlib.contextmanager
def square_progress(max_iter: int, nb_restarts: int) -> Iterator[None]:
    """While the block runs, ART's Square reports its iterations through ``report_iteration``.

    Args:
        max_iter: the attack's ``max_iter`` (iterations per restart).
        nb_restarts: the attack's ``nb_restarts``.
    """
    from art.attacks.evasion import square_attack

    total = max_iter * nb_restarts
    restart = [0]
    reported = [0]

    def report(done: int) -> None:
        done = min(done, total)
        if done > reported[0]:
            reported[0] = done
            report_iteration(done, total)

    def restarts(numbers: range) -> Iterator[int]:
        for r in numbers:
            restart[0] = r
            yield r
            report((r + 1) * max_iter)  # a restart left early skipped the rest of its iterations

    def iterations(numbers: range) -> Iterator[int]:
        base = restart[0] * max_iter
        for i in numbers:
            yield i
            report(base + i + 1)

    def trange(*args: Any, **kwargs: Any) -> Iterator[int]:
        numbers = range(*args)
        return restarts(numbers) if kwargs.get("desc") == RESTARTS_DESC else iterations(numbers)

    original = square_attack.trange
    square_attack.trange = trange  # type: ignore[assignment]
    try:
        yield
        report(total)  # restarts skipped because every image was already misclassified
    finally:
        square_attack.trange = original
