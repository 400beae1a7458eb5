"""FusionFlow's exceptions.

They are defined by the native core (so Rust errors map onto them directly) under this
module's name, so that they pickle and unpickle as ``fusionflow.errors.*``.
"""

from fusionflow._core import Cancelled, FusionFlowError, InvalidParameter

__all__ = ["Cancelled", "FusionFlowError", "InvalidParameter"]
