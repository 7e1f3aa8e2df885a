"""A per-iteration progress hook that attacks call from inside a batch (torch-free, no printing).

Long attacks (SPSA, Square, many-step PGD) spend minutes inside one batch; the evaluator reports
progress per batch, so without this a run shows no sign of life in between. An attack calls

    report_iteration(done, total)

after each of its iterations (``done`` of ``total`` in the current batch, restarts included if it
counts them; 1-based). The call costs one context-variable lookup when nobody listens. The evaluator
installs a listener for the duration of one batch with :func:`listen`; the CLI turns the calls into
progress-bar updates. Attacks never need to know whether anyone listens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

#: a listener receives (iterations done, iterations in total) of the current batch
IterationHook = Callable[[int, int], None]

_LISTENER: ContextVar[IterationHook | None] = ContextVar("cnnf_bench_iteration_listener", default=None)


def report_iteration(done: int, total: int) -> None:
    """Tell the listener, if any, that ``done`` of ``total`` iterations of the current batch are finished."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(done, total)


@contextlib.contextmanager
def listen(hook: IterationHook | None) -> Iterator[None]:
    """Route :func:`report_iteration` calls made inside the block to ``hook`` (None: ignore them)."""
    token = _LISTENER.set(hook)
    try:
        yield
    finally:
        _LISTENER.reset(token)
