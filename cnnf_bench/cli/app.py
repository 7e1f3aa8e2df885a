"""Typer application, the shared error handling and the ``--version`` flag.

Only Typer and rich are imported at start-up so that ``cnnf-bench --help`` answers at once; every
command imports torch and the library inside its body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from cnnf_bench import __version__
from cnnf_bench.errors import CnnfBenchError, UsageError

# soft_wrap: long lines are not cut at 80 columns in logs and pipes (tables still size themselves)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="cnnf-bench",
    help="Adversarial-robustness benchmark for CNNs with recurrent generative feedback (CNN-F) against plain CNNs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Verbosity:
    """The global ``--quiet`` / ``--verbose`` choice (set by the root callback, read by the commands)."""

    quiet: bool = False
    verbose: bool = False


def info(text: str, **kwargs: Any) -> None:
    """A line of information (what was done, where it went); ``--quiet`` silences it, results still print."""
    if not Verbosity.quiet:
        console.print(text, **kwargs)


def deprecated(old: str, new: str) -> None:
    """One warning line for an old spelling of an option; it keeps working until the next release."""
    err_console.print(
        f"[yellow]warning:[/] {old} is deprecated and goes in the next release; use {new}", highlight=False
    )


def pick(new: T | None, old: T | None, old_name: str, new_name: str) -> T | None:
    """The value of an option given under its new name or (with a deprecation line) its old one."""
    if old is None:
        return new
    deprecated(old_name, new_name)
    if new is not None and new != old:
        raise UsageError(f"{old_name} and {new_name} are the same option; give only {new_name}")
    return old


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn the tool's exceptions into one readable line and an exit code (2 usage, 1 otherwise)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CnnfBenchError as exc:
            if Verbosity.verbose:
                err_console.print_exception()
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; completed work is saved (re-run to continue)", 130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"cnnf-bench {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only results, warnings and errors: no progress, no info lines.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More detail: every repeated warning, tracebacks of errors.")
    ] = False,
) -> None:
    """Train CNN and CNN-F models, attack them, and report the paper's tables."""
    if quiet and verbose:
        raise fail("--quiet and --verbose exclude each other", 2)
    Verbosity.quiet, Verbosity.verbose = quiet, verbose


def main() -> None:
    """Console-script entry point."""
    app()


# Register the commands (each module imports only Typer/rich at import time).
from cnnf_bench.cli import commands as _commands  # noqa: E402,F401
