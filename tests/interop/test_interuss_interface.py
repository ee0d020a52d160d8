"""The InterUSS flight-planning interface (/flight_planning/v1) and the operational-intent
export, through HTTP: authentication and scopes, each execution style and usage state, the
results uss_qualifier reads, idempotent requests, clearing an area, user notifications.

The test driver's tokens are signed here with a key pair made for the test (InterUSS's own
test key is exercised end to end by interop/run_uss_qualifier.sh); the audience is the test
client's host name, ``testserver``.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from interop_support import NOW0, T0, circle

from airspace import Airspace
from airspace.classes import AirspaceClass
from airspace.timing import format_instant, parse_instant
from api.app import create_app, shutdown
from api.auth import PrincipalRegistry
from api.interop import priority_from_f3548, priority_to_f3548
from api.settings import Settings
from routes import Planner
from utm import area_plans
from utm.constraints import Constraint
from utm.plans import Priority

PLAN = "interuss.flight_planning.plan"
DIRECT = "interuss.flight_planning.direct_automated_test"
TOKENS = {"operator": "interop-test-operator-token", "admin": "interop-test-admin-token",
          "regulator": "interop-test-regulator-token"}
PRINCIPALS = [
    {"token": TOKENS["operator"], "role": "operator", "operator_id": "sf-express"},
    {"token": TOKENS["admin"], "role": "admin", "name": "root"},
    {"token": TOKENS["regulator"], "role": "regulator", "jurisdictions": ["chengdu"]},
]


class Clock:
    def __init__(self) -> None:
        self.instant = NOW0

    def __call__(self) -> datetime:
        return self.instant


def _key_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


DRIVER_KEY, DRIVER_PUBLIC_PEM = _key_pair()
OTHER_KEY, _ = _key_pair()


def token(scopes: list[str], *, audience: str = "testserver", subject: str = "uss_qualifier",
          key: rsa.RSAPrivateKey = DRIVER_KEY, expires_in_s: int = 3600) -> dict[str, str]:
    """The ``Authorization`` header of a driver token (as uss_qualifier's NoAuth makes)."""
    now_s = int(time.time())
    claims = {"sub": subject, "scope": " ".join(scopes), "aud": audience, "nbf": now_s - 1,
              "exp": now_s + expires_in_s, "iss": "NoAuth", "jti": str(uuid.uuid4())}
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='RS256')}"}


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


DRIVER = token([PLAN, DIRECT])


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _reset_clock(clock: Clock) -> None:
    clock.instant = NOW0


def _app(airspace: Airspace, planner: Planner, clock: Clock, key_file: Path | None) -> FastAPI:
    registry = PrincipalRegistry.from_documents(PRINCIPALS, list(airspace.jurisdictions))
    settings = Settings(database_url="sqlite:///:memory:", interuss_public_key_file=key_file,
                        interuss_audiences=("testserver",))
    return create_app(settings, airspace=airspace, planner=planner, clock=clock,
                      principals=registry)


