"""Import every command module so that its ``@app.command`` registrations run."""

from cnnf_bench.cli import cmd_check, cmd_evaluate, cmd_models, cmd_plot, cmd_report, cmd_run, cmd_train  # noqa: F401
