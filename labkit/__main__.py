"""`python -m labkit ...`: the CLI, for subprocesses that must use this very interpreter."""

from .cli import app

app(prog_name="labkit")
