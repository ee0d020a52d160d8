"""The service's configuration, read from the environment once, at start-up.

- ``UTM_DATABASE_URL``: ``sqlite:///FILE``, ``sqlite:///:memory:`` or ``postgresql://...``;
  default ``sqlite:///var/utm.sqlite`` (relative to the working directory);
- ``UTM_AIRSPACE``: a dataset folder (``manifest.json`` and its files); default the bundled
  ``sichuan4``;
- ``UTM_PRINCIPALS``: a JSON file listing the principals and their tokens (see ``api.auth``);
  default none: every call that needs a token answers 401;
- ``UTM_MAX_BODY_BYTES``: the largest request body accepted (413 above it); default 1 MiB.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///var/utm.sqlite"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the service keeps its data and finds its airspace and principals."""

    database_url: str = DEFAULT_DATABASE_URL
    airspace_folder: Path | None = None
    """None: the bundled ``sichuan4`` dataset."""
    principals_file: Path | None = None
    """None: no principals (only the public endpoints answer)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``UTM_*`` variables (see the module docstring); unset or empty means default.

        Raises
        ------
        ValueError
            If ``UTM_MAX_BODY_BYTES`` is not a positive integer.
        """
        env = os.environ if environ is None else environ
        airspace = env.get("UTM_AIRSPACE") or None
        principals = env.get("UTM_PRINCIPALS") or None
        max_body = env.get("UTM_MAX_BODY_BYTES") or str(DEFAULT_MAX_BODY_BYTES)
        if not max_body.isdigit() or int(max_body) <= 0:
            raise ValueError(f"UTM_MAX_BODY_BYTES must be a positive integer, got {max_body!r}")
        return cls(
            database_url=env.get("UTM_DATABASE_URL") or DEFAULT_DATABASE_URL,
            airspace_folder=Path(airspace) if airspace else None,
            principals_file=Path(principals) if principals else None,
            max_body_bytes=int(max_body),
        )