@pytest.fixture(scope="module")
def client(airspace_model: Airspace, planner: Planner, clock: Clock,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The interface with the driver's key trusted."""
    key_file = tmp_path_factory.mktemp("interuss") / "driver_public.pem"
    key_file.write_bytes(DRIVER_PUBLIC_PEM)
    app = _app(airspace_model, planner, clock, key_file)
    try:
        yield TestClient(app)
    finally:
        shutdown(app)


_HOURS = itertools.count(20)
"""Volumes without a start of their own get an hour each, from T0 + 20 h: the module's app
keeps what earlier tests approved, and a test must not meet another's plans by chance."""


def volume(lat: float, lng: float, radius_m: float = 300.0, lower: float = 30.0,
           upper: float = 90.0, reference: str = "SFC", start: datetime | None = None,
           minutes: int = 20) -> dict[str, Any]:
    start = start or T0 + timedelta(hours=next(_HOURS))
    return {
        "volume": {
            "outline_circle": {"center": {"lat": lat, "lng": lng},
                               "radius": {"value": radius_m, "units": "M"}},
            "altitude_lower": {"value": lower, "reference": reference, "units": "M"},
            "altitude_upper": {"value": upper, "reference": reference, "units": "M"},
        },
        "time_start": {"value": format_instant(start), "format": "RFC3339"},
        "time_end": {"value": format_instant(start + timedelta(minutes=minutes)),
                     "format": "RFC3339"},
    }


def upsert(area: list[dict[str, Any]] | None = None, *, style: str = "IfAllowed",
           usage: str = "Planned", priority: int = 0, request_id: str | None = None,
           **extra: Any) -> dict[str, Any]:
    return {
        "flight_plan": {
            "basic_information": {"usage_state": usage, "uas_state": "Nominal",
                                  "area": area if area is not None else [volume(30.70, 104.12)],
                                  "description": "parcel delivery"},
            "astm_f3548_21": {"priority": priority},
            **extra,
        },
        "execution_style": style,
        "request_id": request_id or str(uuid.uuid4()),
    }


def put(client: TestClient, body: dict[str, Any], plan_id: str | None = None,
        headers: dict[str, str] | None = None) -> tuple[str, Any]:
    plan_id = plan_id or str(uuid.uuid4())
    response = client.put(f"/flight_planning/v1/flight_plans/{plan_id}", json=body,
                          headers=DRIVER if headers is None else headers)
    return plan_id, response


def flights_of(client: TestClient, operator_id: str = "uss_qualifier") -> list[dict[str, Any]]:
    items = client.get("/v1/flight-plans?limit=500", headers=bearer("admin")).json()["items"]
    return [item for item in items if item["operator_id"] == operator_id]


def flight_of(client: TestClient, plan_id: str) -> dict[str, Any]:
    """The flight the driver filed under ``plan_id``, as our API shows it to an admin."""
    store = client.app.state.services.engine.store  # type: ignore[attr-defined]
    flight_id = area_plans.flight_id_for(store, "uss_qualifier", plan_id)
    assert flight_id is not None
    response = client.get(f"/v1/flight-plans/{flight_id}", headers=bearer("admin"))
    assert response.status_code == 200
    flight: dict[str, Any] = response.json()
    return flight


# -- authentication and scopes -----------------------------------------------------------------


@pytest.mark.parametrize(("headers", "status"), [
    (token([DIRECT]), 200),
    (token([PLAN]), 403),
    ({}, 401),
    (token([DIRECT], key=OTHER_KEY), 401),
    (token([DIRECT], audience="uss.example.com"), 401),
    (token([DIRECT], expires_in_s=-3600), 401),
    ({"Authorization": "Bearer not.a.jwt"}, 401),
    (bearer("admin"), 200),
    (bearer("operator"), 403),
    (bearer("regulator"), 403),
], ids=["driver", "plan scope only", "no token", "other key", "other audience", "expired",
        "garbage", "our admin", "our operator", "our regulator"])
def test_status_needs_the_test_director_scope(client: TestClient, headers: dict[str, str],
                                              status: int) -> None:
    response = client.get("/flight_planning/v1/status", headers=headers)

    assert response.status_code == status, response.text
    if status == 200:
        assert response.json() == {"status": "Ready",
                                   "api_name": "Flight Planning Automated Testing Interface",
                                   "api_version": "v0.7.0"}
    else:
        assert response.headers["content-type"] == "application/problem+json"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_driver_tokens_are_refused_unless_switched_on(airspace_model: Airspace,
                                                      planner: Planner, clock: Clock) -> None:
    app = _app(airspace_model, planner, clock, key_file=None)
    try:
        off = TestClient(app)
        assert off.get("/flight_planning/v1/status", headers=DRIVER).status_code == 401
        assert off.get("/flight_planning/v1/status", headers=bearer("admin")).status_code == 200
    finally:
        shutdown(app)


def test_the_interface_is_not_in_our_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert not [path for path in paths if path.startswith("/flight_planning")]
    assert "/v1/flight-plans/{flight_plan_id}/operational-intent" in paths


def test_delete_takes_either_scope(client: TestClient) -> None:
    for scopes in ([PLAN], [DIRECT]):
        plan_id, response = put(client, upsert(), headers=token([PLAN, DIRECT]))
        assert response.json()["planning_result"] == "Completed"
        deleted = client.delete(f"/flight_planning/v1/flight_plans/{plan_id}",
                                headers=token(scopes))
        assert deleted.status_code == 200, deleted.text


# -- planning ---------------------------------------------------------------------------------


def test_an_ordinary_plan_is_planned_then_closed(client: TestClient) -> None:
    plan_id, response = put(client, upsert())

    assert response.status_code == 200
    body = response.json()
    assert (body["planning_result"], body["flight_plan_status"],
            body["includes_advisories"]) == ("Completed", "Planned", "NoAdvisoriesOrConditions")
    stored = flight_of(client, plan_id)
    assert (stored["kind"], stored["state"], stored["origin"]) == ("area", "approved", None)
    assert stored["volumes"][0]["floor_agl_m"] == 30.0

    closed = client.delete(f"/flight_planning/v1/flight_plans/{plan_id}", headers=DRIVER)

    assert closed.status_code == 200
    assert (closed.json()["planning_result"], closed.json()["flight_plan_status"]) == (
        "Completed", "Closed")
    again = client.delete(f"/flight_planning/v1/flight_plans/{plan_id}", headers=DRIVER)
    assert again.json()["flight_plan_status"] == "Closed"


def test_closing_an_unknown_plan_is_404(client: TestClient) -> None:
    response = client.delete(f"/flight_planning/v1/flight_plans/{uuid.uuid4()}",
                             headers=DRIVER)

    assert response.status_code == 404
    assert response.json()["code"] == "flight_plan_not_found"


def test_a_hypothetical_plan_is_answered_and_not_stored(client: TestClient) -> None:
    before = len(flights_of(client))
    plan_id, response = put(client, upsert(style="Hypothetical"))

    assert (response.json()["planning_result"], response.json()["flight_plan_status"]) == (
        "Completed", "Planned")
    assert len(flights_of(client)) == before
    assert client.delete(f"/flight_planning/v1/flight_plans/{plan_id}",
                         headers=DRIVER).status_code == 404


@pytest.mark.parametrize(("area", "extra", "priority", "result", "status", "advisories",
                          "note"), [
    ([volume(30.5785, 103.947, 200.0)], {}, 0, "Rejected", "NotPlanned",
     "AtLeastOneAdvisoryOrCondition", "ZUUU-P"),
    ([volume(30.72, 104.00, lower=130.0, upper=150.0)], {}, 0, "Rejected", "NotPlanned",
     "AtLeastOneAdvisoryOrCondition", "needs the review of chengdu"),
    ([volume(30.72, 104.00, lower=130.0, upper=150.0)], {}, 100, "Completed", "Planned",
     "AtLeastOneAdvisoryOrCondition", "emergency fast track"),
    ([volume(30.15, 104.62)], {"additional_information": {"drone_category": "small"}}, 0,
     "Rejected", "NotPlanned", "AtLeastOneAdvisoryOrCondition", "ziyang reviews small"),
    ([volume(30.70, 104.12, start=NOW0 + timedelta(days=31))], {}, 0, "Rejected",
     "NotPlanned", "Unknown", "30 days"),
], ids=["prohibited zone", "needs review", "emergency", "drone category", "horizon"])
def test_decisions_map_to_planning_results(client: TestClient, area: list[dict[str, Any]],
                                           extra: dict[str, Any], priority: int, result: str,
                                           status: str, advisories: str, note: str) -> None:
    _, response = put(client, upsert(area, priority=priority, **extra))

    body = response.json()
    assert (body["planning_result"], body["flight_plan_status"],
            body["includes_advisories"]) == (result, status, advisories)
    assert note in body["notes"]


def test_w84_altitudes_go_through_the_ground_model(client: TestClient) -> None:
    w84 = volume(30.66, 104.07, 300.0, lower=480.0, upper=540.0, reference="W84")
    plan_id, response = put(client, upsert([w84], request_id="w84-request"))

    assert response.json()["flight_plan_status"] == "Planned", response.json()
    held = flight_of(client, plan_id)["volumes"][0]
    # central Chengdu: ground 426.8-507.8 m W84
    assert (held["floor_agl_m"], held["ceiling_agl_m"]) == pytest.approx((0.0, 113.2), abs=0.01)


@pytest.mark.parametrize(("change", "result"), [
    ({"reference": "Takeoff"}, "NotSupported"),
    ({"mixed": True}, "NotSupported"),
    ({"no_times": True}, "Rejected"),
    ({"outside": True}, "Rejected"),
])
def test_volumes_the_engine_cannot_take(client: TestClient, change: dict[str, Any],
                                        result: str) -> None:
    one = volume(29.56, 106.55) if change.get("outside") else volume(
        30.70, 104.12, reference=change.get("reference", "SFC"))
    if change.get("mixed"):
        one["volume"]["altitude_upper"]["reference"] = "W84"
    if change.get("no_times"):
        del one["time_start"]

    _, response = put(client, upsert([one]))

    assert response.status_code == 200
    assert response.json()["planning_result"] == result
    assert response.json()["flight_plan_status"] == "NotPlanned"


def test_a_repeated_request_gets_the_first_answer(client: TestClient) -> None:
    body = upsert(request_id=f"same-{uuid.uuid4()}")
    before = len(flights_of(client))
    plan_id, first = put(client, body)
    _, second = put(client, body, plan_id)

    assert second.json() == first.json()
    assert len(flights_of(client)) == before + 1
    _, other = put(client, body)  # the same request id for another plan
    assert other.status_code == 409


def test_an_update_moves_the_same_flight(client: TestClient) -> None:
    start = T0 + timedelta(hours=6)
    plan_id, _ = put(client, upsert([volume(30.70, 104.12, start=start)]))
    flight_id = flight_of(client, plan_id)["id"]

    _, moved = put(client, upsert([volume(30.71, 104.13, start=start)]), plan_id)

    assert moved.json()["planning_result"] == "Completed"
    latest = client.get(f"/v1/flight-plans/{flight_id}", headers=bearer("admin")).json()
    assert latest["version"] > 1
    assert latest["volumes"][0]["outline"]["coordinates"][0][0][1] > 30.705


def test_fly_under_the_plan_then_land(client: TestClient, clock: Clock) -> None:
    area = [volume(30.68, 104.10, start=T0)]
    plan_id, _ = put(client, upsert(area))
    clock.instant = T0 + timedelta(minutes=1)

    _, flying = put(client, upsert(area, style="InReality", usage="InUse"), plan_id)
    _, landed = put(client, upsert(area, style="InReality", usage="Closed"), plan_id)

    assert (flying.json()["planning_result"], flying.json()["flight_plan_status"]) == (
        "Completed", "OkToFly")
    assert (landed.json()["planning_result"], landed.json()["flight_plan_status"]) == (
        "Completed", "Closed")


def test_flying_before_the_plan_starts_is_refused(client: TestClient) -> None:
    area = [volume(30.69, 104.11)]
    plan_id, _ = put(client, upsert(area))

    _, early = put(client, upsert(area, style="IfAllowed", usage="InUse"), plan_id)

    assert (early.json()["planning_result"], early.json()["flight_plan_status"]) == (
        "Rejected", "Planned")
    assert "may not activate before" in early.json()["notes"]


def test_in_reality_is_not_a_way_to_plan(client: TestClient) -> None:
    _, response = put(client, upsert(style="InReality"))

    assert response.json()["planning_result"] == "NotSupported"


def test_a_malformed_request_is_a_problem(client: TestClient) -> None:
    bad_id = client.put("/flight_planning/v1/flight_plans/not-a-uuid", json=upsert(),
                        headers=DRIVER)
    bad_body = client.put(f"/flight_planning/v1/flight_plans/{uuid.uuid4()}",
                          json={"flight_plan": {}}, headers=DRIVER)

    assert bad_id.status_code == bad_body.status_code == 422
    assert bad_body.headers["content-type"] == "application/problem+json"


def test_unknown_fields_are_ignored(client: TestClient) -> None:
    body = upsert(uas={"serial_number": "SN-1", "aircraft_type": "Helicopter"},
                  future_field={"anything": 1})
    body["flight_plan"]["basic_information"]["utm_id"] = "x"

    _, response = put(client, body)

    assert response.json()["planning_result"] == "Completed"


# -- the test director ---------------------------------------------------------------------------


def test_clear_area_closes_interface_plans_inside_the_extent_only(client: TestClient) -> None:
    inside_id, _ = put(client, upsert([volume(30.64, 104.16, start=T0 + timedelta(hours=5))]))
    outside_id, _ = put(client, upsert([volume(30.60, 104.18, start=T0 + timedelta(hours=5))]))
    routed = client.post("/v1/flight-plans", headers=bearer("operator"), json={
        "origin": {"vertiport": "CD-CXR"}, "destination": {"vertiport": "CD-SCU"},
        "earliest_departure_time": format_instant(T0 + timedelta(hours=5)),
        "drone": {"id": "d", "category": "light"}})
    assert routed.status_code == 201
    extent = {"volume": {"outline_circle": {"center": {"lat": 30.64, "lng": 104.16},
                                            "radius": {"value": 1000.0, "units": "M"}}}}

    response = client.post("/flight_planning/v1/clear_area_requests", headers=DRIVER,
                           json={"request_id": "clear-1", "extent": extent})

    assert response.status_code == 200 and response.json()["outcome"]["success"] is True
    closed = client.delete(f"/flight_planning/v1/flight_plans/{inside_id}", headers=DRIVER)
    still = client.delete(f"/flight_planning/v1/flight_plans/{outside_id}", headers=DRIVER)
    assert closed.json()["notes"] == "cancelled"  # it was cancelled by the clearing
    assert still.json()["flight_plan_status"] == "Closed"
    routed_now = client.get(f"/v1/flight-plans/{routed.json()['id']}", headers=bearer("admin"))
    assert routed_now.json()["state"] == "approved"
    assert client.post("/flight_planning/v1/clear_area_requests", headers=token([PLAN]),
                       json={"request_id": "clear-2", "extent": extent}).status_code == 403


def test_user_notifications_tell_what_took_a_plan_s_airspace(
    client: TestClient, airspace_model: Airspace
) -> None:
    start = T0 + timedelta(hours=7)
    put(client, upsert([volume(30.15, 104.62, start=start)]))
    services = client.app.state.services  # type: ignore[attr-defined]
    constraint = Constraint("C-interop-ziyang", "ziyang", circle(30.15, 104.62, 800.0), 0.0,
                            300.0, start - timedelta(hours=1), start + timedelta(hours=2),
                            AirspaceClass.RESTRICTED, "fire", "regulator", NOW0)
    try:
        services.engine.issue_constraint(constraint, NOW0, "regulator:ziyang")
    finally:
        airspace_model.remove_zone(constraint.id)
    after = format_instant(NOW0 - timedelta(minutes=1))

    mine = client.get("/flight_planning/v1/user_notifications", headers=DRIVER,
                      params={"after": after})
    others = client.get("/flight_planning/v1/user_notifications",
                        headers=token([PLAN], subject="someone-else"), params={"after": after})

    assert mine.status_code == 200
    notices = mine.json()["user_notifications"]
    assert len(notices) == 1 and "C-interop-ziyang" in notices[0]["message"]
    assert notices[0]["observed_at"]["value"] == format_instant(NOW0)
    assert others.json() == {"user_notifications": []}
    before_after = client.get("/flight_planning/v1/user_notifications", headers=DRIVER,
                              params={"after": after, "before": "2020-01-01T00:00:00Z"})
    assert before_after.status_code == 400
    assert client.get("/flight_planning/v1/user_notifications",
                      headers=DRIVER).status_code == 422


# -- export: ASTM F3548 operational intents ------------------------------------------------------


def test_an_approved_area_is_exported_with_w84_altitudes(client: TestClient) -> None:
    plan_id, _ = put(client, upsert([volume(30.66, 104.07, 300.0, 30.0, 90.0,
                                            start=T0 + timedelta(hours=9))], priority=100))
    flight = flight_of(client, plan_id)

    response = client.get(f"/v1/flight-plans/{flight['id']}/operational-intent",
                          headers=bearer("admin"))

    assert response.status_code == 200, response.text
    intent = response.json()
    assert intent["reference"]["state"] == "Accepted"
    assert intent["reference"]["manager"] == "lowalt-utm"
    assert intent["details"]["priority"] == 100
    exported = intent["details"]["volumes"][0]
    lower = exported["volume"]["altitude_lower"]
    upper = exported["volume"]["altitude_upper"]
    assert lower["reference"] == upper["reference"] == "W84"
    # contains 30-90 m above ground wherever central Chengdu's ground lies (426.8-507.8 W84)
    assert lower["value"] <= 30.0 + 426.8 and upper["value"] >= 90.0 + 507.8
    assert parse_instant(exported["time_start"]["value"]) == T0 + timedelta(hours=9)
    assert len(exported["volume"]["outline_polygon"]["vertices"]) >= 3


def test_an_approved_routed_flight_is_exported_too(client: TestClient) -> None:
    filed = client.post("/v1/flight-plans", headers=bearer("operator"), json={
        "origin": {"vertiport": "CD-TFS"}, "destination": {"vertiport": "CD-JRC"},
        "earliest_departure_time": format_instant(T0 + timedelta(hours=10)),
        "drone": {"id": "d", "category": "light"}}).json()

    response = client.get(f"/v1/flight-plans/{filed['id']}/operational-intent",
                          headers=bearer("operator"))

    assert response.status_code == 200
    assert len(response.json()["details"]["volumes"]) == len(filed["volumes"])
    assert response.json()["details"]["priority"] == 0


def test_a_flight_without_an_operational_intent_is_409(client: TestClient) -> None:
    plan_id, _ = put(client, upsert([volume(30.5785, 103.947, 200.0)]))  # refused: recorded
    refused = flight_of(client, plan_id)
    assert refused["state"] == "rejected"

    response = client.get(f"/v1/flight-plans/{refused['id']}/operational-intent",
                          headers=bearer("admin"))

    assert response.status_code == 409
    assert response.json()["code"] == "no_operational_intent"


@pytest.mark.parametrize(("f3548", "ours"), [
    (None, Priority.COMMERCIAL), (0, Priority.COMMERCIAL), (49, Priority.COMMERCIAL),
    (50, Priority.PUBLIC_SERVICE), (99, Priority.PUBLIC_SERVICE), (100, Priority.EMERGENCY),
    (10_000, Priority.EMERGENCY), (-1, Priority.LEISURE),
])
def test_priority_bands(f3548: int | None, ours: Priority) -> None:
    assert priority_from_f3548(f3548) is ours
    assert priority_from_f3548(priority_to_f3548(ours)) is ours
