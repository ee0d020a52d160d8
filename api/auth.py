"""Bearer-token authentication, roles, and what each principal may see.

Principals come from a JSON file (``UTM_PRINCIPALS``): a list of
``{"token", "role": "operator"|"regulator"|"admin", "operator_id"?, "jurisdictions"?, "name"?}``.
Operators need an ``operator_id``; regulators a non-empty list of ``jurisdictions`` (city ids of
the airspace). Tokens are kept only as SHA-256 digests and compared with
``hmac.compare_digest`` against every known digest (no early exit), and they never appear in a
log line, an error message or a ``repr``.

Roles:

- ``operator``: files flight plans and sees and acts on its own plans only (another
  operator's plan answers 404: its existence is not revealed);
- ``regulator``: sees the plans that cross its cities, reviews its cities' part, cancels plans
  in its cities, issues constraints inside its cities, reads its cities' alerts;
- ``admin``: everything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import ServicesDep
from api.problems import ApiProblem
from utm.events import Event
from utm.flights import Flight


class Role(StrEnum):
    """What a principal is allowed to do."""

    OPERATOR = "operator"
    """Files flight plans; sees and acts on its own."""
    REGULATOR = "regulator"
    """Oversees the flights crossing its cities: reviews, constraints, alerts."""
    ADMIN = "admin"
    """Everything, everywhere."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling (never the token)."""

    name: str
    role: Role
    operator_id: str | None = None
    jurisdictions: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return f"{self.role.value}:{self.name}"

    def may_see_flight(self, flight: Flight) -> bool:
        """Own plans for operators, plans crossing their cities for regulators, all for admin."""
        if self.role is Role.ADMIN:
            return True
        if self.role is Role.OPERATOR:
            return flight.operator_id == self.operator_id
        return bool(self.jurisdictions.intersection(flight.jurisdictions))

    def may_see_event(self, event: Event) -> bool:
        """The same rule for events; constraints are public airspace, everyone sees them."""
        if self.role is Role.ADMIN or event.kind == "constraint":
            return True
        if self.role is Role.OPERATOR:
            return event.operator_id is not None and event.operator_id == self.operator_id
        return bool(self.jurisdictions.intersection(event.jurisdictions))


def token_digest(token: str) -> bytes:
    """SHA-256 of a token: what the registry keeps and compares."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class PrincipalRegistry:
    """The known principals, by token digest."""

    def __init__(self, entries: Iterable[tuple[bytes, Principal]] = ()) -> None:
        self._entries = list(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"PrincipalRegistry({len(self._entries)} principals)"

    def authenticate(self, token: str) -> Principal | None:
        """The principal holding ``token``, or None. Constant time in the token's content."""
        digest = token_digest(token)
        found: Principal | None = None
        for known, principal in self._entries:
            # Every digest is compared, so the time taken does not tell which one matched.
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    @classmethod
    def from_documents(cls, documents: Any, known_jurisdictions: Sequence[str],
                       source: str = "principals") -> PrincipalRegistry:
        """Build from the decoded JSON list.

        Raises
        ------
        ValueError
            Naming the entry (by position and name, never by token) and the problem.
        """
        if not isinstance(documents, list):
            raise ValueError(f"{source}: expected a JSON list of principals")
        entries: list[tuple[bytes, Principal]] = []
        digests: set[bytes] = set()
        known = set(known_jurisdictions)
        for index, document in enumerate(documents):
            where = f"{source}: entry #{index}"
            if not isinstance(document, dict):
                raise ValueError(f"{where}: expected an object")
            unknown_keys = set(document) - {"token", "role", "operator_id", "jurisdictions",
                                            "name"}
            if unknown_keys:
                raise ValueError(f"{where}: unknown keys {sorted(unknown_keys)}")
            token = document.get("token")
            if not isinstance(token, str) or len(token) < 16:
                raise ValueError(f"{where}: 'token' must be a string of at least 16 characters")
            try:
                role = Role(str(document.get("role")))
            except ValueError:
                raise ValueError(f"{where}: 'role' must be operator, regulator or admin") from None
            operator_id = document.get("operator_id")
            if operator_id is not None and (not isinstance(operator_id, str) or not operator_id):
                raise ValueError(f"{where}: 'operator_id' must be a non-empty string")
            if role is Role.OPERATOR and operator_id is None:
                raise ValueError(f"{where}: an operator needs an 'operator_id'")
            cities = document.get("jurisdictions", [])
            if not isinstance(cities, list) or not all(isinstance(c, str) for c in cities):
                raise ValueError(f"{where}: 'jurisdictions' must be a list of city ids")
            if role is Role.REGULATOR and not cities:
                raise ValueError(f"{where}: a regulator needs 'jurisdictions'")
            strangers = sorted(set(cities) - known)
            if strangers:
                raise ValueError(f"{where}: unknown jurisdictions {strangers} "
                                 f"(the airspace has {sorted(known)})")
            name = document.get("name") or operator_id or (
                f"{role.value}-{'-'.join(cities)}" if cities else f"{role.value}-{index}")
            if not isinstance(name, str):
                raise ValueError(f"{where}: 'name' must be a string")
            digest = token_digest(token)
            if digest in digests:
                raise ValueError(f"{where}: the same token is given twice")
            digests.add(digest)
            entries.append((digest, Principal(name, role, operator_id, frozenset(cities))))
        return cls(entries)

    @classmethod
    def from_file(cls, path: Path, known_jurisdictions: Sequence[str]) -> PrincipalRegistry:
        """Read a principals file (see the module docstring).

        Raises
        ------
        ValueError
            If the file is missing, not JSON, or an entry is malformed.
        """
        try:
            documents = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"principals file {path} not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            # The decoder's message may quote the file's text, tokens included: leave it out.
            raise ValueError(f"principals file {path} is not valid JSON "
                             f"(line {getattr(error, 'lineno', '?')})") from None
        return cls.from_documents(documents, known_jurisdictions, str(path))


# -- dependencies ------------------------------------------------------------------------------

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerToken",
    description="A token from the principals file (`UTM_PRINCIPALS`); `utm demo` prints some.",
)


def _unauthenticated(detail: str, bad_token: bool) -> ApiProblem:
    challenge = 'Bearer error="invalid_token"' if bad_token else "Bearer"
    return ApiProblem(401, "unauthenticated", detail, headers={"WWW-Authenticate": challenge})


def current_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 without a known token."""
    if credentials is None or not credentials.credentials:
        raise _unauthenticated("send 'Authorization: Bearer <token>'", bad_token=False)
    principal = services.principals.authenticate(credentials.credentials)
    if principal is None:
        raise _unauthenticated("the bearer token is not valid", bad_token=True)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
"""Any authenticated principal."""


def _role_guard(*roles: Role) -> Any:
    allowed = ", ".join(role.value for role in roles)

    def guard(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise ApiProblem(403, "forbidden",
                             f"a {principal.role.value} may not do this (needs: {allowed})")
        return principal

    return guard


OperatorOrAdmin = Annotated[Principal, Depends(_role_guard(Role.OPERATOR, Role.ADMIN))]
"""Files and flies plans."""

RegulatorOrAdmin = Annotated[Principal, Depends(_role_guard(Role.REGULATOR, Role.ADMIN))]
"""Reviews, constraints, alerts."""
