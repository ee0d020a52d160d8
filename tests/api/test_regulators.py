"""Regulators over HTTP: reviews of their cities' part, constraints in their cities, alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from testbed import T0, SteppedClock, auth, plan_body

from airspace import Airspace
from airspace.timing import format_instant, parse_instant


def at(minutes: float) -> str:
    return format_instant(T0 + timedelta(minutes=minutes))


def square(lng: float, lat: float, side_deg: float = 0.004) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[
        [lng, lat], [lng + side_deg, lat], [lng + side_deg, lat + side_deg],
        [lng, lat + side_deg], [lng, lat]]]}


def constraint_body(**changes: Any) -> dict[str, Any]:
    """A closure of a small square in Chengdu (Pidu), from T0 + 20 h for an hour."""
    body: dict[str, Any] = {
        "outline": square(103.70, 30.90), "floor_agl_m": 0, "ceiling_agl_m": 120,
        "start_time": at(20 * 60), "end_time": at(21 * 60), "class": "prohibited",
        "reason": "public event",
    }
    body.update(changes)
    return body


def file(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/flight-plans", json=plan_body(**changes), headers=auth("operator"))
    assert response.status_code == 201, response.text
    flight: dict[str, Any] = response.json()
    return flight


def medium_plan(client: TestClient, minutes: float, **changes: Any) -> dict[str, Any]:
    """Chengdu reviews every medium drone: this plan waits for Chengdu's review."""
    flight = file(client, drone={"id": "heavy-1", "category": "medium"},
                  earliest_departure_time=at(minutes), latest_departure_time=at(minutes + 20),
                  **changes)
    assert flight["state"] == "pending_review"
    return flight


# -- reviews ----------------------------------------------------------------------------------


def test_a_pending_plan_is_listed_for_its_city_only(client: TestClient) -> None:
    flight = medium_plan(client, 0, origin={"vertiport": "CD-WCH"},
                         destination={"vertiport": "CD-SCU"})

    chengdu = client.get("/v1/reviews", headers=auth("regulator")).json()["items"]
    deyang = client.get("/v1/reviews", headers=auth("other_regulator")).json()["items"]

    item = next(i for i in chengdu if i["flight_plan_id"] == flight["id"])
    assert item["jurisdiction"] == "chengdu" and item["status"] == "pending"
    assert [r["code"] for r in item["reasons"]] == ["category_review"]
    assert all(i["flight_plan_id"] != flight["id"] for i in deyang)


def test_approval_by_the_city_approves_and_signs_the_plan(client: TestClient) -> None:
    flight = medium_plan(client, 30, origin={"vertiport": "CD-PPH"},
                         destination={"vertiport": "CD-TCM"})

    response = client.post(f"/v1/reviews/{flight['id']}", headers=auth("regulator"),
                           json={"decision": "approve", "note": "checked on the map"})

    assert response.status_code == 200
    reviewed = response.json()
    assert reviewed["state"] == "approved"
    assert reviewed["reviews"] == {"chengdu": "approved"}
    assert "review_approved" in [r["code"] for r in reviewed["decision"]["reasons"]]
    check = client.get(f"/v1/approvals/{reviewed['approval_id']}").json()
    assert check["valid"] is True
    again = client.post(f"/v1/reviews/{flight['id']}", headers=auth("regulator"),
                        json={"decision": "approve"})
    assert again.status_code == 409 and again.json()["code"] == "review_not_found"


def test_rejection_by_the_city_rejects_the_plan(client: TestClient) -> None:
    flight = medium_plan(client, 60, origin={"vertiport": "CD-SWP"},
                         destination={"vertiport": "CD-HYG"})

    response = client.post(f"/v1/reviews/{flight['id']}", headers=auth("regulator"),
                           json={"decision": "reject", "note": "too close to the school"})

    assert response.json()["state"] == "rejected"
    assert response.json()["volumes"] == []


