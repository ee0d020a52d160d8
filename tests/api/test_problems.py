"""Bad input gets an RFC 9457 problem naming the field at fault, and leaves nothing stored."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from testbed import auth, plan_body

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: Any, status: int, code: str,
                   field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert set(problem) >= PROBLEM_KEYS
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"].endswith(code)
    assert problem["title"] and problem["detail"]
    if field is not None:
        assert problem["field"] == field
    return problem


def with_change(path: str, value: Any) -> dict[str, Any]:
    """``plan_body()`` with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    body = copy.deepcopy(plan_body())
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


BAD_PLANS = [
    # (what, dotted path, value, expected field, expected code)
    ("0 as a date", "earliest_departure_time", 0, "earliest_departure_time", "invalid_request"),
    ("a naive datetime", "earliest_departure_time", "2026-12-01T02:00:00",
     "earliest_departure_time", "invalid_request"),
    ("a date without a time", "latest_departure_time", "2026-12-01", "latest_departure_time",
     "invalid_request"),
    ("an impossible date", "earliest_departure_time", "2026-02-30T02:00:00Z",
     "earliest_departure_time", "invalid_request"),
    ("false as a number", "cruise_agl_m", False, "cruise_agl_m", "invalid_request"),
    ("a string as a number", "cruise_agl_m", "60", "cruise_agl_m", "invalid_request"),
    ("a number as a string", "purpose", 7, "purpose", "invalid_request"),
    ("an unknown field", "colour", "red", "colour", "invalid_request"),
    ("a misspelt nested field", "drone.categry", "light", "drone.categry", "invalid_request"),
    ("a missing field", "drone", ..., "drone", "invalid_request"),
    ("an unknown category", "drone.category", "jumbo", "drone.category", "invalid_request"),
    ("an unknown priority", "priority", "urgent", "priority", "invalid_request"),
    ("swapped coordinates", "origin", {"lat": 104.06, "lng": 30.65}, "origin.lat",
     "invalid_request"),
    ("a latitude out of range", "destination", {"lat": -91.0, "lng": 104.0},
     "destination.lat", "invalid_request"),
    ("a longitude out of range", "destination", {"lat": 30.6, "lng": 181.0},
     "destination.lng", "invalid_request"),
    ("both endpoint forms", "origin", {"vertiport": "CD-TFS", "lat": 30.6}, "origin.lat",
     "invalid_request"),
    ("an endpoint without lng", "origin", {"lat": 30.6}, "origin.lng", "invalid_request"),
    ("an endpoint that is not an object", "origin", "CD-TFS", "origin", "invalid_request"),
    ("an unknown vertiport", "origin", {"vertiport": "CD-NOPE"}, "origin.vertiport",
     "unknown_vertiport"),
    ("a point outside the service area", "destination", {"lat": 39.9, "lng": 116.4},
     "destination", "outside_service_area"),
    ("a point in prohibited airspace", "origin", {"lat": 30.5785, "lng": 103.947}, "origin",
     "endpoint_in_prohibited_airspace"),
    ("a window ending before it starts", "latest_departure_time", "2026-12-01T01:59:00Z",
     "latest_departure_time", "invalid_flight_plan"),
    ("a window in the past", "latest_departure_time", "2026-11-30T02:00:00Z",
     "latest_departure_time", "invalid_flight_plan"),
    ("a height above the category's limit", "drone.max_height_agl_m", 150.0,
     "drone.max_height_agl_m", "invalid_route_request"),
    ("an id with spaces", "drone.id", "my drone", "drone.id", "invalid_request"),
]


@pytest.mark.parametrize(("path", "value", "field", "code"),
                         [case[1:] for case in BAD_PLANS], ids=[case[0] for case in BAD_PLANS])
@pytest.mark.usefixtures("nothing_stored")
def test_a_bad_flight_plan_is_a_problem_naming_the_field(
    client: TestClient, path: str, value: Any, field: str, code: str
) -> None:
    response = client.post("/v1/flight-plans", json=with_change(path, value),
                           headers=auth("operator"))

    assert_problem(response, 422, code, field)


@pytest.mark.usefixtures("nothing_stored")
def test_validation_lists_every_field_at_fault(client: TestClient) -> None:
    body = plan_body(earliest_departure_time=0, cruise_agl_m=False)

    problem = assert_problem(client.post("/v1/flight-plans", json=body,
                                         headers=auth("operator")), 422, "invalid_request")

    assert {error["field"] for error in problem["errors"]} == {"earliest_departure_time",
                                                                "cruise_agl_m"}


@pytest.mark.parametrize("content", [b"{", b"not json", b'{"origin": }', b"\xff\xfe"])
@pytest.mark.usefixtures("nothing_stored")
def test_malformed_json_is_400(client: TestClient, content: bytes) -> None:
    response = client.post("/v1/flight-plans", content=content,
                           headers={**auth("operator"), "content-type": "application/json"})

    assert_problem(response, 400, "malformed_json", "body")


