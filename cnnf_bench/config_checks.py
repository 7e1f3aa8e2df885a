"""Value checks shared by the sections of a run config, with one-line errors that suggest a close name.

They live below :mod:`cnnf_bench.config` so that a section defined in its own module
(:mod:`cnnf_bench.config_fpd`) validates itself with the very same messages, without an import cycle.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from cnnf_bench.errors import ConfigError


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``options``, or nothing when none is close."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_positive(value: float | int | None, where: str, allow_zero: bool = False) -> None:
    """Refuse a negative (or, unless ``allow_zero``, a zero) setting; None means unset and passes."""
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{where} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def check_choice(value: str, options: tuple[str, ...], where: str) -> None:
    """Refuse a value that is not one of ``options``, naming them and the closest one."""
    if value not in options:
        raise ConfigError(f"{where} must be one of {', '.join(options)}, got {value!r}{did_you_mean(value, options)}")
