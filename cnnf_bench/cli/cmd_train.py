"""``cnnf-bench train``: train or resume one model with the paper's losses."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnf_bench.cli.app import app, console, deprecated, handle_errors, info, pick
from cnnf_bench.cli.options import DataDirOpt, Device, DeviceOpt, OldOutputDirOpt, OutputDirOpt
from cnnf_bench.errors import UsageError


class Mode(str, Enum):
    """Training protocol."""

    adversarial = "adversarial"
    standard = "standard"
    noise = "noise"


@app.command()
@handle_errors
def train(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Registered model (see `cnnf-bench models`).")
    ] = None,
    train_seed: Annotated[
        int | None,
        typer.Option("--train-seed", help="Training seed: weights, batch order, PGD starts (default 0)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: the dataset's recipe, 200 / 500).")] = None,
    mode: Annotated[
        Mode | None,
        typer.Option(help="adversarial (PGD-7; default), standard (clean) or noise.", show_default=False),
    ] = None,
    limit_batches: Annotated[int | None, typer.Option(help="At most this many batches per epoch (smoke runs).")] = None,
    output_dir: OutputDirOpt = Path("checkpoints"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last complete epoch.")] = False,
    device: DeviceOpt = Device.auto,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML with model/data/train sections.")] = None,
    data_dir: DataDirOpt = None,
    train_subset: Annotated[int | None, typer.Option(help="Train on a seeded subset of this many images.")] = None,
    test_subset: Annotated[int | None, typer.Option(help="Per-epoch test accuracy on this many images.")] = None,
    cycles: Annotated[int | None, typer.Option(help="Override the model's feedback cycles T.")] = None,
    eta: Annotated[float | None, typer.Option(help="Override the model's online-update rate eta.")] = None,
    eps: Annotated[float | None, typer.Option(help="Training eps in [0,1] units (Fashion-MNIST 0.1).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Clean images per batch (default 256).")] = None,
    lr: Annotated[
        float | None, typer.Option(help="Initial learning rate (default 0.05; FPD models: fpd.lr, 1e-3).")
    ] = None,
    old_seed: Annotated[int | None, typer.Option("--seed", hidden=True)] = None,
    old_output_dir: OldOutputDirOpt = None,
) -> None:
    """Train (or --resume) a CNN, CNN-F or FPD model; prints progress, then the checkpoint's path.

    FPD's own settings (gate T, noise eps0, loss weights, optimiser, adversarial delay) are the YAML
    section ``fpd:`` (docs/faithfulness.md); ``--mode standard`` is the released two-phase training and
    ``--mode adversarial`` adds the CNN-F PGD-7 examples."""
    from cnnf_bench.checkpoint import ensure_folder
    from cnnf_bench.config import RunConfig, apply_overrides, load_yaml, resolve, run_config_from_mapping, run_name
    from cnnf_bench.runtime import resolve_device
    from cnnf_bench.train import fit

    seed = pick(train_seed, old_seed, "--seed", "--train-seed")
    if old_output_dir is not None:
        deprecated("-o", "--output-dir")
        output_dir = old_output_dir
    if model is None and config is None:
        raise UsageError("give --model NAME (see `cnnf-bench models`) or --config FILE")
    base = run_config_from_mapping(load_yaml(config), str(config)) if config is not None else RunConfig()
    from cnnf_bench.zoo import MODELS

    fpd = MODELS.get(model or base.model.name).family == "fpd"
    overrides: dict[str, Any] = {
        "model.name": model,
        "seed": seed,
        "train.epochs": epochs,
        "train.mode": mode.value if mode else None,
        "train.limit_batches": limit_batches,
        "data.train_subset": train_subset,
        "data.test_subset": test_subset,
        "model.cycles": cycles,
        "model.eta": eta,
        "train.eps": eps,
        "train.batch_size": batch_size,
        "fpd.lr" if fpd else "train.lr": lr,
    }
    cfg = resolve(apply_overrides(base, overrides))
    dev = resolve_device(device.value)
    run_dir = output_dir / run_name(cfg)
    ensure_folder(run_dir if run_dir.exists() else output_dir)  # fail now, not after an epoch of training
    from cnnf_bench.cli.render import ProgressRenderer

    with ProgressRenderer(console) as progress:
        result = fit(cfg, run_dir, dev, data_dir=data_dir, resume=resume, callback=progress.train)
    if result.already_complete:
        info(f"already complete ({len(result.metrics)} epochs); nothing to do")
    last = result.metrics[-1] if result.metrics else {}
    if last:
        console.print(
            f"clean test accuracy {100 * last['test_acc']:.2f}% on {last['test_images']} images "
            f"after {last['epoch']} epoch(s)"
        )
    console.print(f"checkpoint: {result.path}")