@pytest.mark.parametrize("content", [b"[]", b"null", b"42", b'"plan"'])
@pytest.mark.usefixtures("nothing_stored")
def test_json_that_is_not_an_object_is_422(client: TestClient, content: bytes) -> None:
    response = client.post("/v1/flight-plans", content=content,
                           headers={**auth("operator"), "content-type": "application/json"})

    assert_problem(response, 422, "invalid_request")


@pytest.mark.parametrize("content_type", [None, "text/plain",
                                          "application/x-www-form-urlencoded"])
@pytest.mark.usefixtures("nothing_stored")
def test_a_body_not_sent_as_json_is_415(client: TestClient, content_type: str | None) -> None:
    headers = auth("operator") | ({"content-type": content_type} if content_type else {})

    response = client.post("/v1/flight-plans", content=json.dumps(plan_body()),
                           headers=headers)

    assert_problem(response, 415, "unsupported_media_type", "body")


@pytest.mark.usefixtures("nothing_stored")
def test_a_missing_body_is_422(client: TestClient) -> None:
    assert_problem(client.post("/v1/flight-plans", headers=auth("operator")), 422,
                   "invalid_request", "body")


@pytest.mark.usefixtures("nothing_stored")
def test_nan_is_not_a_number(client: TestClient) -> None:
    content = b'{"lat": NaN, "lng": 104.0, "alt_agl_m": 50, "time": "2026-12-01T02:00:00Z"}'

    response = client.post("/v1/flight-plans/fp-x/telemetry", content=content,
                           headers={**auth("operator"), "content-type": "application/json"})

    assert_problem(response, 422, "invalid_request", "lat")


@pytest.mark.usefixtures("nothing_stored")
def test_an_oversized_body_is_413(client: TestClient) -> None:
    body = plan_body(purpose="x" * (1024 * 1024 + 1))

    response = client.post("/v1/flight-plans", json=body, headers=auth("operator"))

    assert_problem(response, 413, "body_too_large")


@pytest.mark.usefixtures("nothing_stored")
def test_an_oversized_chunked_body_is_413(client: TestClient) -> None:
    chunks = (b"x" * 65536 for _ in range(20))  # no Content-Length: sent chunked

    response = client.post("/v1/flight-plans", content=chunks,
                           headers={**auth("operator"), "content-type": "application/json"})

    assert_problem(response, 413, "body_too_large")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0000000000"},
                                     {"Authorization": "Basic dXNlcjpwYXNz"},
                                     {"Authorization": "Bearer"}])
@pytest.mark.usefixtures("nothing_stored")
def test_without_a_valid_token_it_is_401_with_a_challenge(client: TestClient,
                                                          headers: dict[str, str]) -> None:
    response = client.post("/v1/flight-plans", json=plan_body(), headers=headers)

    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_problem_never_echoes_the_token(client: TestClient) -> None:
    token = "Bearer secret-token-that-must-not-leak"

    response = client.get("/v1/zones", headers={"Authorization": token})

    assert "secret-token" not in response.text


def test_an_unknown_path_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/nowhere"), 404, "not_found")


def test_a_wrong_method_is_405_with_every_allowed_method(client: TestClient) -> None:
    response = client.delete("/v1/flight-plans", headers=auth("operator"))

    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize(("url", "field"), [
    ("/v1/airspace/classify?lat=30.6&lng=104.0&alt_agl_m=false", "alt_agl_m"),
    ("/v1/airspace/classify?lat=104.0&lng=30.6&alt_agl_m=50", "lat"),
    ("/v1/airspace/classify?lat=30.6&lng=104.0&alt_agl_m=nan", "alt_agl_m"),
    ("/v1/airspace/classify?lat=30.6&lng=104.0&alt_agl_m=50&time=0", "time"),
    ("/v1/airspace/classify?lat=30.6&lng=104.0&alt_agl_m=50&time=2026-12-01T02:00:00",
     "time"),
    ("/v1/airspace/classify?lat=30.6&lng=104.0&alt_agl_m=50&altitude=50", "altitude"),
    ("/v1/airspace/cells?bbox=104,30", "bbox"),
    ("/v1/airspace/cells?bbox=104.1,30.6,104.0,30.7", "bbox"),
    ("/v1/airspace/cells?bbox=103,30,105,31", "bbox"),
    ("/v1/airspace/cells?bbox=104.0,30.6,104.05,30.65&layer=9", "layer"),
])
def test_bad_query_parameters_are_422_naming_the_parameter(client: TestClient, url: str,
                                                           field: str) -> None:
    assert_problem(client.get(url, headers=auth("operator")), 422, "invalid_request", field)
