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
from cnnf_bench.errors import CnnfBenchError

# soft_wrap: long lines are not cut at 80 columns in logs and pipes (tables still size themselves)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="cnnf-bench",
    help="Adversarial-robustness benchmark for CNNs with recurrent generative feedback (CNN-F) against plain CNNs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


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
) -> None:
    """Train CNN and CNN-F models, attack them, and report the paper's tables."""


def main() -> None:
    """Console-script entry point."""
    app()


# Register the commands (each module imports only Typer/rich at import time).
from cnnf_bench.cli import commands as _commands  # noqa: E402,F401
