"""``cnnf-bench evaluate``: run one attack on one checkpoint and store the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cnnf_bench.cli.app import app, console, handle_errors, info, pick
from cnnf_bench.cli.options import DataDirOpt, Device, DeviceOpt
from cnnf_bench.errors import UsageError

DEFAULT_RESULTS = Path("results/results.jsonl")
#: the target alias for the view that computes the deployed logits (resolved by each model)
DEPLOYED = "deployed"
ResultsOpt = Annotated[Path, typer.Option("--results", help="Results store (JSONL).")]

CheckpointOpt = Annotated[
    Path | None, typer.Option("--checkpoint", help="Checkpoint file or run folder.", show_default=False)
]
ModelSpecOpt = Annotated[
    str | None,
    typer.Option(
        "--model-spec",
        metavar="MODULE:FACTORY",
        help="Instead of --checkpoint: your model, a factory returning an nn.Module on [0,1] images (or "
        "robustbench:NAME for a RobustBench zoo model).",
        show_default=False,
    ),
]
WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights", help="With --model-spec: a state dict to load (robustbench: the zoo folder).", show_default=False
    ),
]
DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset", metavar="[fmnist|cifar10]", help="With --model-spec: test images and eps.", show_default=False
    ),
]

#: names a generic ``--steps`` maps to, in order of preference
STEP_FIELDS = ("steps", "nb_iter", "max_iter")


def parse_params(items: list[str]) -> dict[str, Any]:
    """``key=value`` strings to a dict, values parsed as YAML scalars (numbers, booleans, strings)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def attack_overrides(
    attack: str, eps: float | None, steps: int | None, step_size: float | None, restarts: int | None, extra: list[str]
) -> dict[str, Any]:
    """The explicit parameters of an ``evaluate`` call, mapped onto the attack's own field names."""
    import dataclasses

    from cnnf_bench.attacks import ATTACKS

    fields = {f.name for f in dataclasses.fields(ATTACKS.get(attack))}
    params: dict[str, Any] = {"eps": eps}
    if steps is not None:
        name = next((f for f in STEP_FIELDS if f in fields), None)
        if name is None:
            raise UsageError(f"attack {attack} has no iteration count (--steps)")
        params[name] = steps
    if step_size is not None:
        params["step_size" if "step_size" in fields else "lr"] = step_size
    if restarts is not None:
        params["restarts" if "restarts" in fields else "nb_restarts"] = restarts
    params.update(parse_params(extra))
    return {k: v for k, v in params.items() if v is not None}


