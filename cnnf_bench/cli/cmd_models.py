"""``cnnf-bench models``: the model registry as a table."""

from __future__ import annotations

from rich.table import Table

from cnnf_bench.cli.app import app, console, handle_errors


@app.command()
@handle_errors
def models() -> None:
    """List every registered model with its dataset, cycles T, encoder depth k and unique parameters
    (FPD models show their denoise op and whether the logits are tanh-bounded instead of T, k and eta)."""
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
        knobs = spec.kwargs
        if spec.family == "fpd":
            feedback = ["-", "-", "-", f"{'tanh' if knobs['tanh'] else 'raw'}, {knobs['denoise']} denoise"]
        else:
            feedback = [str(knobs["cycles"]), str(knobs["ind"]), f"{knobs['eta']:g}", model.readout]
        table.add_row(
            name,
            spec.dataset,
            *feedback,
            f"{model.num_unique_parameters():,}",
            *([spec.description] if wide else []),
        )
    console.print(table)


@app.command()
@handle_errors
def attacks() -> None:
    """List the registered attacks with their parameters, the targets (views) and the protocols."""
    import dataclasses

    from cnnf_bench.attacks import ATTACKS
    from cnnf_bench.attacks.views import VIEW_HELP
    from cnnf_bench.protocols import PROTOCOLS

    table = Table(title="attacks (eps in [0,1] units)")
    table.add_column("attack", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("parameters (defaults)")
    table.add_column("what")
    paper_first = ("none", "fgsm", "pgd", "spsa", "transfer")
    ordered = sorted(
        ATTACKS.items(), key=lambda item: (paper_first.index(item[0]) if item[0] in paper_first else 99, item[0])
    )
    for name, cls in ordered:
        fields = [f for f in dataclasses.fields(cls) if f.name != "eps"]
        params = ", ".join(f"{f.name}={f.default}" for f in fields) or "-"
        kind = "view-free" if not cls.uses_view else ("black-box" if cls.black_box else "gradient")
        table.add_row(name, kind, params, cls.summary)
    console.print(table)
    console.print("targets (--target): " + "; ".join(f"[bold]{k}[/]: {v}" for k, v in VIEW_HELP.items()))
    console.print(
        "protocols (--protocol): " + "; ".join(f"[bold]{n}[/]: {p.description}" for n, p in PROTOCOLS.items())
    )
