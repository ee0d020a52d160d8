"""The event stream against a real server: uvicorn on 127.0.0.1 in a background thread,
read with httpx streaming, every wait bounded by a timeout."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from testbed import auth, plan_body

from api.deps import Services

WAIT_S = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base_url(api_app: FastAPI) -> Iterator[str]:
    """The module's app served by uvicorn (the app fixture shuts the app down itself)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api_app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


class Listener:
    """Reads one principal's stream in a thread; keeps the events and comment lines."""

    def __init__(self, base_url: str, who: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.connected = threading.Event()
        self.status: int | None = None
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(WAIT_S, read=None))
        self._thread = threading.Thread(target=self._read, args=(who,), daemon=True)
        self._thread.start()
        assert self.connected.wait(WAIT_S), f"the stream of {who} did not open"

    def _read(self, who: str) -> None:
        kind = None
        try:
            with self._client.stream("GET", "/v1/events", headers=auth(who)) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.append(line)
                        self.connected.set()
                    elif line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        event = json.loads(line.removeprefix("data: "))
                        assert event["kind"] == kind
                        self.events.append(event)
        except httpx.HTTPError:
            pass  # the server or the test closed the connection
        finally:
            self.connected.set()

    def wait_for(self, predicate: Any, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.02)
        raise AssertionError(f"no {what} within {WAIT_S} s; got {self.events}")

    def close(self) -> None:
        self._client.close()


def file(base_url: str, who: str, **changes: Any) -> dict[str, Any]:
    response = httpx.post(f"{base_url}/v1/flight-plans", json=plan_body(**changes),
                          headers=auth(who), timeout=WAIT_S)
    assert response.status_code == 201, response.text
    flight: dict[str, Any] = response.json()
    return flight


def test_a_subscriber_sees_the_decision_on_its_plan(base_url: str, services: Services) -> None:
    listener = Listener(base_url, "operator")
    try:
        flight = file(base_url, "operator")

        event = listener.wait_for(lambda e: e["flight_id"] == flight["id"], "decision event")
    finally:
        listener.close()
    deadline = time.monotonic() + WAIT_S
    while len(services.hub) and time.monotonic() < deadline:  # the server noticed it left
        time.sleep(0.05)
    assert len(services.hub) == 0

    assert event["kind"] == "decision"
    assert event["data"]["state"] == "approved"
    assert event["operator_id"] == "sf-express"
    assert event["jurisdictions"] == ["chengdu"]
    assert event["time"].endswith("Z")


def test_each_principal_sees_only_what_it_may(base_url: str) -> None:
    names = ("operator", "other_operator", "regulator", "other_regulator", "admin")
    listeners = {who: Listener(base_url, who) for who in names}
    try:
        chengdu = file(base_url, "operator", origin={"vertiport": "CD-WCH"},
                       destination={"vertiport": "CD-SCU"},
                       earliest_departure_time="2026-12-01T03:00:00Z",
                       latest_departure_time="2026-12-01T03:20:00Z")
        deyang = file(base_url, "other_operator", origin={"vertiport": "DY-CTR"},
                      destination={"vertiport": "DY-LOG"},
                      earliest_departure_time="2026-12-01T03:00:00Z",
                      latest_departure_time="2026-12-01T03:20:00Z")
        for who in ("operator", "regulator", "admin"):
            listeners[who].wait_for(lambda e: e["flight_id"] == chengdu["id"], f"{who}'s event")
        for who in ("other_operator", "other_regulator", "admin"):
            listeners[who].wait_for(lambda e: e["flight_id"] == deyang["id"], f"{who}'s event")
    finally:
        for listener in listeners.values():
            listener.close()

    def seen(who: str) -> set[str]:
        return {e["flight_id"] for e in listeners[who].events}

    assert chengdu["id"] not in seen("other_operator") | seen("other_regulator")
    assert deyang["id"] not in seen("operator") | seen("regulator")


def test_a_quiet_stream_gets_heartbeats(base_url: str, services: Services) -> None:
    services.heartbeat_s = 0.2
    try:
        listener = Listener(base_url, "regulator")
        deadline = time.monotonic() + WAIT_S
        while ": heartbeat" not in listener.comments and time.monotonic() < deadline:
            time.sleep(0.05)
        listener.close()
    finally:
        services.heartbeat_s = 15.0

    assert ": heartbeat" in listener.comments


def test_the_stream_needs_a_token(base_url: str) -> None:
    response = httpx.get(f"{base_url}/v1/events", timeout=WAIT_S)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
