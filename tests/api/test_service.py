"""The service around the endpoints: settings, the principals file, pages, a database that is
down, the OpenAPI document."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from testbed import NOW0, PRINCIPALS, TOKENS, SteppedClock, auth

from airspace import Airspace
from api.app import create_app, shutdown
from api.auth import PrincipalRegistry, Role
from api.deps import Services
from api.settings import DEFAULT_DATABASE_URL, Settings
from routes import Planner
from utm.errors import StoreUnavailableError

CITIES = ["chengdu", "deyang", "meishan", "ziyang"]

# -- settings ---------------------------------------------------------------------------------


def test_settings_default_to_a_sqlite_file_and_the_bundled_airspace() -> None:
    settings = Settings.from_environment({})

    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///var/utm.sqlite"
    assert settings.airspace_folder is None
    assert settings.principals_file is None
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.housekeeping_interval_s == 60.0


def test_housekeeping_runs_at_the_interval_asked_or_not_at_all() -> None:
    def interval(text: str) -> float | None:
        return Settings.from_environment(
            {"UTM_HOUSEKEEPING_INTERVAL_S": text}).housekeeping_interval_s

    assert interval("2.5") == 2.5
    assert interval("off") is None


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan", "inf"])
def test_a_bad_housekeeping_interval_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="UTM_HOUSEKEEPING_INTERVAL_S"):
        Settings.from_environment({"UTM_HOUSEKEEPING_INTERVAL_S": value})


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_environment({
        "UTM_DATABASE_URL": "sqlite:///:memory:", "UTM_AIRSPACE": "/data/region",
        "UTM_PRINCIPALS": "/etc/utm/principals.json", "UTM_MAX_BODY_BYTES": "2048"})

    assert settings == Settings("sqlite:///:memory:", Path("/data/region"),
                                Path("/etc/utm/principals.json"), 2048)


@pytest.mark.parametrize("value", ["0", "-1", "1MB", "1.5"])
def test_a_bad_body_limit_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="UTM_MAX_BODY_BYTES"):
        Settings.from_environment({"UTM_MAX_BODY_BYTES": value})


# -- principals ---------------------------------------------------------------------------------


def test_a_principals_file_is_read_and_tokens_authenticate(tmp_path: Path) -> None:
    path = tmp_path / "principals.json"
    path.write_text(json.dumps(PRINCIPALS))

    registry = PrincipalRegistry.from_file(path, CITIES)

    regulator = registry.authenticate(TOKENS["regulator"])
    assert regulator is not None and regulator.role is Role.REGULATOR
    assert regulator.jurisdictions == {"chengdu"}
    assert regulator.actor == "regulator:chengdu-caac"
    assert registry.authenticate("nobody-has-this-token") is None
    assert TOKENS["admin"] not in repr(registry) + repr(registry.authenticate(TOKENS["admin"]))


SECRET = "a-secret-token-never-to-be-printed"


@pytest.mark.parametrize(("entry", "problem"), [
    ({"token": SECRET, "role": "pilot"}, "'role'"),
    ({"token": "short", "role": "admin"}, "at least 16"),
    ({"token": SECRET, "role": "operator"}, "operator_id"),
    ({"token": SECRET, "role": "regulator"}, "jurisdictions"),
    ({"token": SECRET, "role": "regulator", "jurisdictions": ["chongqing"]}, "chongqing"),
    ({"token": SECRET, "role": "admin", "password": "x"}, "unknown keys"),
])
def test_a_bad_principal_is_refused_without_showing_its_token(entry: dict[str, Any],
                                                              problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        PrincipalRegistry.from_documents([entry], CITIES)

    assert SECRET not in str(caught.value)


def test_a_token_given_twice_is_refused() -> None:
    entry = {"token": SECRET, "role": "admin"}

    with pytest.raises(ValueError, match="twice"):
        PrincipalRegistry.from_documents([entry, entry], CITIES)


def test_a_principals_file_that_is_not_json_is_refused_without_its_content(
    tmp_path: Path,
) -> None:
    path = tmp_path / "principals.json"
    path.write_text(f'[{{"token": "{SECRET}", "role": admin}}]')

    with pytest.raises(ValueError, match="not valid JSON") as caught:
        PrincipalRegistry.from_file(path, CITIES)

    assert SECRET not in str(caught.value)


def test_the_app_reads_principals_from_its_settings(tmp_path: Path, airspace_model: Airspace,
                                                    planner: Planner) -> None:
    path = tmp_path / "principals.json"
    path.write_text(json.dumps(PRINCIPALS))
    settings = Settings(database_url=f"sqlite:///{tmp_path}/sub/utm.sqlite",
                        principals_file=path, max_body_bytes=100)
    app = create_app(settings, airspace=airspace_model, planner=planner,
                     clock=SteppedClock(NOW0))
    try:
        client = TestClient(app)
        assert client.get("/v1/flight-plans", headers=auth("operator")).status_code == 200
        too_big = client.post("/v1/routes/plan", json={"padding": "x" * 200},
                              headers=auth("operator"))
        assert too_big.status_code == 413
        assert (tmp_path / "sub" / "utm.sqlite").exists()
    finally:
        shutdown(app)


def test_an_app_without_principals_warns_and_refuses_tokens(
    airspace_model: Airspace, planner: Planner, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="api"):
        app = create_app(Settings(database_url="sqlite:///:memory:"), airspace=airspace_model,
                         planner=planner)
    try:
        response = TestClient(app).get("/v1/zones", headers=auth("admin"))
    finally:
        shutdown(app)

    assert response.status_code == 401
    assert "no principals" in caplog.text


# -- pages, health, OpenAPI ------------------------------------------------------------------------


def test_the_home_page_redirects_to_the_map(client: TestClient) -> None:
    home = client.get("/", follow_redirects=False)
    page = client.get("/map")
    leaflet = client.get("/static/leaflet/leaflet.js")

    assert home.status_code == 307 and home.headers["location"] == "/map"
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/leaflet/leaflet.js" in page.text
    assert leaflet.status_code == 200


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/v1/health").json() == {"status": "ok", "version": "1.0.0"}


def test_ready_when_the_database_answers(client: TestClient) -> None:
    assert client.get("/v1/ready").json() == {"status": "ready", "version": "1.0.0"}


def test_the_openapi_document_declares_bearer_auth_and_problems(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    assert "Problem" in document["components"]["schemas"]
    responses = document["paths"]["/v1/flight-plans"]["post"]["responses"]
    assert {"201", "400", "401", "403", "413", "422", "503"} <= set(responses)
    assert "application/problem+json" in responses["422"]["content"]
    assert "security" not in document["paths"]["/v1/approvals/{approval_id}"]["get"]
    layer = next(p for p in document["paths"]["/v1/airspace/cells"]["get"]["parameters"]
                 if p["name"] == "layer")
    assert layer["schema"]["maximum"] == 8  # the bundled airspace has 9 layers


# -- a database that is down ---------------------------------------------------------------------


def test_a_database_that_is_down_is_503_with_retry_after(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*_: Any, **__: Any) -> Any:
        raise StoreUnavailableError("connection refused")

    monkeypatch.setattr(services.engine.store, "list_flights", unavailable)

    response = client.get("/v1/flight-plans", headers=auth("operator"))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "store_unavailable"
