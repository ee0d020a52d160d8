"""Hostile input, endpoint by endpoint: each case gets a 4xx problem saying what is wrong and
where, never a 500, and nothing of a refused request is stored.

One table, by class of hostility (malformed JSON, wrong types, NaN and infinities, coordinates,
polygons, vertex counts, nesting, times, durations, unknown ids, sizes, unicode). A case is
``(name, method, path, who, body, status, code, field)``: ``body`` is a JSON value (sent as
JSON), ``bytes`` (sent as they are, as ``application/json``) or ``None`` (no body). After
every case the store holds the same flights, audit entries, constraints and alerts as before
(the ``nothing_stored`` fixture).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from testbed import auth, plan_body

from airspace.timing import format_instant
from api.problems import MAX_LISTED_ERRORS

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


@dataclass(frozen=True)
class Case:
    """One hostile request and the problem it must get."""

    name: str
    method: str
    path: str
    who: str
    body: Any
    status: int
    code: str
    field: str | None = None


def raw(document: dict[str, Any], **tokens: bytes) -> bytes:
    """``document`` as JSON bytes, with each string ``"<NAME>"`` replaced by the raw bytes
    ``tokens[NAME]``: how to send what ``json.dumps`` will not write (``NaN``, 400 digits,
    escapes of lone surrogates)."""
    text = json.dumps(document).encode()
    for name, value in tokens.items():
        text = text.replace(f'"<{name}>"'.encode(), value)
    return text


def route_body(**changes: Any) -> dict[str, Any]:
    """A route from CD-TFS to CD-JRC at T0."""
    body: dict[str, Any] = {"origin": {"vertiport": "CD-TFS"},
                            "destination": {"vertiport": "CD-JRC"},
                            "departure_time": "2026-12-01T02:00:00Z",
                            "drone": {"id": "d-1", "category": "light"}}
    body.update(changes)
    return body


SQUARE = [[103.70, 30.90], [103.703, 30.90], [103.703, 30.903], [103.70, 30.903], [103.70, 30.90]]
"""About 290 m by 330 m in Chengdu, away from every zone."""


def constraint_body(ring: list[list[float]] | None = None, **changes: Any) -> dict[str, Any]:
    """A Chengdu restriction tonight (22:00 to 23:00 UTC)."""
    body: dict[str, Any] = {
        "outline": {"type": "Polygon", "coordinates": [ring if ring is not None else SQUARE]},
        "floor_agl_m": 0, "ceiling_agl_m": 120, "start_time": "2026-12-01T22:00:00Z",
        "end_time": "2026-12-01T23:00:00Z", "class": "restricted"}
    body.update(changes)
    return body


def telemetry_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"lat": 30.6, "lng": 104.06, "alt_agl_m": 40.0,
                            "time": "2026-12-01T02:00:00Z"}
    body.update(changes)
    return body


def circle(count: int, radius_deg: float = 0.001) -> list[list[float]]:
    """A closed ring of ``count`` positions around (103.75, 30.90)."""
    import math

    ring = [[round(103.75 + radius_deg * math.cos(2 * math.pi * k / (count - 1)), 7),
             round(30.90 + radius_deg * math.sin(2 * math.pi * k / (count - 1)), 7)]
            for k in range(count - 1)]
    return [*ring, ring[0]]


BOW_TIE = [[103.79, 30.86], [103.81, 30.88], [103.81, 30.86], [103.79, 30.88], [103.79, 30.86]]
FP = "/v1/flight-plans"
PLAN = "/v1/routes/plan"
BATCH = "/v1/routes/plan:batch"
CONSTRAINTS = "/v1/constraints"
TELEMETRY = "/v1/flight-plans/fp-1a2b3c/telemetry"
REVIEW = "/v1/reviews/fp-1a2b3c"

MALFORMED_JSON = [
    Case("truncated object", "POST", FP, "operator", b'{"origin": {"vertiport": ', 400,
         "malformed_json", "body"),
    Case("trailing comma", "POST", PLAN, "operator", b'{"origin": {"vertiport": "CD-TFS"},}',
         400, "malformed_json", "body"),
    Case("single quotes", "POST", CONSTRAINTS, "regulator", b"{'floor_agl_m': 0}", 400,
         "malformed_json", "body"),
    Case("invalid UTF-8", "POST", TELEMETRY, "operator", b'{"lat": "\xc0\xaf"}', 400,
         "malformed_json", "body"),
    Case("two documents", "POST", REVIEW, "regulator", b'{"decision": "approve"} {}', 400,
         "malformed_json", "body"),
    Case("an array, not an object", "POST", BATCH, "operator", b"[]", 422, "invalid_request",
         "body"),
    Case("empty body", "POST", FP, "operator", b"", 422, "invalid_request", "body"),
]

WRONG_TYPES = [
    Case("latitude as a string", "POST", TELEMETRY, "operator", telemetry_body(lat="30.6"),
         422, "invalid_request", "lat"),
    Case("altitude as a boolean", "POST", TELEMETRY, "operator", telemetry_body(alt_agl_m=True),
         422, "invalid_request", "alt_agl_m"),
    Case("drone as a list", "POST", FP, "operator", plan_body(drone=["d-1", "light"]), 422,
         "invalid_request", "drone"),
    Case("requests as an object", "POST", BATCH, "operator", {"requests": route_body()}, 422,
         "invalid_request", "requests"),
    Case("geometry of another type", "POST", CONSTRAINTS, "regulator",
         constraint_body(outline={"type": "Point", "coordinates": [104.0, 30.6]}), 422,
         "invalid_request", "outline.type"),
    Case("positions as strings", "POST", CONSTRAINTS, "regulator",
         constraint_body([["103.70", "30.90"]] * 4), 422, "invalid_request",
         "outline.coordinates[0][0][0]"),
    Case("decision as a number", "POST", REVIEW, "regulator", {"decision": 1}, 422,
         "invalid_request", "decision"),
    Case("a date as a number", "POST", PLAN, "operator", route_body(departure_time=1_764_554_400),
         422, "invalid_request", "departure_time"),
    Case("class as null", "POST", CONSTRAINTS, "regulator", constraint_body(**{"class": None}),
         422, "invalid_request", "class"),
]

NON_FINITE = [
    Case("NaN latitude", "POST", TELEMETRY, "operator",
         raw(telemetry_body(lat="<X>"), X=b"NaN"), 422, "invalid_request", "lat"),
    Case("Infinity floor", "POST", CONSTRAINTS, "regulator",
         raw(constraint_body(floor_agl_m="<X>"), X=b"Infinity"), 422, "invalid_request",
         "floor_agl_m"),
    Case("-Infinity cruise height", "POST", FP, "operator",
         raw(plan_body(cruise_agl_m="<X>"), X=b"-Infinity"), 422, "invalid_request",
         "cruise_agl_m"),
    Case("1e400 overflows to infinity", "POST", PLAN, "operator",
         raw(route_body(origin={"lat": "<X>", "lng": 104.06}), X=b"1e400"), 422,
         "invalid_request", "origin.lat"),
    Case("NaN in a ring", "POST", CONSTRAINTS, "regulator",
         raw(constraint_body([[103.70, 30.90], ["<X>", 30.90], [103.703, 30.903],
                              [103.70, 30.90]]), X=b"NaN"), 422, "invalid_request",
         "outline.coordinates[0][1][0]"),
    Case("NaN drone speed", "POST", BATCH, "operator",
         raw({"requests": [route_body(drone={"id": "d", "category": "light",
                                             "cruise_speed_mps": "<X>"})]}, X=b"NaN"),
         422, "invalid_request", "requests[0].drone.cruise_speed_mps"),
]

COORDINATES = [
    Case("swapped point endpoint", "POST", FP, "operator",
         plan_body(origin={"lat": 104.06, "lng": 30.65}), 422, "invalid_request", "origin.lat"),
    Case("latitude beyond the pole", "POST", TELEMETRY, "operator", telemetry_body(lat=90.5),
         422, "invalid_request", "lat"),
    Case("longitude beyond 180", "POST", PLAN, "operator",
         route_body(destination={"lat": 30.6, "lng": -180.5}), 422, "invalid_request",
         "destination.lng"),
    Case("swapped ring", "POST", CONSTRAINTS, "regulator",
         constraint_body([[lat, lng] for lng, lat in SQUARE]), 422, "invalid_request",
         "outline.coordinates[0][0]"),
    Case("a point far outside", "POST", FP, "operator",
         plan_body(destination={"lat": -33.86, "lng": 151.21}), 422, "outside_service_area",
         "destination"),
    Case("a height below ground", "POST", TELEMETRY, "operator",
         telemetry_body(alt_agl_m=-500.0), 422, "invalid_request", "alt_agl_m"),
]

POLYGONS = [
    Case("self-intersecting ring", "POST", CONSTRAINTS, "regulator", constraint_body(BOW_TIE),
         422, "invalid_position", "outline"),
    Case("ring that is not closed", "POST", CONSTRAINTS, "regulator",
         constraint_body(SQUARE[:-1]), 422, "invalid_request", "outline.coordinates[0]"),
    Case("ring of one repeated point", "POST", CONSTRAINTS, "regulator",
         constraint_body([SQUARE[0]] * 4), 422, "invalid_position", "outline"),
    Case("hole outside its shell", "POST", CONSTRAINTS, "regulator",
         constraint_body(outline={"type": "Polygon", "coordinates": [
             SQUARE, [[103.80, 30.80], [103.801, 30.80], [103.801, 30.801], [103.80, 30.80]]]}),
         422, "invalid_position", "outline"),
    Case("the whole globe", "POST", CONSTRAINTS, "admin",
         constraint_body([[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]), 422,
         "outside_service_area", "outline"),
    Case("across the antimeridian", "POST", CONSTRAINTS, "admin",
         constraint_body([[179.0, 0.0], [-179.0, 0.0], [-179.0, 1.0], [179.0, 0.0]]), 422,
         "outside_service_area", "outline"),
    Case("bigger than 100 km²", "POST", CONSTRAINTS, "regulator",
         constraint_body([[103.70, 30.70], [103.85, 30.70], [103.85, 30.85], [103.70, 30.85],
                          [103.70, 30.70]]), 422, "invalid_constraint", "outline"),
    Case("reaching into another city", "POST", CONSTRAINTS, "regulator",
         constraint_body([[104.36, 31.05], [104.40, 31.05], [104.40, 31.09], [104.36, 31.09],
                          [104.36, 31.05]]), 403, "forbidden", "outline"),
]

VERTICES = [
    Case("a million positions", "POST", CONSTRAINTS, "regulator",
         b'{"outline": {"type": "Polygon", "coordinates": [['
         + b"[104.0,30.6]," * 999_999 + b"[104.0,30.6]]]}}", 413, "body_too_large"),
    Case("a ring of 2001 positions", "POST", CONSTRAINTS, "regulator",
         constraint_body(circle(2001)), 422, "invalid_request", "outline.coordinates[0]"),
    Case("21 rings", "POST", CONSTRAINTS, "regulator",
         constraint_body(outline={"type": "Polygon", "coordinates": [SQUARE] * 21}), 422,
         "invalid_request", "outline.coordinates"),
    Case("20 rings of 1,500 positions, all the same", "POST", CONSTRAINTS, "regulator",
         constraint_body(outline={"type": "Polygon", "coordinates": [circle(1500)] * 20}), 422,
         "invalid_position", "outline"),
    Case("101 routes in a batch", "POST", BATCH, "operator", {"requests": [route_body()] * 101},
         422, "invalid_request", "requests"),
]

NESTING = [
    Case("100,000 nested arrays", "POST", FP, "operator", b"[" * 100_000 + b"]" * 100_000, 400,
         "malformed_json", "body"),
    Case("100,000 nested objects", "POST", CONSTRAINTS, "regulator",
         b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, "malformed_json", "body"),
    Case("500 nested arrays as a purpose", "POST", FP, "operator",
         raw(plan_body(purpose="<X>"), X=b"[" * 500 + b"]" * 500), 422, "invalid_request",
         "purpose"),
    Case("an integer of 5,000 digits", "POST", FP, "operator",
         raw(plan_body(cruise_agl_m="<X>"), X=b"9" * 5000), 400, "malformed_json", "body"),
    Case("a nested object where a string belongs", "POST", REVIEW, "regulator",
         {"decision": {"decision": {"decision": "approve"}}}, 422, "invalid_request",
         "decision"),
]

TIMES = [
    Case("naive departure", "POST", FP, "operator",
         plan_body(earliest_departure_time="2026-12-01T02:00:00"), 422, "invalid_request",
         "earliest_departure_time"),
    Case("naive telemetry time", "POST", TELEMETRY, "operator",
         telemetry_body(time="2026-12-01 02:00:00"), 422, "invalid_request", "time"),
    Case("31 days ahead (ASTM F3548: 30 at most)", "POST", FP, "operator",
         plan_body(earliest_departure_time="2027-01-01T02:00:00Z",
                   latest_departure_time="2027-01-01T02:10:00Z"), 422, "invalid_flight_plan",
         "earliest_departure_time"),
    Case("a route 31 days ahead", "POST", PLAN, "operator",
         route_body(departure_time="2027-01-01T02:00:00Z"), 422, "invalid_route_request",
         "departure_time"),
    Case("year 9999", "POST", PLAN, "operator", route_body(departure_time="9999-12-31T23:59:59Z"),
         422, "invalid_request", "departure_time"),
    Case("year 1 with an offset", "POST", FP, "operator",
         plan_body(earliest_departure_time="0001-01-01T00:00:00+01:00"), 422,
         "invalid_request", "earliest_departure_time"),
    Case("before 1970", "POST", TELEMETRY, "operator",
         telemetry_body(time="1969-12-31T23:59:59Z"), 422, "invalid_request", "time"),
    Case("a constraint 31 days ahead", "POST", CONSTRAINTS, "regulator",
         constraint_body(start_time="2027-01-01T22:00:00Z", end_time="2027-01-01T23:00:00Z"),
         422, "invalid_constraint", "start_time"),
    Case("offset +24:00", "POST", FP, "operator",
         plan_body(earliest_departure_time="2026-12-01T02:00:00+24:00"), 422,
         "invalid_request", "earliest_departure_time"),
    Case("a leap second", "POST", FP, "operator",
         plan_body(latest_departure_time="2026-12-31T23:59:60Z"), 422, "invalid_request",
         "latest_departure_time"),
    Case("hour 24", "POST", CONSTRAINTS, "regulator",
         constraint_body(end_time="2026-12-01T24:00:00Z"), 422, "invalid_request", "end_time"),
]

DURATIONS = [
    Case("a window ending before it starts", "POST", FP, "operator",
         plan_body(latest_departure_time="2026-12-01T01:59:59Z"), 422, "invalid_flight_plan",
         "latest_departure_time"),
    Case("a window of more than 24 hours", "POST", FP, "operator",
         plan_body(latest_departure_time="2026-12-02T02:00:01Z"), 422, "invalid_flight_plan",
         "latest_departure_time"),
    Case("a constraint of zero duration", "POST", CONSTRAINTS, "regulator",
         constraint_body(end_time="2026-12-01T22:00:00Z"), 422, "invalid_constraint",
         "end_time"),
    Case("a constraint ending before it starts", "POST", CONSTRAINTS, "regulator",
         constraint_body(end_time="2026-12-01T21:00:00Z"), 422, "invalid_constraint",
         "end_time"),
    Case("a constraint of more than 7 days", "POST", CONSTRAINTS, "regulator",
         constraint_body(end_time="2026-12-09T22:00:00Z"), 422, "invalid_constraint",
         "end_time"),
    Case("a constraint with no thickness", "POST", CONSTRAINTS, "regulator",
         constraint_body(floor_agl_m=60, ceiling_agl_m=60), 422, "invalid_constraint",
         "floor_agl_m"),
    Case("a window in the past", "POST", FP, "operator",
         plan_body(earliest_departure_time="2026-11-30T02:00:00Z",
                   latest_departure_time="2026-11-30T02:10:00Z"), 422, "invalid_flight_plan",
         "latest_departure_time"),
]

UNKNOWN_IDS = [
    Case("telemetry for no plan", "POST", TELEMETRY, "operator", telemetry_body(), 404,
         "flight_plan_not_found"),
    Case("review of no plan", "POST", REVIEW, "regulator", {"decision": "approve"}, 404,
         "flight_plan_not_found"),
    Case("cancel no plan", "POST", "/v1/flight-plans/fp-nope/cancel", "admin", None, 404,
         "flight_plan_not_found"),
    Case("activate no plan", "POST", "/v1/flight-plans/fp-nope/activate", "operator", None, 404,
         "flight_plan_not_found"),
    Case("end no plan", "POST", "/v1/flight-plans/fp-nope/end", "operator", None, 404,
         "flight_plan_not_found"),
    Case("unknown vertiport", "POST", FP, "operator", plan_body(origin={"vertiport": "XX-0"}),
         422, "unknown_vertiport", "origin.vertiport"),
    Case("unknown vertiport in a route", "POST", PLAN, "operator",
         route_body(destination={"vertiport": "CD-NOPE"}), 422, "unknown_vertiport",
         "destination.vertiport"),
    Case("a constraint for an unknown city", "POST", CONSTRAINTS, "admin",
         constraint_body(jurisdiction="atlantis"), 422, "invalid_constraint", "jurisdiction"),
    Case("a path that is not an id", "POST", "/v1/flight-plans/%00%FF/cancel", "operator", None,
         404, "flight_plan_not_found"),
]

OVERSIZED = [
    Case("a body over 1 MiB", "POST", FP, "operator", plan_body(purpose="x" * (1 << 20)), 413,
         "body_too_large"),
    Case("a purpose of 501 characters", "POST", FP, "operator", plan_body(purpose="x" * 501),
         422, "invalid_request", "purpose"),
    Case("a reason of 501 characters", "POST", CONSTRAINTS, "regulator",
         constraint_body(reason="x" * 501), 422, "invalid_request", "reason"),
    Case("an id of 129 characters", "POST", f"/v1/flight-plans/{'f' * 129}/end", "operator",
         None, 422, "invalid_request", "flight_plan_id"),
    Case("a drone id of 65 characters", "POST", FP, "operator",
         plan_body(drone={"id": "d" * 65, "category": "light"}), 422, "invalid_request",
         "drone.id"),
]

UNICODE = [
    Case("NUL in a purpose", "POST", FP, "operator", plan_body(purpose="parcel\x00"), 422,
         "invalid_request", "purpose"),
    Case("right-to-left override in a purpose", "POST", FP, "operator",
         plan_body(purpose="delivery \u202egnp.exe"), 422, "invalid_request", "purpose"),
    Case("a lone surrogate in a purpose", "POST", FP, "operator",
         raw(plan_body(purpose="<X>"), X=b'"\\ud800"'), 422, "invalid_request", "purpose"),
    Case("an escape character in a reason", "POST", CONSTRAINTS, "regulator",
         constraint_body(reason="\x1b[31mred"), 422, "invalid_request", "reason"),
    Case("a bidi isolate in a review note", "POST", REVIEW, "regulator",
         {"decision": "reject", "note": "ok\u2066"}, 422, "invalid_request", "note"),
    Case("fullwidth letters in a drone id", "POST", FP, "operator",
         plan_body(drone={"id": "ｄｒｏｎｅ", "category": "light"}), 422, "invalid_request",
         "drone.id"),
    Case("a zero-width joiner in a vertiport id", "POST", PLAN, "operator",
         route_body(origin={"vertiport": "CD-TFS\u200d"}), 422, "invalid_request",
         "origin.vertiport"),
    Case("a Cyrillic letter in a category", "POST", FP, "operator",
         plan_body(drone={"id": "d-1", "category": "lіght"}), 422, "invalid_request",
         "drone.category"),
]

CLASSES = {
    "malformed JSON": MALFORMED_JSON, "wrong types": WRONG_TYPES, "NaN and infinities": NON_FINITE,
    "coordinates": COORDINATES, "polygons": POLYGONS, "vertices": VERTICES, "nesting": NESTING,
    "times": TIMES, "durations": DURATIONS, "unknown ids": UNKNOWN_IDS, "sizes": OVERSIZED,
    "unicode": UNICODE,
}
CASES = [pytest.param(case, id=f"{kind}: {case.name}")
         for kind, cases in CLASSES.items() for case in cases]


def send(client: TestClient, case: Case) -> Any:
    headers = auth(case.who)
    if isinstance(case.body, bytes):
        return client.request(case.method, case.path, content=case.body,
                              headers={**headers, "content-type": "application/json"})
    if case.body is None:
        return client.request(case.method, case.path, headers=headers)
    return client.request(case.method, case.path, json=case.body, headers=headers)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.usefixtures("nothing_stored")
def test_hostile_input_is_a_problem_and_stores_nothing(client: TestClient, case: Case) -> None:
    response = send(client, case)

    assert response.status_code == case.status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) >= PROBLEM_KEYS
    assert (problem["status"], problem["code"]) == (case.status, case.code)
    assert problem["type"].endswith(case.code)
    assert problem["title"] and problem["detail"]
    if case.field is not None:
        assert problem["field"] == case.field, problem


def test_every_class_of_hostile_input_is_in_the_table() -> None:
    assert len(CLASSES) == 12
    assert all(len(cases) >= 5 for cases in CLASSES.values())
    assert len({case.name for cases in CLASSES.values() for case in cases}) == sum(
        len(cases) for cases in CLASSES.values())


@pytest.mark.usefixtures("nothing_stored")
def test_a_batch_refuses_a_far_future_route_in_its_place(client: TestClient) -> None:
    body = {"requests": [route_body(departure_time="2027-01-01T02:00:00Z"), route_body()]}

    response = client.post(BATCH, json=body, headers=auth("operator"))

    assert response.status_code == 200
    far, near = response.json()["results"]
    assert far["status"] == 422
    assert far["problem"]["code"] == "invalid_route_request"
    assert far["problem"]["field"] == "requests[0].departure_time"
    assert near["status"] == 200


@pytest.mark.usefixtures("nothing_stored")
def test_a_body_with_thousands_of_unknown_fields_lists_only_the_first(
        client: TestClient) -> None:
    body = plan_body() | {f"field_{n}": 0 for n in range(5000)}

    response = client.post(FP, json=body, headers=auth("operator"))

    problem = response.json()
    assert response.status_code == 422
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    assert "(and 4999 more)" in problem["detail"]
    assert len(response.content) < 5000


@pytest.mark.usefixtures("nothing_stored")
def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
        client: TestClient) -> None:
    response = client.post(FP, content=b"{}", headers={
        **auth("operator"), "content-type": "application/json",
        "content-length": str(10**12)})

    assert response.status_code == 413


@pytest.mark.parametrize("url", [
    "/v1/map/flights?start_time=9999-12-31T23:00:00Z",
    "/v1/map/flights?start_time=2026-12-01T02:00:00Z&end_time=2026-12-01T01:00:00Z",
    "/v1/airspace/classify?lat=30.6&lng=104.06&alt_agl_m=50&time=0001-01-01T00:00:00Z",
    "/v1/airspace/cells?bbox=104.0,30.6,104.05,30.65&time=1960-01-01T00:00:00Z",
    "/v1/airspace/cells?bbox=nan,30.6,104.05,30.65",
    "/v1/airspace/cells?bbox=104.0,30.6,104.05,inf",
    "/v1/flight-plans?cursor=%00",
    "/v1/flight-plans?limit=1e9",
    "/v1/flight-plans?limit=-1",
])
def test_hostile_query_parameters_are_422(client: TestClient, url: str) -> None:
    response = client.get(url, headers=auth("admin"))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"]


def test_an_unknown_approval_is_answered_not_valid(client: TestClient) -> None:
    # Not a 4xx by design: anyone may ask, and "not genuine" is the answer.
    response = client.get("/v1/approvals/apv-%E2%80%AEnope")

    assert response.status_code == 200
    assert response.json()["valid"] is False


def test_a_token_that_is_not_ascii_is_401(client: TestClient) -> None:
    response = client.get("/v1/zones", headers=[(b"authorization",
                                                 "Bearer jeton-é-ü-中".encode())])

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_plain_unicode_text_is_kept_as_filed(client: TestClient) -> None:
    purpose = "送货到 成都 · café · 📦 · עברית"

    response = client.post(FP, json=plan_body(
        purpose=purpose, earliest_departure_time=format_instant_in_hours(20),
        latest_departure_time=format_instant_in_hours(20)), headers=auth("operator"))

    assert response.status_code == 201, response.text
    assert response.json()["purpose"] == purpose
    stored = client.get(f"{FP}/{response.json()['id']}", headers=auth("operator")).json()
    assert stored["purpose"] == purpose


def format_instant_in_hours(hours: int) -> str:
    """An instant ``hours`` after T0, for plans that must not meet the others' slots."""
    from datetime import timedelta

    from testbed import T0

    return format_instant(T0 + timedelta(hours=hours))
