"""Defaults that more than one module needs, each in one place."""

# Requests in flight at once against Encord (the backend's `concurrency` overrides it). A plan's reads are
# latency-bound: 16 keeps a 25 ms round trip from dominating, and 429/503 with Retry-After still back off.
DEFAULT_CONCURRENCY = 16
