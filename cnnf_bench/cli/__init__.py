"""The ``cnnf-bench`` command line: thin Typer commands, rich output, heavy imports inside commands."""

from __future__ import annotations

from cnnf_bench.cli.app import app, main

__all__ = ["app", "main"]
