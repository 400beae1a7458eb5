"""The web UI (Streamlit). It talks to the REST API over HTTP only (``client``), so every
rule (authentication, roles, allowed inputs) is enforced in one place: the API.

The UI's own settings are two environment variables, read where they are used (the UI
holds no server settings, so it imports no ``fusionflow.config``)."""

# The API the UI talks to, from where it runs.
API_URL_ENV = "FUSIONFLOW_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8000"
# The API as the browser reaches it, for download links; by default ``API_URL_ENV``'s.
PUBLIC_API_URL_ENV = "FUSIONFLOW_PUBLIC_API_URL"
ENVIRONMENT = (API_URL_ENV, PUBLIC_API_URL_ENV)
