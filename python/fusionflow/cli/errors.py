"""How exceptions look at the command line."""

from __future__ import annotations

from fusionflow.errors import Cancelled, InvalidParameter, one_line

__all__ = ["exit_code_for", "one_line"]

# Exit codes: 2 for bad input (as click does for usage errors), 130 for a cancelled run
# (as a shell does for Ctrl-C), 1 for anything else.
BAD_INPUT, CANCELLED, FAILED = 2, 130, 1


def exit_code_for(error: BaseException) -> int:
    """The process exit code for ``error``."""
    from fusionflow.accounts import UserNotFound
    from fusionflow.grants import GrantNotFound, GroupNotFound

    if isinstance(
        error,
        InvalidParameter
        | FileNotFoundError
        | NotADirectoryError
        | UserNotFound
        | GroupNotFound
        | GrantNotFound,
    ):
        return BAD_INPUT
    if isinstance(error, Cancelled):
        return CANCELLED
    return FAILED
