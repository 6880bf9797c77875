"""Defaults that more than one module needs, each in one place."""

# Requests in flight at once against Encord (the backend's `concurrency` overrides it).
DEFAULT_CONCURRENCY = 8
