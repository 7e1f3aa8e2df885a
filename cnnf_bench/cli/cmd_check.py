"""``cnnf-bench check``: automatic sanity checks of a checkpoint's evaluation (docs/checks.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cnnf_bench.cli.app import app, console, deprecated, fail, handle_errors
from cnnf_bench.cli.cmd_evaluate import DEFAULT_RESULTS, ResultsOpt, parse_params
from cnnf_bench.cli.options import DataDirOpt, Device, DeviceOpt

ChecksStoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--checks-store", help="Verdict store (JSONL; default: checks.jsonl beside --results).", show_default=False
    ),
]


def check_settings(
    n: int | None, eps: float | None, steps: int | None, restarts: int | None, extra: list[str] | None
) -> Any:
    """:class:`CheckSettings` from the command line's options and ``key=value`` settings."""
    from cnnf_bench.checks.base import CheckSettings

    values: dict[str, Any] = parse_params(extra or [])
    for key, value in (("n", n), ("eps", eps), ("steps", steps), ("restarts", restarts)):
        if value is not None:
            values[key] = value
    return CheckSettings.from_mapping(values, "--param")


@app.command()
@handle_errors
def check(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint file or run folder.")],
    n: Annotated[int | None, typer.Option("--n", help="Test images (fixed seeded subset; default 200).")] = None,
    readout: Annotated[
        list[str] | None, typer.Option("--readout", help="Score with last or avg (repeatable; default deployed).")
    ] = None,
    eps: Annotated[float | None, typer.Option(help="L-inf budget in [0,1] units (default: the dataset's).")] = None,
    steps: Annotated[int | None, typer.Option(help="PGD steps of the checks' base attack (default 10).")] = None,
    restarts: Annotated[int | None, typer.Option(help="Restarts compared by C9 (default 3).")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="KEY=VALUE",
            help="Any check setting, repeatable (e.g. square_iter=500; docs/checks.md).",
        ),
    ] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only these checks, e.g. C6,C11.")] = None,
    results: ResultsOpt = DEFAULT_RESULTS,
    checks_store: ChecksStoreOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute verdicts already stored.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when a check fails (for CI); warnings pass.")
    ] = False,
    device: DeviceOpt = Device.auto,
    data_dir: DataDirOpt = None,
    old_setting: Annotated[list[str] | None, typer.Option("--setting", "-s", hidden=True)] = None,
) -> None:
    """Run the automatic checks (C1-C18) on a checkpoint, print their verdicts and store them.

    The exit code is 0 even when checks fail (the verdicts are a diagnosis of the evaluation), unless
    --strict: then a failed check exits with code 1.
    """
    from cnnf_bench.cli.render_checks import run_and_show
    from cnnf_bench.runtime import resolve_device
    from cnnf_bench.shards import checks_location

    if old_setting:
        deprecated("-s/--setting", "-p/--param")
    settings = check_settings(n, eps, steps, restarts, [*(old_setting or []), *(param or [])])
    store = checks_store or checks_location(results)
    readouts: list[str | None] = list(readout) if readout else [None]
    verdicts = run_and_show(
        console, checkpoint, settings, readouts, store, resolve_device(device.value), data_dir, only, force=force
    )
    failed = sorted({r.check for r in verdicts if r.verdict.value == "fail"})
    if strict and failed:
        raise fail(f"--strict: {len(failed)} check(s) failed ({', '.join(failed)})")
