"""The ``fusionflow`` command line."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the ``fusionflow`` script."""
    # Answered before importing click: scripts call --version to probe for the tool.
    if sys.argv[1:] in (["--version"], ["-V"]):
        from fusionflow import __version__

        print(f"fusionflow, version {__version__}")
        return
    from fusionflow.cli.main import main as run_cli

    run_cli()
