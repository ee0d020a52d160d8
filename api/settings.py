"""The service's configuration, read from the environment once, at start-up.

- ``UTM_DATABASE_URL``: ``sqlite:///FILE``, ``sqlite:///:memory:`` or ``postgresql://...``;
  default ``sqlite:///var/utm.sqlite`` (relative to the working directory);
- ``UTM_AIRSPACE``: a dataset folder (``manifest.json`` and its files); default the bundled
  ``sichuan4``;
- ``UTM_PRINCIPALS``: a JSON file listing the principals and their tokens (see ``api.auth``);
  default none: every call that needs a token answers 401;
- ``UTM_MAX_BODY_BYTES``: the largest request body accepted (413 above it); default 1 MiB;
- ``UTM_INTERUSS_PUBLIC_KEY``: a PEM RSA public key; when set, the InterUSS flight-planning
  interface (``/flight_planning/v1``) also accepts RS256 access tokens signed with it (the
  InterUSS test driver's). Default none: off (see ``api.interop_auth``);
- ``UTM_INTERUSS_AUDIENCE``: the host names those tokens must be issued for (``aud``), comma
  separated; default ``localhost``;
- ``UTM_RATE_LIMIT``: ``"requests per second, burst"`` per caller (``"20,40"``), 429 above
  it (see ``api.rate_limits``); default ``off``;
- ``UTM_HOUSEKEEPING_INTERVAL_S``: seconds between two rounds of housekeeping (expiring plans
  whose time passed unused, flagging overdue active flights: ``api.housekeeping``); default 60;
  ``off`` for none.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from api.rate_limits import RateLimit

DEFAULT_DATABASE_URL = "sqlite:///var/utm.sqlite"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_HOUSEKEEPING_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the service keeps its data and finds its airspace and principals."""

    database_url: str = DEFAULT_DATABASE_URL
    airspace_folder: Path | None = None
    """None: the bundled ``sichuan4`` dataset."""
    principals_file: Path | None = None
    """None: no principals (only the public endpoints answer)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    interuss_public_key_file: Path | None = None
    """None: the InterUSS interface takes our own principals' tokens only."""
    interuss_audiences: tuple[str, ...] = ("localhost",)
    rate_limit: RateLimit | None = None
    """None: no rate limit (the default)."""
    housekeeping_interval_s: float | None = DEFAULT_HOUSEKEEPING_INTERVAL_S
    """Seconds between rounds of housekeeping (``api.housekeeping``); None: none."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``UTM_*`` variables (see the module docstring); unset or empty means default.

        Raises
        ------
        ValueError
            If ``UTM_MAX_BODY_BYTES`` is not a positive integer, ``UTM_RATE_LIMIT`` is
            not ``"requests per second, burst"`` or ``off``, or
            ``UTM_HOUSEKEEPING_INTERVAL_S`` is not a positive number or ``off``.
        """
        env = os.environ if environ is None else environ
        airspace = env.get("UTM_AIRSPACE") or None
        principals = env.get("UTM_PRINCIPALS") or None
        interuss_key = env.get("UTM_INTERUSS_PUBLIC_KEY") or None
        max_body = env.get("UTM_MAX_BODY_BYTES") or str(DEFAULT_MAX_BODY_BYTES)
        if not max_body.isdigit() or int(max_body) <= 0:
            raise ValueError(f"UTM_MAX_BODY_BYTES must be a positive integer, got {max_body!r}")
        return cls(
            database_url=env.get("UTM_DATABASE_URL") or DEFAULT_DATABASE_URL,
            airspace_folder=Path(airspace) if airspace else None,
            principals_file=Path(principals) if principals else None,
            max_body_bytes=int(max_body),
            interuss_public_key_file=Path(interuss_key) if interuss_key else None,
            interuss_audiences=tuple(
                name.strip() for name in (env.get("UTM_INTERUSS_AUDIENCE") or "localhost")
                .split(",") if name.strip()),
            rate_limit=RateLimit.parse(env.get("UTM_RATE_LIMIT")),
            housekeeping_interval_s=_interval_s(env.get("UTM_HOUSEKEEPING_INTERVAL_S")),
        )


def _interval_s(text: str | None) -> float | None:
    """``UTM_HOUSEKEEPING_INTERVAL_S``: positive seconds, ``off`` (None), or unset."""
    if not text:
        return DEFAULT_HOUSEKEEPING_INTERVAL_S
    if text.strip().lower() == "off":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"UTM_HOUSEKEEPING_INTERVAL_S must be a positive number of seconds "
                         f"or 'off', got {text!r}")
    return seconds
