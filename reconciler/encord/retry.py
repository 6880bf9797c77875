"""Retry policy: exponential backoff with full jitter, honouring an integer `Retry-After`.

The SDK (encord-api.md §9.2) uses urllib3's `Retry`: status retries on 413/429/500/502/503 for
GET/POST/PUT, plain exponential backoff. We differ on purpose:

* full jitter: delay for retry n (1-based) is uniform in [0, min(cap, backoff_factor * 2**(n-1))];
* an integer `Retry-After` (seconds) on 429/503/413 replaces the computed delay (bounded by
  `max_retry_after`);
* 413 is retried only when the server sent `Retry-After` (otherwise the payload is simply too large);
* which *operations* may be retried is decided by the caller (see `_http.Retry`), not by the method.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Sleep = Callable[[float], Awaitable[None]]

RETRY_STATUSES = frozenset({429, 500, 502, 503})
RETRY_AFTER_STATUSES = frozenset({413, 429, 503})


def parse_retry_after(value: str | None) -> int | None:
    """Only the delay-in-seconds form, like the SDK; an HTTP date or garbage means no hint."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


@dataclass
class RetryPolicy:
    max_retries: int = 3
    backoff_factor: float = 1.5
    cap_seconds: float = 30.0
    max_retry_after: float = 300.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def status_is_retryable(self, status: int, retry_after: int | None) -> bool:
        return status in RETRY_STATUSES or (status == 413 and retry_after is not None)

    def delay(self, retry_number: int, retry_after: int | None = None) -> float:
        """Seconds to wait before retry `retry_number` (1 = first retry)."""
        if retry_after is not None:
            return float(min(retry_after, self.max_retry_after))
        ceiling = min(self.cap_seconds, self.backoff_factor * (2 ** (retry_number - 1)))
        return self.rng.uniform(0.0, ceiling)
