"""Import every command module so that its ``@app.command`` registrations run."""

from cnnf_bench.cli import (  # noqa: F401
    cmd_check,
    cmd_evaluate,
    cmd_models,
    cmd_plot,
    cmd_report,
    cmd_run,
    cmd_status,
    cmd_train,
)
