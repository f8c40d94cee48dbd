"""``python -m pixwizard`` runs the command line."""

from pixwizard.cli import app

app(prog_name="pixwizard")
