"""The UI's tests run against the real API (both databases), as the API's tests do."""

from tests.api.conftest import admin, alice, allowed, api_settings, client, staff  # noqa: F401
