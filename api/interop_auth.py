"""Who may call the InterUSS flight-planning interface (``/flight_planning/v1``), and with which
scopes. The only module importing PyJWT.

Two kinds of caller:

- **our own principals** (``UTM_PRINCIPALS`` bearer tokens): an operator has the scope
  ``interuss.flight_planning.plan`` (files and closes its own area-based plans); an admin has
  it and ``interuss.flight_planning.direct_automated_test`` (status, clearing an area);
  regulators have neither.
- **the InterUSS test driver** (uss_qualifier), only when switched on: RS256 JSON Web Tokens
  signed with the configured public key (``UTM_INTERUSS_PUBLIC_KEY``; for tests, InterUSS's
  published test key), whose ``aud`` is this server's host name (``UTM_INTERUSS_AUDIENCE``),
  with ``exp``, ``sub`` and a space-separated ``scope``. The token's ``sub`` becomes the
  operator id of the plans it files. Off by default: the test key is public, so trusting it
  is a choice made for a test run, never a default.

Failures are problem responses: 401 without a token or with one that does not verify (with
``WWW-Authenticate: Bearer``), 403 without a scope the endpoint accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from api.auth import Principal, PrincipalRegistry, Role
from api.problems import ApiProblem

CLOCK_SKEW_S = 30
"""Leeway for ``exp`` and ``nbf``: the driver's clock may be a little ahead or behind."""


class Scope(StrEnum):
    """The interface's OAuth scopes (flight_planning.yaml, ``securitySchemes``)."""

    PLAN = "interuss.flight_planning.plan"
    """A virtual user plans, changes and closes flights."""
    DIRECT_AUTOMATED_TEST = "interuss.flight_planning.direct_automated_test"
    """The test director: readiness, clearing an area."""


@dataclass(frozen=True, slots=True)
class InteropCaller:
    """A caller of the interface: the operator its plans are filed for, and its scopes."""

    operator_id: str
    scopes: frozenset[Scope]
    actor: str
    """How the audit log names it."""


class TokenVerifier:
    """Verifies RS256 access tokens of the InterUSS test driver."""

    def __init__(self, public_key_pem: str, audiences: Sequence[str]) -> None:
        if not audiences:
            raise ValueError("at least one audience (this server's host name) is needed")
        algorithm = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
        try:
            key = algorithm.prepare_key(public_key_pem)
        except (ValueError, TypeError, jwt.exceptions.InvalidKeyError) as error:
            raise ValueError(f"not an RSA public key in PEM form: {error}") from None
        if not isinstance(key, RSAPublicKey):
            raise ValueError("expected an RSA public key, not a private one")
        self._key: RSAPublicKey = key
        self.audiences = tuple(audiences)

    @classmethod
    def from_file(cls, path: Path, audiences: Sequence[str]) -> TokenVerifier:
        """Read the PEM public key.

        Raises
        ------
        ValueError
            If the file is missing or holds no RSA public key.
        """
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read the InterUSS public key {path}: {error}") from None
        return cls(text, audiences)

    def verify(self, token: str) -> InteropCaller:
        """The caller a token names; 401 if it does not verify.

        Checked: the RS256 signature, ``exp`` (required), ``nbf`` if present, ``aud`` (one of
        ours), ``sub`` (required, non-empty) and ``scope`` (a string).
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=["RS256"], audience=list(self.audiences),
                leeway=CLOCK_SKEW_S, options={"require": ["exp", "sub", "aud"]})
        except jwt.exceptions.InvalidAudienceError:
            raise unauthenticated("the access token is for another audience (aud must be "
                                  f"{' or '.join(self.audiences)})") from None
        except jwt.exceptions.ExpiredSignatureError:
            raise unauthenticated("the access token has expired") from None
        except jwt.exceptions.PyJWTError:
            raise unauthenticated("the access token could not be verified") from None
        subject, scope = claims.get("sub"), claims.get("scope", "")
        if not isinstance(subject, str) or not subject or not isinstance(scope, str):
            raise unauthenticated("the access token needs a 'sub' and a 'scope' string")
        scopes = frozenset(Scope(name) for name in scope.split() if name in _SCOPE_NAMES)
        return InteropCaller(subject, scopes, f"interuss:{subject}")


_SCOPE_NAMES = frozenset(scope.value for scope in Scope)


def unauthenticated(detail: str) -> ApiProblem:
    """401 with the bearer challenge."""
    return ApiProblem(401, "unauthenticated", detail,
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts: a JSON Web Token, not one of our opaque tokens."""
    return token.count(".") == 2


def caller_of(token: str | None, verifier: TokenVerifier | None,
              principals: PrincipalRegistry) -> InteropCaller:
    """The caller holding ``token``: a verified InterUSS token if they are switched on and it
    is one, else one of our principals. 401 otherwise."""
    if not token:
        raise ApiProblem(401, "unauthenticated", "send 'Authorization: Bearer <token>'",
                         headers={"WWW-Authenticate": "Bearer"})
    if verifier is not None and looks_like_jwt(token):
        return verifier.verify(token)
    principal = principals.authenticate(token)
    if principal is None:
        raise unauthenticated("the bearer token is not valid")
    return _principal_caller(principal)


def _principal_caller(principal: Principal) -> InteropCaller:
    if principal.role is Role.ADMIN:
        scopes = frozenset(Scope)
    elif principal.role is Role.OPERATOR:
        scopes = frozenset({Scope.PLAN})
    else:
        scopes = frozenset()
    return InteropCaller(principal.operator_id or principal.name, scopes, principal.actor)


def require_scope(caller: InteropCaller, *accepted: Scope) -> InteropCaller:
    """The caller if it holds one of ``accepted``; 403 otherwise."""
    if not caller.scopes.intersection(accepted):
        raise ApiProblem(403, "forbidden", "the access token lacks the scope "
                         + " or ".join(scope.value for scope in accepted))
    return caller
