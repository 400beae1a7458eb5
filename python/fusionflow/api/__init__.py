"""The REST API (FastAPI): ``create_app()``; ``fusionflow serve`` runs it on uvicorn."""

from fusionflow.api.app import create_app
from fusionflow.api.services import API_PREFIX

__all__ = ["API_PREFIX", "create_app"]
