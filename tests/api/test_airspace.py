"""Airspace over HTTP: GeoJSON collections with ids and cities, cells, classification."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from testbed import auth

from airspace import Airspace


def collection(client: TestClient, url: str) -> dict[str, Any]:
    response = client.get(url, headers=auth("operator"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    document: dict[str, Any] = response.json()
    assert document["type"] == "FeatureCollection"
    for feature in document["features"]:
        assert feature["type"] == "Feature"
        assert feature["id"] == feature["properties"]["id"]
    return document


def test_jurisdictions_are_the_four_cities_with_their_policies(client: TestClient) -> None:
    document = collection(client, "/v1/jurisdictions")

    by_id = {f["id"]: f for f in document["features"]}
    assert set(by_id) == {"chengdu", "deyang", "meishan", "ziyang"}
    chengdu = by_id["chengdu"]["properties"]
    assert chengdu["jurisdiction"] == "chengdu"
    assert chengdu["name_zh"] == "成都市"
    assert chengdu["policy"]["review_categories"] == ["medium"]
    assert by_id["chengdu"]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_simplified_boundaries_are_smaller_than_full_ones(client: TestClient) -> None:
    simplified = client.get("/v1/jurisdictions", headers=auth("operator"))
    full = client.get("/v1/jurisdictions?detail=full", headers=auth("operator"))

    assert full.status_code == 200
    assert len(simplified.content) < len(full.content)


def test_zones_carry_class_heights_windows_and_city(client: TestClient,
                                                    airspace_model: Airspace) -> None:
    document = collection(client, "/v1/zones")

    by_id = {f["id"]: f["properties"] for f in document["features"]}
    assert set(airspace_model.zones) <= set(by_id)
    zuuu = by_id["ZUUU-P"]
    assert zuuu["class"] == "prohibited"
    assert zuuu["jurisdiction"] == "chengdu"
    assert zuuu["floor_agl_m"] < zuuu["ceiling_agl_m"]
    assert isinstance(zuuu["active_windows"], list)


def test_vertiports_are_points_with_pads_and_a_city(client: TestClient) -> None:
    document = collection(client, "/v1/vertiports")

    tfs = next(f for f in document["features"] if f["id"] == "CD-TFS")
    assert tfs["geometry"] == {"type": "Point", "coordinates": [104.0665, 30.6582]}
    assert tfs["properties"]["jurisdiction"] == "chengdu"
    assert tfs["properties"]["pads"] == 4
    assert tfs["properties"]["opening_hours"] == "06:00-22:00 Asia/Shanghai"
    assert len(document["features"]) == 52


def test_corridors_are_lines_with_their_cities(client: TestClient) -> None:
    document = collection(client, "/v1/corridors")

    assert len(document["features"]) == 18
    for feature in document["features"]:
        assert feature["geometry"]["type"] == "LineString"
        cities = feature["properties"]["jurisdictions"]
        assert feature["properties"]["jurisdiction"] == (cities[0] if len(cities) == 1 else None)


def test_cells_around_the_airport_are_prohibited_hexagons(client: TestClient) -> None:
    document = collection(client, "/v1/airspace/cells?bbox=103.93,30.56,103.96,30.59&layer=1"
                                   "&time=2026-12-01T02:00:00Z")

    classes = {f["properties"]["class"] for f in document["features"]}
    assert "prohibited" in classes
    assert "suitable" not in classes
    hexagon = document["features"][0]["geometry"]
    assert hexagon["type"] == "Polygon" and len(hexagon["coordinates"][0]) == 7
    assert all(f["properties"]["layer"] == 1 for f in document["features"])


def test_cells_of_an_empty_box_are_an_empty_collection(client: TestClient) -> None:
    document = collection(client, "/v1/airspace/cells?bbox=116.3,39.8,116.4,39.9")

    assert document["features"] == []


@pytest.mark.parametrize(("lat", "lng", "alt_agl_m", "expected_class", "city"), [
    (30.5785, 103.947, 50, "prohibited", "chengdu"),
    (29.95, 103.6, 50, "suitable", "meishan"),
    (29.95, 103.6, 150, "controlled", "meishan"),
    (39.9, 116.4, 50, "out_of_service", None),
])
def test_classify_answers_class_city_and_cell(client: TestClient, lat: float, lng: float,
                                              alt_agl_m: float, expected_class: str,
                                              city: str | None) -> None:
    response = client.get("/v1/airspace/classify", headers=auth("regulator"), params={
        "lat": lat, "lng": lng, "alt_agl_m": alt_agl_m, "time": "2026-12-01T02:00:00Z"})

    assert response.status_code == 200
    answer = response.json()
    assert answer["class"] == expected_class
    assert answer["jurisdiction"] == city
    assert len(answer["cell"]) == 15


def test_classify_defaults_to_the_api_clock(client: TestClient) -> None:
    response = client.get("/v1/airspace/classify?lat=29.95&lng=103.6&alt_agl_m=50",
                          headers=auth("operator"))

    assert response.status_code == 200
    assert response.json()["class"] == "suitable"


def test_classify_accepts_an_offset_in_the_query(client: TestClient) -> None:
    response = client.get("/v1/airspace/classify", headers=auth("operator"), params={
        "lat": 29.95, "lng": 103.6, "alt_agl_m": 50, "time": "2026-12-01T10:00:00+08:00"})

    assert response.status_code == 200
