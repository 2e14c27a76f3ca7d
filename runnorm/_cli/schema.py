"""``runnorm schema``: the JSON Schema of the normalized output."""

from __future__ import annotations

import click

from runnorm._cli.output import emit_json
from runnorm._model.serialization import json_schema

__all__ = ["schema_command"]


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the normalized output."""
    emit_json(json_schema())
