"""When to send a request again, and after how long.

Reads (and the POSTs that only read, such as search) are retried on 429, on 503 and when no
response came back. A write is retried only when the server or the network says it was not
done: a 429 (the rate limit refuses before the body is read), a 503 whose `details.outcome`
is not `"unknown"` (the transaction never reached its COMMIT), or a connection that could not
be opened (nothing was sent). A write whose outcome is unknown is never sent twice: it could
store the same memories twice.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

import httpx

RETRIED_STATUSES = frozenset({429, 503})
# Connection failures that leave a read's outcome harmless to repeat.
READ_RETRY_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)
# The request never left this machine: safe to send again even when it writes.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)

Reply = httpx.Response | httpx.TransportError


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`Retry-After` in seconds: a number, or an HTTP date."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def outcome_unknown(response: httpx.Response) -> bool:
    """The 503 the database layer answers when the connection broke during the COMMIT."""
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(details, dict) and details.get("outcome") == "unknown"


def may_retry(reply: Reply, idempotent: bool) -> bool:
    if isinstance(reply, httpx.Response):
        if reply.status_code not in RETRIED_STATUSES:
            return False
        return idempotent or reply.status_code == 429 or not outcome_unknown(reply)
    return isinstance(reply, READ_RETRY_ERRORS if idempotent else NOT_SENT_ERRORS)


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, `Retry-After` honoured.

    Without a hint the n-th retry waits between half and all of `backoff_base * 2**n`
    (capped at `backoff_max`): the random half keeps many clients from retrying in step.
    With `Retry-After` it waits that long plus up to `backoff_base` of jitter; a hint longer
    than `max_retry_after` is not waited for (the error is raised instead)."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def delay(self, reply: Reply, *, idempotent: bool, attempt: int) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None: do not retry."""
        if attempt >= self.max_retries or not may_retry(reply, idempotent):
            return None
        hint = retry_after_seconds(reply.headers) if isinstance(reply, httpx.Response) else None
        if hint is None:
            return self.backoff(attempt)
        if hint > self.max_retry_after:
            return None
        return hint + self.rng.uniform(0, self.backoff_base)
