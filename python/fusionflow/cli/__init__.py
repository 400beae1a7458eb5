"""The ``fusionflow`` command line."""

from __future__ import annotations

import contextlib
import os
import sys


def main() -> None:
    """Entry point of the ``fusionflow`` script."""
    # Answered before importing click: scripts call --version to probe for the tool.
    if sys.argv[1:] in (["--version"], ["-V"]):
        from fusionflow import __version__

        print(f"fusionflow, version {__version__}")
        return
    from fusionflow.cli.main import main as run_cli

    code = run_cli()
    # Skip interpreter teardown: with Pydantic loaded it costs ~100 ms, and every output
    # file is already written and closed. Only the standard streams need flushing.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # e.g. a closed pipe (`| head`)
            stream.flush()
    os._exit(code)
