"""``cnnf-bench models`` and ``cnnf-bench attacks``: the registries as tables (from the cached catalogue)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from cnnf_bench.cli.app import app, console, handle_errors


@app.command()
@handle_errors
def models() -> None:
    """List every registered model with its dataset, cycles T, encoder depth k and unique parameters."""
    from cnnf_bench.catalog import catalogue

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
    for m in catalogue()["models"]:
        table.add_row(
            escape(m["model"]),
            escape(m["dataset"]),
            "-" if m["cycles"] is None else str(m["cycles"]),
            "-" if m["k"] is None else str(m["k"]),
            "-" if m["eta"] is None else f"{m['eta']:g}",
            escape(m["readout"]),
            f"{m['parameters']:,}",
            *([escape(m["description"])] if wide else []),
        )
    console.print(table)


@app.command()
@handle_errors
def attacks() -> None:
    """List the registered attacks with their parameters, the targets (views) and the protocols."""
    from cnnf_bench.catalog import catalogue

    data = catalogue()
    table = Table(title="attacks (eps in [0,1] units)")
    table.add_column("attack", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("parameters (defaults)")
    table.add_column("what")
    paper_first = ("none", "fgsm", "pgd", "spsa", "transfer")
    ordered = sorted(
        data["attacks"],
        key=lambda a: (paper_first.index(a["attack"]) if a["attack"] in paper_first else 99, a["attack"]),
    )
    for a in ordered:
        table.add_row(escape(a["attack"]), a["kind"], escape(a["parameters"]), escape(a["summary"]))
    console.print(table)
    views = "; ".join(f"[bold]{escape(k)}[/]: {escape(v)}" for k, v in data["views"].items())
    console.print("targets (--target): " + views)
    protocols = "; ".join(f"[bold]{escape(k)}[/]: {escape(v)}" for k, v in data["protocols"].items())
    console.print("protocols (--protocol): " + protocols)