def test_a_review_after_the_departure_is_refused_and_the_plan_expires(
        client: TestClient, clock: SteppedClock) -> None:
    flight = medium_plan(client, 90, origin={"vertiport": "CD-WCH"},
                         destination={"vertiport": "CD-TFS"})
    clock.instant = parse_instant(flight["departure_time"]) + timedelta(minutes=1)

    response = client.post(f"/v1/reviews/{flight['id']}", headers=auth("regulator"),
                           json={"decision": "approve", "note": "sorry, late"})

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_state_transition"
    assert "expired and is now rejected" in response.json()["detail"]
    after = client.get(f"/v1/flight-plans/{flight['id']}", headers=auth("operator")).json()
    assert after["state"] == "rejected" and after["volumes"] == []
    assert after["decision"]["reasons"][-1]["code"] == "review_expired"
    listed = client.get("/v1/reviews", headers=auth("regulator")).json()["items"]
    assert all(item["flight_plan_id"] != flight["id"] for item in listed)


def test_a_city_cannot_review_another_citys_part(client: TestClient) -> None:
    # Chengdu reviews medium drones, Deyang does not: only Chengdu's review is pending.
    flight = medium_plan(client, 90, origin={"vertiport": "CD-QBJ"},
                         destination={"vertiport": "DY-GHN"})
    assert flight["reviews"] == {"chengdu": "pending", "deyang": "automatic"}

    implicit = client.post(f"/v1/reviews/{flight['id']}", headers=auth("other_regulator"),
                           json={"decision": "approve"})
    explicit = client.post(f"/v1/reviews/{flight['id']}", headers=auth("other_regulator"),
                           json={"decision": "approve", "jurisdiction": "chengdu"})

    assert implicit.status_code == explicit.status_code == 403
    assert explicit.json()["field"] == "jurisdiction"


def test_admin_reviews_any_city(client: TestClient) -> None:
    flight = medium_plan(client, 120, origin={"vertiport": "CD-XLH"},
                         destination={"vertiport": "CD-SWP"})

    response = client.post(f"/v1/reviews/{flight['id']}", headers=auth("admin"),
                           json={"decision": "approve", "jurisdiction": "chengdu"})

    assert response.status_code == 200 and response.json()["state"] == "approved"


@pytest.mark.parametrize("body", [{"decision": "maybe"}, {"decision": True}, {},
                                  {"decision": "approve", "note": 5}])
