"""Bearer tokens: compared in constant time, and never written anywhere: not in a log line
(ours or the server's, down to uvicorn's ASGI trace), not in an error, not in a ``repr``.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_events import free_port
from testbed import PRINCIPALS, TOKENS, auth, plan_body

from api.auth import PrincipalRegistry
from api.deps import Services

TRACE = 5
"""uvicorn's level below DEBUG: it logs every ASGI message."""

SECRET = "not-a-token-anyone-has-but-secret-7f3a"
"""An unknown token: must not be logged either."""


def every_token() -> list[str]:
    return [*TOKENS.values(), SECRET]


def leaked(records: list[logging.LogRecord]) -> list[str]:
    """Log lines (with their tracebacks) that hold a token or a token's tail."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in records]
    return [line for line in lines for token in every_token() if token[-12:] in line]


# -- constant time ------------------------------------------------------------------------


def test_a_token_is_compared_with_every_known_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = PrincipalRegistry.from_documents(PRINCIPALS, ["chengdu", "deyang"])
    calls: list[tuple[int, int]] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return compare(a, b)

    monkeypatch.setattr("api.auth.hmac.compare_digest", counting)
    counts = []
    for token in (TOKENS["operator"], TOKENS["admin"], SECRET, "x" * 5000):
        calls.clear()
        registry.authenticate(token)
        counts.append(len(calls))
        # Digests of a fixed length are compared, whatever the token's length.
        assert set(calls) == {(32, 32)}

    # The first principal, the last, and no principal: the same work (no early exit).
    assert counts == [len(PRINCIPALS)] * 4


def test_the_registry_and_principals_do_not_show_tokens() -> None:
    registry = PrincipalRegistry.from_documents(PRINCIPALS, ["chengdu", "deyang"])
    principal = registry.authenticate(TOKENS["admin"])

    shown = repr(registry) + repr(principal) + str(principal)
    assert not any(token in shown for token in TOKENS.values())


def test_a_malformed_principals_file_does_not_quote_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "principals.json"
    path.write_text(f'[{{"token": "{SECRET}", "role": "pilot"}}, {{"token": "{SECRET}"')

    for text in (path.read_text(), path.read_text() + "}]"):
        path.write_text(text)
        with pytest.raises(ValueError) as caught:
            PrincipalRegistry.from_file(path, ["chengdu"])
        assert SECRET not in str(caught.value)


# -- logs of the app ----------------------------------------------------------------------


def test_no_log_line_of_the_app_holds_a_token(api_app: FastAPI, services: Services,
                                              caplog: pytest.LogCaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(TRACE)
    client = TestClient(api_app, raise_server_exceptions=False)
    headers_list = [auth("operator"), auth("regulator"), auth("admin"),
                    {"Authorization": f"Bearer {SECRET}"},
                    {"Authorization": f"bearer  {SECRET}"}, {"Authorization": SECRET}]
    for headers in headers_list:
        client.get("/v1/flight-plans", headers=headers)
        client.post("/v1/flight-plans", json=plan_body(purpose=0), headers=headers)
        client.post("/v1/flight-plans", content=b"{", headers=headers)
        client.get("/v1/nowhere", headers=headers)

    def broken() -> None:
        raise RuntimeError("the zones view broke")

    # An unexpected error is logged with its traceback: still no token in it.
    monkeypatch.setattr(services.views, "zones", broken)
    response = client.get("/v1/zones", headers=auth("admin"))

    assert response.status_code == 500
    assert any(record.exc_info for record in caplog.records)
    assert leaked(caplog.records) == []
    # The check itself finds a token where there is one.
    assert leaked([logging.makeLogRecord({"msg": f"Bearer {TOKENS['admin']}"})])


# -- logs of the server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def traced_server(api_app: FastAPI) -> Iterator[str]:
    """The app under uvicorn at its most verbose (access log, ASGI trace), logging through
    the root logger so that ``caplog`` sees every record."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api_app, host="127.0.0.1", port=port,
                                           log_config=None, log_level=TRACE, access_log=True,
                                           lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="uvicorn-trace", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15.0
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15.0)


SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "api")


@pytest.fixture
def server_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``caplog``, attached to uvicorn's loggers themselves: another test's server may have
    configured them not to propagate (uvicorn's default logging configuration does)."""
    caplog.set_level(TRACE)
    saved = []
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled))
        logger.setLevel(TRACE)
        logger.disabled = False
        logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        for logger, level, disabled in saved:
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)
            logger.disabled = disabled


def test_no_server_log_line_holds_a_token(traced_server: str,
                                          server_logs: pytest.LogCaptureFixture) -> None:
    with httpx.Client(base_url=traced_server, timeout=15.0) as http:
        for token in every_token():
            http.get("/v1/vertiports", headers={"Authorization": f"Bearer {token}"})
            http.post("/v1/routes/plan", json={"origin": token},
                      headers={"Authorization": f"Bearer {token}"})
        http.get("/v1/approvals/public-key", headers=auth("operator"))

    records = list({id(record): record for record in server_logs.records}.values())
    names = {record.name for record in records}
    assert {"uvicorn.access", "uvicorn.asgi"} <= names  # the logs looked at are really there
    assert leaked(records) == []