@app.command()
@handle_errors
def evaluate(
    attack: Annotated[str, typer.Option("--attack", "-a", help="Registered attack (see `cnnf-bench attacks`).")],
    checkpoint: CheckpointOpt = None,
    model_spec: ModelSpecOpt = None,
    weights: WeightsOpt = None,
    dataset: DatasetOpt = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            metavar="[deployed|first|e2e|e2e-avg|bpda|...]",
            help="View to attack, repeatable (`cnnf-bench attacks` lists every view). Default: deployed, the "
            "function the model deploys (e2e-avg for the avg readout, e2e for last).",
            show_default=False,
        ),
    ] = None,
    readout: Annotated[
        list[str] | None,
        typer.Option(
            "--readout",
            metavar="[last|avg]",
            help="Readout that scores the examples, repeatable. Default: the model's deployed one.",
            show_default=False,
        ),
    ] = None,
    eps: Annotated[float | None, typer.Option(help="L-inf budget in [0,1] units (default: the dataset's).")] = None,
    steps: Annotated[int | None, typer.Option(help="Iterations (steps / nb_iter / max_iter).")] = None,
    step_size: Annotated[float | None, typer.Option(help="Step size (PGD) or learning rate (SPSA).")] = None,
    restarts: Annotated[int | None, typer.Option(help="Random restarts.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", metavar="KEY=VALUE", help="Any attack parameter (repeatable).")
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n", help="Test images, a fixed seeded subset (default 1000, or the protocol's: SPSA 1000/640)."
        ),
    ] = None,
    all_images: Annotated[bool, typer.Option("--all", help="Use the whole test split.")] = False,
    subset_seed: Annotated[int, typer.Option(help="Seed of the fixed evaluation subset.")] = 0,
    attack_seed: Annotated[int | None, typer.Option("--attack-seed", help="Attack seed (default 0).")] = None,
    protocol: Annotated[
        str,
        typer.Option(
            metavar="[paper|strong|fpd|custom|...]",
            help="Defaults family: paper (the original's), strong (evaluation-rigor), fpd (FPD's released) or "
            "custom (`cnnf-bench attacks` lists every protocol).",
        ),
    ] = "paper",
    cycles: Annotated[int | None, typer.Option(help="Test-time feedback cycles (default: the model's).")] = None,
    source: Annotated[Path | None, typer.Option(help="Transfer source checkpoint (default: the CNN baseline).")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per attack batch.")] = 250,
    results: ResultsOpt = DEFAULT_RESULTS,
    force: Annotated[bool, typer.Option("--force", help="Run and store even if the store has it.")] = False,
    checks: Annotated[
        bool, typer.Option("--checks", help="Then run the automatic checks on the checkpoint (see `check`).")
    ] = False,
    check_setting: Annotated[
        list[str] | None,
        typer.Option("--check-setting", metavar="KEY=VALUE", help="A setting of --checks (e.g. n=100; repeatable)."),
    ] = None,
    device: DeviceOpt = Device.auto,
    data_dir: DataDirOpt = None,
    old_seed: Annotated[int | None, typer.Option("--seed", hidden=True)] = None,
) -> None:
    """Run one attack on a checkpoint, print its accuracy and append the record to the results store.

    By default the attack differentiates (or queries) the function the model deploys, so the number is
    the robustness of what the model computes; `-t first` attacks only CNN-F's first feedforward pass,
    as the original evaluation did, which overstates the robustness of a model with feedback cycles.
    """
    from cnnf_bench.cli.render import ProgressRenderer, record_lines, target_notes
    from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint
    from cnnf_bench.external import resolve_model
    from cnnf_bench.protocols import PROTOCOLS
    from cnnf_bench.results import ResultsStore
    from cnnf_bench.runtime import resolve_device

    seed = pick(attack_seed, old_seed, "--seed", "--attack-seed")
    PROTOCOLS.get(protocol)
    if n is not None and n < 1:
        raise UsageError(f"--n must be >= 1, got {n}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {batch_size}")
    from cnnf_bench.attacks import ATTACKS
    from cnnf_bench.checks.base import CheckSettings

    ATTACKS.get(attack)
    settings = CheckSettings.from_mapping(parse_params(check_setting or []), "--check-setting")
    request = EvalRequest(
        attack=attack,
        params=attack_overrides(attack, eps, steps, step_size, restarts, param or []),
        targets=tuple(target or [DEPLOYED]),
        readouts=tuple(readout) if readout else None,
        n=None if all_images else (n if n is not None else 1000),
        n_from_protocol=n is None and not all_images,
        n_explicit=n is not None and not all_images,
        subset_seed=subset_seed,
        attack_seed=0 if seed is None else seed,
        batch_size=batch_size,
        protocol=protocol,
        cycles=cycles,
        source=source,
    )
    subject = resolve_model(checkpoint, model_spec, weights, dataset)
    store = ResultsStore(results)
    with ProgressRenderer(console) as progress:
        records = evaluate_checkpoint(
            subject, request, store, resolve_device(device.value), data_dir, force=force, callback=progress.evaluate
        )
    for warning in store.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if not records:
        info(f"already in {escape(str(results))} (use --force to run again)", highlight=False)
    else:
        for line in dict.fromkeys(record_lines(records)):  # a limit shared by several records prints once
            console.print(line, highlight=False)
        info(f"stored in {escape(str(results))}", highlight=False)
    for line in target_notes(request.targets, records):
        info(line, highlight=False)
    if checks:
        from cnnf_bench.checks.base import default_checks_store
        from cnnf_bench.cli.render_checks import run_and_show

        readouts: list[str | None] = list(readout) if readout else [None]
        run_and_show(
            console,
            subject,
            settings,
            readouts,
            default_checks_store(results),
            resolve_device(device.value),
            data_dir,
        )
