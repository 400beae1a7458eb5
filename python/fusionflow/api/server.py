"""How ``fusionflow serve`` runs the API, and how it stops.

SIGTERM (an orchestrator's stop, a rolling restart) first drains: ``/readyz`` answers
503 and event streams end (their clients reconnect, to another replica behind a load
balancer), while requests are still served for ``FUSIONFLOW_SHUTDOWN_DRAIN`` seconds so
that whatever routes to this process notices. Then uvicorn stops: no new connections,
requests in flight finish within its grace. SIGINT (Ctrl-C), or a second SIGTERM, stops
at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI


class DrainingServer(uvicorn.Server):
    def __init__(self, app: FastAPI, drain_s: float, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.fastapi_app = app
        self.drain_s = drain_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._draining or self.drain_s <= 0:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        begin_shutdown(self.fastapi_app)
        timer = threading.Timer(self.drain_s, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


def begin_shutdown(app: FastAPI) -> None:
    """Not ready any more; event streams end."""
    services = getattr(app.state, "services", None)
    if services is not None:
        services.stopping.set()


def run(app: FastAPI, drain_s: float, **config: Any) -> None:
    """Serve ``app`` (``config``: uvicorn's) until told to stop; see the module's text."""
    DrainingServer(app, drain_s, uvicorn.Config(app, **config)).run()
