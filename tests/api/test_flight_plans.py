"""Flight plans over HTTP: file, read, list, cancel, fly (activate, telemetry, end)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from testbed import NOW0, PRINCIPALS, T0, SteppedClock, auth, plan_body

from airspace import Airspace
from airspace.timing import format_instant, parse_instant
from api.app import create_app
from api.auth import PrincipalRegistry
from api.settings import Settings
from routes import Endpoint, Planner
from utm.engine import Engine
from utm.plans import FlightPlan, Priority, make_drone
from utm.replanning import is_pending
from utm.storage import open_store

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")


def at(minutes: float) -> str:
    """``T0`` plus ``minutes``, RFC 3339."""
    return format_instant(T0 + timedelta(minutes=minutes))


def file(client: TestClient, who: str = "operator", **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/flight-plans", json=plan_body(**changes), headers=auth(who))
    assert response.status_code == 201, response.text
    flight: dict[str, Any] = response.json()
    return flight


def test_filing_a_plan_answers_201_with_the_decision_and_a_location(client: TestClient) -> None:
    response = client.post("/v1/flight-plans", json=plan_body(), headers=auth("operator"))

    assert response.status_code == 201
    flight = response.json()
    assert response.headers["location"] == f"/v1/flight-plans/{flight['id']}"
    assert flight["state"] == "approved"
    assert flight["operator_id"] == "sf-express"
    assert flight["approval_id"].startswith("apv-")
    assert flight["jurisdictions"] == ["chengdu"]
    assert flight["reviews"] == {"chengdu": "automatic"}
    assert set(flight["decision"]) == {"state", "reasons", "changes", "conflicts"}
    assert flight["origin"] == {"vertiport": "CD-TFS"}
    assert flight["departure_time"] == "2026-12-01T02:00:00Z"
    assert parse_instant(flight["arrival_time"]) > T0


def test_volumes_have_exactly_the_design_shape(client: TestClient) -> None:
    flight = file(client, earliest_departure_time=at(30), latest_departure_time=at(50))

    assert flight["volumes"]
    for volume in flight["volumes"]:
        assert set(volume) == {"outline", "floor_agl_m", "ceiling_agl_m", "start_time",
                               "end_time"}
        assert volume["outline"]["type"] == "Polygon"
        lng, lat = volume["outline"]["coordinates"][0][0]
        assert 103 < lng < 106 and 29 < lat < 32  # GeoJSON order: [lng, lat]
        assert volume["floor_agl_m"] < volume["ceiling_agl_m"]
        assert RFC3339_Z.match(volume["start_time"]) and RFC3339_Z.match(volume["end_time"])
    route = flight["route"]
    assert route["type"] == "LineString"
    assert all(len(position) == 3 for position in route["coordinates"])  # lng, lat, alt_agl_m


def test_an_offset_is_accepted_and_answered_in_utc(client: TestClient) -> None:
    flight = file(client, origin={"vertiport": "CD-WCH"}, destination={"vertiport": "CD-PPH"},
                  earliest_departure_time="2026-12-01T10:40:00+08:00",
                  latest_departure_time="2026-12-01T11:00:00+08:00")

    assert flight["earliest_departure_time"] == "2026-12-01T02:40:00Z"
    assert flight["state"] == "approved"


def test_a_point_endpoint_is_accepted(client: TestClient) -> None:
    flight = file(client, origin={"lat": 30.66, "lng": 104.05},
                  destination={"vertiport": "CD-TFS"},
                  earliest_departure_time=at(200), latest_departure_time=at(220))

    assert flight["origin"] == {"lat": 30.66, "lng": 104.05}
    assert flight["state"] == "approved"


def test_the_plan_can_be_read_back(client: TestClient) -> None:
    flight = file(client, earliest_departure_time=at(60), latest_departure_time=at(80))

    response = client.get(f"/v1/flight-plans/{flight['id']}", headers=auth("operator"))

    assert response.status_code == 200
    assert response.json() == flight


def test_an_unknown_plan_is_404_with_a_problem(client: TestClient) -> None:
    response = client.get("/v1/flight-plans/fp-nope", headers=auth("operator"))

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "flight_plan_not_found"


def test_a_rejection_is_a_decision_not_an_error(client: TestClient) -> None:
    # Ziyang wants 30 minutes' notice; the clock is at 01:00Z, the window closes at 01:15Z.
    flight = file(client, origin={"vertiport": "ZY-CTR"}, destination={"vertiport": "ZY-LOG"},
                  earliest_departure_time="2026-12-01T01:10:00Z",
                  latest_departure_time="2026-12-01T01:15:00Z")

    assert flight["state"] == "rejected"
    assert flight["approval_id"] is None
    assert [reason["code"] for reason in flight["decision"]["reasons"]] == ["lead_time"]
    assert flight["volumes"] == []


def test_without_a_window_the_plan_departs_at_the_earliest_time(client: TestClient) -> None:
    body = plan_body(origin={"vertiport": "CD-SLH"}, destination={"vertiport": "CD-WJG"},
                     earliest_departure_time=at(90))
    del body["latest_departure_time"]

    response = client.post("/v1/flight-plans", json=body, headers=auth("operator"))

    assert response.status_code == 201
    assert response.json()["latest_departure_time"] == at(90)
    assert response.json()["departure_time"] == at(90)


def test_an_emergency_preempts_an_approved_delivery(client: TestClient) -> None:
    slot = {"origin": {"vertiport": "CD-NRS"}, "destination": {"vertiport": "CD-CXR"},
            "earliest_departure_time": at(120), "latest_departure_time": at(120)}
    delivery = file(client, "operator", **slot)
    assert delivery["state"] == "approved"

    emergency = file(client, "other_operator", priority="emergency", purpose="blood", **slot)

    assert emergency["state"] == "approved"
    assert emergency["departure_time"] == at(120)
    after = client.get(f"/v1/flight-plans/{delivery['id']}", headers=auth("operator")).json()
    assert after["notes"] and "preempted by emergency flight" in after["notes"][-1]
    assert after["state"] in ("approved", "replan_required")
    if after["state"] == "approved":
        assert after["departure_time"] != at(120)
    # Answered first, re-planned right after (a background task: done once the call ends).
    assert "being re-planned" not in after["notes"][-1]
    assert "preempted" not in [reason["code"] for reason in after["decision"]["reasons"]]


def test_admin_files_for_a_named_operator(client: TestClient) -> None:
    flight = file(client, "admin", operator_id="jd-logistics", earliest_departure_time=at(240),
                  latest_departure_time=at(260))

    assert flight["operator_id"] == "jd-logistics"


@pytest.mark.parametrize(("who", "operator_id", "status", "field"), [
    ("admin", None, 422, "operator_id"),
    ("operator", "meituan-air", 403, "operator_id"),
])
def test_filing_for_someone_else_is_refused(client: TestClient, who: str,
                                            operator_id: str | None, status: int,
                                            field: str) -> None:
    body = plan_body(earliest_departure_time=at(300), latest_departure_time=at(320))
    if operator_id:
        body["operator_id"] = operator_id

    response = client.post("/v1/flight-plans", json=body, headers=auth(who))

    assert response.status_code == status
    assert response.json()["field"] == field


def test_an_operator_may_name_itself(client: TestClient) -> None:
    flight = file(client, operator_id="sf-express", earliest_departure_time=at(330),
                  latest_departure_time=at(350))

    assert flight["operator_id"] == "sf-express"


# -- lists -------------------------------------------------------------------------------------


def test_the_list_pages_with_an_opaque_cursor(client: TestClient) -> None:
    for minutes in (400, 420, 440):
        file(client, "other_operator", origin={"vertiport": "DY-CTR"},
             destination={"vertiport": "DY-LOG"}, earliest_departure_time=at(minutes),
             latest_departure_time=at(minutes + 10))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = client.get("/v1/flight-plans", params=params, headers=auth("other_operator"))
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert "fp-" not in cursor  # opaque, not the id itself

    assert pages >= 2
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    everything = client.get("/v1/flight-plans", params={"limit": 500},
                            headers=auth("other_operator")).json()["items"]
    assert seen == [item["id"] for item in everything]


def test_the_list_filters_by_state(client: TestClient) -> None:
    rejected = client.get("/v1/flight-plans", params={"state": "rejected"},
                          headers=auth("operator")).json()["items"]

    assert rejected and all(item["state"] == "rejected" for item in rejected)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"limit": "many"},
                                    {"state": "flying"}, {"cursor": "not-a-cursor!"},
                                    {"limt": 5}])
def test_bad_list_parameters_are_422_naming_the_parameter(client: TestClient,
                                                          params: dict[str, Any]) -> None:
    response = client.get("/v1/flight-plans", params=params, headers=auth("operator"))

    assert response.status_code == 422
    assert response.json()["field"] == next(iter(params))


# -- the life of a flight ------------------------------------------------------------------------


def test_cancel_releases_the_plan_and_cannot_be_repeated(client: TestClient) -> None:
    flight = file(client, earliest_departure_time=at(480), latest_departure_time=at(480))

    cancelled = client.post(f"/v1/flight-plans/{flight['id']}/cancel", headers=auth("operator"))
    again = client.post(f"/v1/flight-plans/{flight['id']}/cancel", headers=auth("operator"))

    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["volumes"] == []
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_state_transition"
    # The slot is free again: the same plan gets exactly that departure.
    assert file(client, earliest_departure_time=at(480),
                latest_departure_time=at(480))["departure_time"] == at(480)


def _volume_centre(volume: dict[str, Any]) -> tuple[float, float, float, str]:
    ring = volume["outline"]["coordinates"][0][:-1]
    lng = sum(p[0] for p in ring) / len(ring)
    lat = sum(p[1] for p in ring) / len(ring)
    start, end = parse_instant(volume["start_time"]), parse_instant(volume["end_time"])
    return (lat, lng, (volume["floor_agl_m"] + volume["ceiling_agl_m"]) / 2,
            format_instant(start + (end - start) / 2))


def test_a_flight_activates_reports_positions_and_ends(client: TestClient,
                                                       clock: SteppedClock) -> None:
    flight = file(client, origin={"vertiport": "CD-EST"}, destination={"vertiport": "CD-LQY"},
                  earliest_departure_time=at(500), latest_departure_time=at(500))
    flight_id = flight["id"]

    early = client.post(f"/v1/flight-plans/{flight_id}/activate", headers=auth("operator"))
    assert early.status_code == 409  # not before its first volume begins

    clock.instant = parse_instant(flight["departure_time"])
    activated = client.post(f"/v1/flight-plans/{flight_id}/activate", headers=auth("operator"))
    assert activated.status_code == 200 and activated.json()["state"] == "activated"

    lat, lng, alt, time = _volume_centre(flight["volumes"][len(flight["volumes"]) // 2])
    inside = client.post(f"/v1/flight-plans/{flight_id}/telemetry", headers=auth("operator"),
                         json={"lat": lat, "lng": lng, "alt_agl_m": alt, "time": time})
    assert inside.status_code == 200
    assert inside.json() == {"flight_plan_id": flight_id, "state": "activated", "alerts": []}

    astray = client.post(f"/v1/flight-plans/{flight_id}/telemetry", headers=auth("operator"),
                         json={"lat": lat + 0.05, "lng": lng, "alt_agl_m": alt, "time": time})
    assert astray.json()["state"] == "nonconforming"
    assert [alert["kind"] for alert in astray.json()["alerts"]] == ["nonconforming"]

    ended = client.post(f"/v1/flight-plans/{flight_id}/end", headers=auth("operator"))
    assert ended.status_code == 200 and ended.json()["state"] == "ended"

    late = client.post(f"/v1/flight-plans/{flight_id}/telemetry", headers=auth("operator"),
                       json={"lat": lat, "lng": lng, "alt_agl_m": alt, "time": time})
    assert late.status_code == 409
    assert late.json()["code"] == "invalid_telemetry"


def test_ending_a_flight_that_never_flew_is_409(client: TestClient) -> None:
    flight = file(client, earliest_departure_time=at(560), latest_departure_time=at(560))

    response = client.post(f"/v1/flight-plans/{flight['id']}/end", headers=auth("operator"))

    assert response.status_code == 409


def test_a_restarted_node_replans_what_an_emergency_left_released(
        airspace_model: Airspace, planner: Planner, tmp_path: Path) -> None:
    """A node stopped between an emergency's answer and the re-plan of the flight it took
    the airspace of: the next node on the same database re-plans it as it starts."""
    url = f"sqlite:///{tmp_path / 'utm.sqlite'}"
    engine = Engine(airspace_model, open_store(url, airspace_model.layers), planner=planner)
    delivery = engine.submit(FlightPlan("sf-express", make_drone("d1", "light"),
                                        Endpoint("CD-TFS"), Endpoint("CD-WCH"), T0,
                                        T0 + timedelta(minutes=30)), NOW0)
    engine.submit(FlightPlan("meituan-air", make_drone("d2", "light"), Endpoint("CD-TFS"),
                             Endpoint("CD-WCH"), T0, T0, Priority.EMERGENCY), NOW0,
                  replan_later=True)
    assert is_pending(engine.get(delivery.id))
    engine.store.close()  # the node stops here

    registry = PrincipalRegistry.from_documents(PRINCIPALS, list(airspace_model.jurisdictions))
    app = create_app(Settings(database_url=url), airspace=airspace_model, planner=planner,
                     clock=SteppedClock(NOW0), principals=registry)
    with TestClient(app) as client:  # starting runs the lifespan
        after = client.get(f"/v1/flight-plans/{delivery.id}", headers=auth("operator")).json()
    assert after["state"] == "approved"
    assert after["departure_time"] != format_instant(T0)
    assert "being re-planned" not in after["notes"][-1]


def test_the_service_expires_what_was_not_used_in_time(
        airspace_model: Airspace, planner: Planner, tmp_path: Path) -> None:
    """Left alone, a running service rejects a review nobody finished by the departure,
    cancels an approval that was never activated, and flags a flight still active long after
    its volumes ended (``api.housekeeping``)."""
    registry = PrincipalRegistry.from_documents(PRINCIPALS, list(airspace_model.jurisdictions))
    clock = SteppedClock(NOW0)
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'utm.sqlite'}",
                              housekeeping_interval_s=0.05),
                     airspace=airspace_model, planner=planner, clock=clock,
                     principals=registry)
    with TestClient(app) as client:
        pending = file(client, drone={"id": "heavy-1", "category": "medium"})
        approved = file(client, origin={"vertiport": "CD-WCH"},
                        destination={"vertiport": "CD-TFS"})
        flying = file(client, origin={"vertiport": "CD-EST"}, destination={"vertiport": "CD-LQY"},
                      earliest_departure_time=at(30), latest_departure_time=at(30))
        assert (pending["state"], approved["state"]) == ("pending_review", "approved")
        clock.instant = parse_instant(flying["departure_time"])
        activated = client.post(f"/v1/flight-plans/{flying['id']}/activate",
                                headers=auth("operator"))
        assert activated.status_code == 200, activated.text
        clock.instant = T0 + timedelta(hours=3)
        expected = {pending["id"]: "rejected", approved["id"]: "cancelled",
                    flying["id"]: "nonconforming"}
        states: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while states != expected:
            assert time.monotonic() < deadline, f"not expired: {states}"
            time.sleep(0.05)
            states = {flight_id: client.get(f"/v1/flight-plans/{flight_id}",
                                            headers=auth("admin")).json()["state"]
                      for flight_id in expected}
        alerts = client.get("/v1/alerts", headers=auth("regulator")).json()["items"]
        assert [alert["kind"] for alert in alerts if alert["flight_id"] == flying["id"]] == [
            "overdue"]
