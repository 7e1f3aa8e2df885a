"""``cnnf-bench models``: the model registry as a table."""

from __future__ import annotations

from rich.table import Table

from cnnf_bench.cli.app import app, console, handle_errors


@app.command()
@handle_errors
def models() -> None:
    """List every registered model with its dataset, cycles T, encoder depth k and unique parameters."""
    from cnnf_bench.zoo import MODELS, build_model

    table = Table(title="cnnf-bench models")
    wide = console.width >= 120
    columns = [
        ("model", "left"),
        ("dataset", "left"),
        ("cycles T", "right"),
        ("k", "right"),
        ("eta", "right"),
        ("readout", "left"),
        ("parameters", "right"),
    ] + ([("description", "left")] if wide else [])
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for name, spec in MODELS.items():
        model = build_model(name)
        table.add_row(
            name,
            spec.dataset,
            str(model.cycles),
            str(model.ind),
            f"{model.eta:g}",
            model.readout,
            f"{model.num_unique_parameters():,}",
            *([spec.description] if wide else []),
        )
    console.print(table)
