"""The routers of the REST API, one module per resource."""
