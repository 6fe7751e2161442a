"""The Python SDK of memsvc: `MemoryClient` (blocking) and `AsyncMemoryClient` (asyncio).
See docs/sdk.md."""

from memsvc.client.client import ROUTES, AsyncMemoryClient, MemoryClient
from memsvc.client.errors import (
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    MemsvcError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnavailableError,
    ValidationError,
)
from memsvc.client.retry import RetryPolicy
from memsvc.client.routes.lifecycle import JobTimeout

__all__ = [
    "ROUTES",
    "APIConnectionError",
    "AsyncMemoryClient",
    "AuthenticationError",
    "ConflictError",
    "JobTimeout",
    "MemoryClient",
    "MemsvcError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "UnavailableError",
    "ValidationError",
]
