"""Per-caller rate limits: a token bucket per principal, as plain ASGI middleware (429 above it).

Each caller has a bucket holding up to ``burst`` requests, refilled at ``requests_per_s``; a
request takes one, and a request finding the bucket empty is refused with 429
``rate_limited``, a ``Retry-After`` header (whole seconds until the bucket holds a request
again) and a problem+json body, before its body is read or anything is decided (nothing of it
is stored).

Who the caller is:

- a request with a known bearer token: its principal (all of a principal's connections and
  addresses share one bucket);
- anything else (no token, or a token the service does not know): the client's address, so
  that sending made-up tokens does not buy fresh buckets. Behind a reverse proxy that address
  is the proxy's unless the server is told to trust its forwarding headers (uvicorn
  ``--proxy-headers --forwarded-allow-ips``).

``GET /v1/health`` and ``GET /v1/ready`` are never limited (load balancers poll them from
one address).

Configuration: ``UTM_RATE_LIMIT="requests per second, burst"`` (``"20,40"``; a single number
``"20"`` means a burst of the same size). Unset, empty or ``off``: no limit, the default, so
that tests, benchmarks and the demo (thousands of requests as a handful of principals) run
unthrottled. Buckets are kept for at most ``MAX_TRACKED_CALLERS`` callers; beyond that the
one seen least recently is forgotten (its bucket would have refilled the longest).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param

from api.auth import PrincipalRegistry
from api.limits import ASGIApp, Receive, Scope, Send
from api.problems import ApiProblem, problem_response, responses

MAX_TRACKED_CALLERS = 100_000
"""Buckets kept at once (about 100 bytes each): a flood of addresses cannot exhaust memory."""

UNLIMITED_PATHS = frozenset({"/v1/health", "/v1/ready"})
"""Paths never limited."""

ENVIRONMENT_VARIABLE = "UTM_RATE_LIMIT"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How fast one caller may send requests: ``requests_per_s`` sustained, ``burst`` at once."""

    requests_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.requests_per_s) and self.requests_per_s > 0):
            raise ValueError(f"requests per second must be a positive number, got "
                             f"{self.requests_per_s!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"the burst must be a positive integer, got {self.burst!r}")

    @classmethod
    def parse(cls, text: str | None) -> RateLimit | None:
        """``"20,40"`` -> 20 requests per second, bursts of 40; ``"20"`` -> bursts of 20;
        None, ``""`` or ``"off"`` -> no limit.

        Raises
        ------
        ValueError
            Naming ``UTM_RATE_LIMIT`` and the expected form.
        """
        if text is None or text.strip().lower() in ("", "off"):
            return None
        parts = [part.strip() for part in text.split(",")]
        try:
            if len(parts) > 2:
                raise ValueError("too many values")
            requests_per_s = float(parts[0])
            burst = int(parts[1]) if len(parts) == 2 else math.ceil(requests_per_s)
            return cls(requests_per_s, burst)
        except ValueError as error:
            raise ValueError(f"{ENVIRONMENT_VARIABLE} must be 'requests per second, burst' "
                             f"such as '20,40' (or 'off'), got {text!r}: {error}") from None

    def describe(self) -> str:
        """``20 requests per second (bursts of 40)``."""
        return f"{self.requests_per_s:g} requests per second (bursts of {self.burst})"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """Token buckets by caller key. Thread-safe; O(1) per request.

    Parameters
    ----------
    limit
        The rate and burst every caller gets.
    clock
        Monotonic seconds (tests pass a fake one).
    max_callers
        Buckets kept at once (least recently seen forgotten first).
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic,
                 max_callers: int = MAX_TRACKED_CALLERS) -> None:
        self.limit = limit
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str) -> float:
        """Take one request from ``key``'s bucket.

        Returns
        -------
        float
            0.0 if the request may go ahead; otherwise the seconds until the bucket holds a
            request again (nothing was taken).
        """
        now_s = self._clock()
        with self._lock:
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                bucket = _Bucket(float(self.limit.burst), now_s)
            else:
                elapsed_s = max(0.0, now_s - bucket.updated_s)
                bucket.tokens = min(float(self.limit.burst),
                                    bucket.tokens + elapsed_s * self.limit.requests_per_s)
                bucket.updated_s = now_s
            self._buckets[key] = bucket  # the most recently seen, last
            while len(self._buckets) > self._max_callers:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.limit.requests_per_s


class RateLimitMiddleware:
    """Refuse requests beyond the caller's rate limit with 429 ``rate_limited``.

    Outermost in the app: a refused request costs a token check and a dictionary look-up, and
    its body is never read.
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter, principals: PrincipalRegistry) -> None:
        self.app = app
        self.limiter = limiter
        self.principals = principals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        key, who = self._caller(scope)
        wait_s = self.limiter.acquire(key)
        if wait_s <= 0.0:
            await self.app(scope, receive, send)
            return
        retry_after_s = max(1, math.ceil(wait_s))
        problem = ApiProblem(
            429, "rate_limited",
            f"more than {self.limiter.limit.describe()} from {who}; retry after "
            f"{retry_after_s} s", headers={"Retry-After": str(retry_after_s)})
        await problem_response(problem)(scope, receive, send)

    def _caller(self, scope: Scope) -> tuple[str, str]:
        """``(bucket key, how the 429 names the caller)``: the principal of a known token,
        else the client's address."""
        token = _bearer_token(scope)
        principal = self.principals.authenticate(token) if token else None
        if principal is not None:
            return f"principal:{principal.actor}", f"principal {principal.actor!r}"
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        return f"address:{address}", "this address (without a valid token)"


def _bearer_token(scope: Scope) -> str | None:
    """The bearer token of the request, read as ``api.auth`` reads it (never logged)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, credentials = get_authorization_scheme_param(value.decode("latin-1"))
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None


def document_429(document: dict[str, Any]) -> None:
    """Add the 429 response to every operation of an OpenAPI document (when limits are on)."""
    entry = responses(429)[429]
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("429", entry)
