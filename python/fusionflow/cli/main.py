"""Entry point: ``fusionflow``. Keeps start-up fast by importing heavy modules lazily."""

from __future__ import annotations

import os
from typing import Any

import click

from fusionflow import __version__
from fusionflow.cli.grants import grants, groups
from fusionflow.cli.run import run
from fusionflow.cli.service import db, probe, serve, ui, worker
from fusionflow.cli.users import users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fusionflow")
def cli() -> None:
    """FusionFlow: heavy processing jobs over many files."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the pipelines as JSON schemas.")
def pipelines(as_json: bool) -> None:
    """List the pipelines and their parameters."""
    import json

    from fusionflow import pipelines as registry

    found = [registry.get(name) for name in registry.names()]
    if as_json:
        schemas = {
            p.name: {"description": p.description, "params": p.params_schema()} for p in found
        }
        click.echo(json.dumps(schemas, indent=2))
        return
    for pipeline in found:
        click.echo(f"{pipeline.name}: {pipeline.description}")
        schema = pipeline.params_schema()
        required = set(schema.get("required", []))
        for field, spec in schema["properties"].items():
            default = "required" if field in required else f"default {spec.get('default')!r}"
            click.echo(
                f"  {field:<22} {_type_name(spec):<14} {default:<18} {spec.get('description', '')}"
            )


def _type_name(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "|".join(spec["enum"])
    if "anyOf" in spec:
        return "|".join(_type_name(s) for s in spec["anyOf"])
    if spec.get("type") == "array":
        return f"list[{_type_name(spec.get('items', {}))}]"
    return str(spec.get("type", "any"))


cli.add_command(run)
cli.add_command(db)
cli.add_command(worker)
cli.add_command(serve)
cli.add_command(ui)
cli.add_command(probe)
cli.add_command(users)
cli.add_command(groups)
cli.add_command(grants)


def main() -> int:
    """Run the CLI and return the exit code.

    Known errors become one line on stderr and an exit code, never a traceback.
    """
    from fusionflow.cli.errors import exit_code_for, one_line

    try:
        result = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except Exception as e:  # the last line of defence (re-raises under FUSIONFLOW_DEBUG)
        if os.environ.get("FUSIONFLOW_DEBUG"):
            raise
        click.echo(f"error: {one_line(e)}", err=True)
        return exit_code_for(e)
    # click returns the exit code of `--help` and friends, None after a command.
    return result if isinstance(result, int) else 0
