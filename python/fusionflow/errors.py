"""FusionFlow's exceptions.

They are defined by the native core (so Rust errors map onto them directly) under this
module's name, so that they pickle and unpickle as ``fusionflow.errors.*``.
"""

from fusionflow._core import Cancelled, FusionFlowError, InvalidParameter, TransientError

__all__ = ["Cancelled", "FusionFlowError", "InvalidParameter", "TransientError", "one_line"]


def one_line(error: BaseException) -> str:
    """``error`` as a single line (regex errors, for one, span several)."""
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"no such file or directory: {error.filename}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines) or type(error).__name__
