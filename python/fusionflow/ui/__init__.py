"""The web UI (Streamlit). It talks to the REST API over HTTP only (``client``), so every
rule (authentication, roles, allowed inputs) is enforced in one place: the API."""
