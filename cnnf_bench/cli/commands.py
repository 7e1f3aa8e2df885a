"""Import every command module so that its ``@app.command`` registrations run."""

from cnnf_bench.cli import cmd_models, cmd_train  # noqa: F401
