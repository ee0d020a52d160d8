"""Route planning for logistics firms: single and batch, nothing reserved."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from testbed import auth

from api.deps import Services


def route_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "origin": {"vertiport": "CD-TFS"}, "destination": {"vertiport": "DY-CTR"},
        "departure_time": "2026-12-01T02:00:00Z", "drone": {"id": "d-1", "category": "light"},
    }
    body.update(changes)
    return body


def test_a_cross_city_route_comes_with_volumes_and_times(client: TestClient,
                                                         services: Services) -> None:
    response = client.post("/v1/routes/plan", json=route_body(), headers=auth("operator"))

    assert response.status_code == 200
    plan = response.json()
    assert plan["route"]["type"] == "LineString"
    assert plan["departure_time"] == "2026-12-01T02:00:00Z"
    assert plan["arrival_time"] > plan["departure_time"]
    assert plan["distance_m"] > 40_000
    assert plan["corridors"]
    assert plan["volumes"] and set(plan["volumes"][0]) == {
        "outline", "floor_agl_m", "ceiling_agl_m", "start_time", "end_time"}
    assert plan["legs"][0]["kind"] == "climb"
    assert services.engine.store.list_flights(limit=10) == []  # nothing reserved


def test_a_point_to_point_route(client: TestClient) -> None:
    body = route_body(origin={"lat": 29.95, "lng": 103.6}, destination={"vertiport": "MS-CTR"},
                      departure_time="2026-12-01T10:00:00+08:00")

    response = client.post("/v1/routes/plan", json=body, headers=auth("regulator"))

    assert response.status_code == 200
    first = response.json()["route"]["coordinates"][0]
    assert first[:2] == [103.6, 29.95]


def test_an_unknown_vertiport_is_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/v1/routes/plan", json=route_body(destination={"vertiport": "DY-X"}),
                           headers=auth("operator"))

    assert response.status_code == 422
    assert response.json()["code"] == "unknown_vertiport"
    assert response.json()["field"] == "destination.vertiport"


def test_a_batch_answers_each_request_in_its_place(client: TestClient) -> None:
    requests = [
        route_body(),
        route_body(origin={"vertiport": "CD-NOPE"}),
        route_body(destination={"lat": 39.9, "lng": 116.4}),
        route_body(origin={"vertiport": "MS-CTR"}, destination={"vertiport": "MS-LOG"}),
    ]

    response = client.post("/v1/routes/plan:batch", json={"requests": requests},
                           headers=auth("operator"))

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == [200, 422, 422, 200]
    assert results[0]["plan"]["volumes"] and results[3]["plan"]["volumes"]
    assert results[1]["problem"]["code"] == "unknown_vertiport"
    assert results[1]["problem"]["field"] == "requests[1].origin.vertiport"
    assert results[2]["problem"]["code"] == "outside_service_area"
    assert results[2]["problem"]["field"] == "requests[2].destination"


def test_a_batch_must_hold_1_to_100_requests(client: TestClient) -> None:
    empty = client.post("/v1/routes/plan:batch", json={"requests": []}, headers=auth("operator"))
    huge = client.post("/v1/routes/plan:batch", json={"requests": [route_body()] * 101},
                       headers=auth("operator"))

    assert empty.status_code == huge.status_code == 422
    assert empty.json()["field"] == huge.json()["field"] == "requests"


def test_a_malformed_request_in_a_batch_fails_the_whole_batch(client: TestClient) -> None:
    requests = [route_body(), route_body(departure_time=0)]

    response = client.post("/v1/routes/plan:batch", json={"requests": requests},
                           headers=auth("operator"))

    assert response.status_code == 422
    assert response.json()["field"] == "requests[1].departure_time"
