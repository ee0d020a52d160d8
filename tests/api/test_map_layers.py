"""The map's own endpoints: who is signed in (``/v1/map/context``) and the flights of a time
window in compact form (``/v1/map/flights``), with the visibility rules of the other lists."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from testbed import NOW0, T0, auth, plan_body

from airspace import Airspace
from airspace.timing import format_instant


def at(minutes: float) -> str:
    return format_instant(T0 + timedelta(minutes=minutes))


def file(client: TestClient, who: str = "operator", **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/flight-plans", json=plan_body(**changes), headers=auth(who))
    assert response.status_code == 201, response.text
    flight: dict[str, Any] = response.json()
    return flight


def tracks(client: TestClient, who: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/map/flights", params=params, headers=auth(who))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture(scope="module")
def traffic(client: TestClient) -> dict[str, dict[str, Any]]:
    """Four flights: two of sf-express in Chengdu (one at T0, one four hours later), one of
    meituan-air from Chengdu to Deyang, and one waiting for Chengdu's review."""
    return {
        "early": file(client),
        "late": file(client, earliest_departure_time=at(240), latest_departure_time=at(260),
                     drone={"id": "drone-2", "category": "light"}),
        "cross": file(client, "other_operator", destination={"vertiport": "DY-CTR"},
                      drone={"id": "drone-3", "category": "light"}),
        "review": file(client, origin={"vertiport": "CD-WCH"},
                       destination={"vertiport": "CD-SCU"},
                       drone={"id": "heavy-1", "category": "medium"}),
    }


def test_context_names_the_principal_the_clock_and_the_layers(client: TestClient,
                                                              airspace_model: Airspace) -> None:
    regulator = client.get("/v1/map/context", headers=auth("regulator")).json()
    assert regulator["principal"] == {"name": "chengdu-caac", "role": "regulator",
                                      "operator_id": None, "jurisdictions": ["chengdu"]}
    assert regulator["cities"] == ["chengdu"]
    assert regulator["now"] == format_instant(NOW0)
    assert regulator["max_cell_bbox_span_deg"] == 0.1
    layers = regulator["altitude_layers"]
    assert len(layers) == airspace_model.layers.count
    assert layers[1] == {"index": 1, "floor_agl_m": 30.0, "ceiling_agl_m": 60.0}
    admin = client.get("/v1/map/context", headers=auth("admin")).json()
    assert admin["cities"] == sorted(airspace_model.jurisdictions)
    assert "token" not in str(admin)


def test_context_needs_a_token(client: TestClient) -> None:
    assert client.get("/v1/map/context").status_code == 401
    response = client.get("/v1/map/context", headers={"Authorization": "Bearer nobody-at-all"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_a_track_is_the_route_of_the_plan(client: TestClient,
                                          traffic: dict[str, dict[str, Any]]) -> None:
    early = traffic["early"]
    (track,) = [t for t in tracks(client, "admin") if t["id"] == early["id"]]
    assert {key: track[key] for key in ("state", "priority", "operator_id", "jurisdictions",
                                        "departure_time", "arrival_time")} == {
        key: early[key] for key in ("state", "priority", "operator_id", "jurisdictions",
                                    "departure_time", "arrival_time")}
    route = [position[:2] for position in early["route"]["coordinates"]]
    assert track["path"][0] == pytest.approx(route[0], abs=1e-6)
    assert track["path"][-1] == pytest.approx(route[-1], abs=1e-6)
    assert len(track["path"]) >= 2


@pytest.mark.parametrize(("who", "expected"), [
    ("operator", {"early", "review"}),  # its own; "late" is outside the default window
    ("other_operator", {"cross"}),
    ("regulator", {"early", "cross", "review"}),  # crossing Chengdu
    ("other_regulator", {"cross"}),  # crossing Deyang
    ("admin", {"early", "cross", "review"}),
])
def test_each_principal_sees_the_flights_it_may(client: TestClient,
                                                traffic: dict[str, dict[str, Any]], who: str,
                                                expected: set[str]) -> None:
    names = {flight["id"]: name for name, flight in traffic.items()}
    assert {names[t["id"]] for t in tracks(client, who)} == expected


def test_the_window_and_the_filters(client: TestClient,
                                    traffic: dict[str, dict[str, Any]]) -> None:
    names = {flight["id"]: name for name, flight in traffic.items()}

    def seen(who: str = "admin", **params: Any) -> set[str]:
        return {names[t["id"]] for t in tracks(client, who, **params)}

    assert seen(start_time=at(200), end_time=at(300)) == {"late"}
    assert seen(start_time=at(-60), end_time=at(300)) == set(traffic)
    early = traffic["early"]
    assert "early" not in seen(start_time=early["arrival_time"], end_time=at(200))
    assert "early" not in seen(start_time=at(-60), end_time=early["departure_time"])
    assert seen(start_time=at(-60), end_time=at(300), jurisdiction="deyang") == {"cross"}
    assert seen(state="pending_review") == {"review"}
    assert seen(state=["approved", "pending_review"]) == {"early", "cross", "review"}
    assert seen("regulator", jurisdiction="chengdu") == {"early", "cross", "review"}


def test_pages_walk_every_track_once(client: TestClient,
                                     traffic: dict[str, dict[str, Any]]) -> None:
    window = {"start_time": at(-60), "end_time": at(300)}
    walked: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {**window, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        answer = client.get("/v1/map/flights", params=params, headers=auth("admin")).json()
        walked += [t["id"] for t in answer["items"]]
        assert answer["start_time"] == window["start_time"]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert walked == sorted(f["id"] for f in traffic.values())


@pytest.mark.parametrize(("who", "params", "status", "field"), [
    ("admin", {"start_time": at(60), "end_time": at(60)}, 422, "end_time"),
    ("admin", {"start_time": at(0), "end_time": at(8 * 24 * 60)}, 422, "end_time"),
    ("admin", {"start_time": "2026-12-01T02:00:00"}, 422, "start_time"),  # no offset
    ("admin", {"limit": 5001}, 422, "limit"),
    ("admin", {"cursor": "not-ours"}, 422, "cursor"),
    ("admin", {"state": "flying"}, 422, "state"),
    ("admin", {"window": "1h"}, 422, "window"),
    ("regulator", {"jurisdiction": "deyang"}, 403, "jurisdiction"),
    (None, {}, 401, None),
])
def test_bad_requests_are_problems(client: TestClient, who: str | None,
                                   params: dict[str, Any], status: int,
                                   field: str | None) -> None:
    response = client.get("/v1/map/flights", params=params,
                          headers=auth(who) if who else {})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field is not None:
        problem = response.json()
        assert problem.get("field") == field or field in str(problem.get("errors")), problem


def test_the_map_page_and_its_files_are_served(client: TestClient) -> None:
    page = client.get("/map")
    assert page.status_code == 200
    for path in ("/static/app/map.js", "/static/app/map.css", "/static/leaflet/leaflet.js",
                 "/static/leaflet/leaflet.css"):
        assert path in page.text
        assert client.get(path).status_code == 200, path
    script = client.get("/static/app/map.js").text
    assert "innerHTML" not in script  # every string reaches the page as text
    for text in (page.text, script, client.get("/static/app/map.css").text):
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