def test_a_malformed_review_is_422(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/v1/reviews/fp-x", headers=auth("regulator"), json=body)

    assert response.status_code == 422


# -- constraints ------------------------------------------------------------------------------


def test_a_regulator_closes_an_area_in_its_city(client: TestClient,
                                                airspace_model: Airspace) -> None:
    response = client.post("/v1/constraints", json=constraint_body(), headers=auth("regulator"))

    assert response.status_code == 201
    issued = response.json()
    constraint = issued["constraint"]
    assert constraint["id"].startswith("cs-")
    assert constraint["jurisdiction"] == "chengdu"
    assert constraint["class"] == "prohibited"
    assert constraint["issued_by"] == "regulator:chengdu-caac"
    assert issued["affected"] == []
    assert constraint["id"] in airspace_model.zones
    listed = client.get("/v1/constraints", headers=auth("other_operator")).json()["items"]
    assert constraint["id"] in [c["id"] for c in listed]
    zones = client.get("/v1/zones", headers=auth("operator")).json()["features"]
    assert constraint["id"] in [z["id"] for z in zones]


def test_a_constraint_replans_the_flights_inside_it(client: TestClient,
                                                    clock: SteppedClock) -> None:
    flight = file(client, origin={"vertiport": "CD-NRS"}, destination={"vertiport": "CD-TFS"},
                  earliest_departure_time=at(150), latest_departure_time=at(170))
    middle = flight["route"]["coordinates"][len(flight["route"]["coordinates"]) // 2]
    closure = constraint_body(outline=square(middle[0] - 0.002, middle[1] - 0.002),
                              start_time=at(140), end_time=at(200), reason="fire")

    response = client.post("/v1/constraints", json=closure, headers=auth("regulator"))

    assert response.status_code == 201
    affected = response.json()["affected"]
    assert [a["id"] for a in affected] == [flight["id"]]
    after = client.get(f"/v1/flight-plans/{flight['id']}", headers=auth("operator")).json()
    assert "constraint" in after["notes"][-1]


@pytest.mark.parametrize(("changes", "status", "field"), [
    ({"outline": square(104.40, 31.10)}, 403, "outline"),            # inside Deyang
    ({"jurisdiction": "deyang"}, 403, "jurisdiction"),
    ({"outline": square(116.4, 39.9)}, 422, "outline"),               # Beijing
    ({"outline": square(30.90, 103.70)}, 422, "outline.coordinates[0][0]"),  # swapped
    ({"outline": square(103.7, 30.9, side_deg=0.2)}, 422, "outline"),  # 400 km²
    ({"floor_agl_m": 200, "ceiling_agl_m": 100}, 422, "floor_agl_m"),
    ({"start_time": at(-130), "end_time": at(-70)}, 422, "end_time"),  # ended 00:50Z
    ({"end_time": at(20 * 60 + 10 * 24 * 60)}, 422, "end_time"),
    ({"class": "controlled"}, 422, "class"),
    ({"start_time": "2026-12-01T22:00:00"}, 422, "start_time"),
    ({"outline": {"type": "Point", "coordinates": [104, 30]}}, 422, "outline.type"),
])
@pytest.mark.usefixtures("nothing_stored")
def test_a_bad_constraint_is_refused(client: TestClient, changes: dict[str, Any], status: int,
                                     field: str) -> None:
    response = client.post("/v1/constraints", json=constraint_body(**changes),
                           headers=auth("regulator"))

    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_constraints_can_be_listed_by_city(client: TestClient) -> None:
    client.post("/v1/constraints", json=constraint_body(outline=square(104.40, 31.10)),
                headers=auth("other_regulator"))

    deyang = client.get("/v1/constraints?jurisdiction=deyang", headers=auth("operator")).json()

    assert deyang["items"] and {c["jurisdiction"] for c in deyang["items"]} == {"deyang"}


# -- alerts -----------------------------------------------------------------------------------


def test_a_flight_off_its_volumes_alerts_its_citys_regulator(client: TestClient,
                                                             clock: SteppedClock) -> None:
    flight = file(client, origin={"vertiport": "CD-UES"}, destination={"vertiport": "CD-PDU"},
                  earliest_departure_time=at(240), latest_departure_time=at(240))
    clock.instant = parse_instant(flight["departure_time"])
    client.post(f"/v1/flight-plans/{flight['id']}/activate", headers=auth("operator"))
    client.post(f"/v1/flight-plans/{flight['id']}/telemetry", headers=auth("operator"), json={
        "lat": 30.80, "lng": 103.95, "alt_agl_m": 300, "time": flight["departure_time"]})

    chengdu = client.get("/v1/alerts", headers=auth("regulator")).json()["items"]
    deyang = client.get("/v1/alerts", headers=auth("other_regulator")).json()["items"]

    alert = next(a for a in chengdu if a["flight_id"] == flight["id"])
    assert alert["kind"] == "nonconforming" and alert["jurisdiction"] == "chengdu"
    assert alert["operator_id"] == "sf-express"
    assert all(a["flight_id"] != flight["id"] for a in deyang)


def test_a_regulator_lists_only_its_own_cities(client: TestClient) -> None:
    response = client.get("/v1/alerts?jurisdiction=deyang", headers=auth("regulator"))

    assert response.status_code == 403
    assert response.json()["field"] == "jurisdiction"
