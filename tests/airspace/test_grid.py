"""The H3 grid and the altitude layers: known-answer cells, layer edges, conservative cover."""

from __future__ import annotations

import random

import h3
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from airspace.errors import DatasetError
from airspace.grid import (
    AltitudeLayers,
    average_edge_length_m,
    cell_neighbours,
    cell_resolution,
    cell_to_latlng,
    cell_to_parent,
    cell_to_str,
    cells_to_geometry,
    latlng_to_cell,
    shape_to_cells,
    str_to_cell,
    to_h3shape,
)

LAYERS = AltitudeLayers((0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 200.0, 300.0, 500.0, 1000.0))
"""The layers of the bundled dataset."""

# -- known-answer cells ---------------------------------------------------------------------
# Computed once with h3 4.x directly (h3.latlng_to_cell(lat, lng, res), then int(cell, 16))
# and written down: a change here means every stored cell in every database is wrong.

KNOWN_CELLS = [
    # (lat, lng, resolution, cell as int, cell as h3 string)
    (30.6571, 104.0657, 10, 622638303310839807, "8a40e3cec64ffff"),  # Tianfu Square
    (30.5785, 103.947, 10, 622638300577333247, "8a40e3c4976ffff"),  # ZUUU aerodrome point
    (30.29, 104.44333, 10, 622638067744276479, "8a40e0613887fff"),  # ZUTF aerodrome point
    (30.6571, 104.0657, 7, 609127504438886399, "8740e3cecffffff"),  # routing resolution
    (30.6571, 104.0657, 11, 627141902938193919, "8b40e3cec64bfff"),
]


@pytest.mark.parametrize(("lat", "lng", "resolution", "cell", "text"), KNOWN_CELLS)
def test_latlng_to_cell_known_answers(lat, lng, resolution, cell, text):
    assert latlng_to_cell(lat, lng, resolution) == cell
    assert cell_to_str(cell) == text
    assert str_to_cell(text) == cell
    assert cell_resolution(cell) == resolution


def test_cells_are_plain_python_ints():
    # The stores keep cells as bigint; numpy or h3 string types would not bind.
    cell = latlng_to_cell(30.6571, 104.0657, 10)
    assert type(cell) is int
    assert all(type(other) is int for other in cell_neighbours(cell))


def test_parent_of_tianfu_square_at_routing_resolution():
    assert cell_to_parent(622638303310839807, 7) == 609127504438886399


def test_cell_centre_lies_in_its_cell():
    cell = latlng_to_cell(30.6571, 104.0657, 10)
    lat, lng = cell_to_latlng(cell)
    assert latlng_to_cell(lat, lng, 10) == cell
    assert abs(lat - 30.6571) < 0.002 and abs(lng - 104.0657) < 0.002


def test_hexagon_has_six_neighbours():
    cell = latlng_to_cell(30.6571, 104.0657, 10)
    neighbours = cell_neighbours(cell)
    assert len(neighbours) == 6
    assert cell not in neighbours


def test_resolution_10_edge_is_about_76_m():
    assert average_edge_length_m(10) == pytest.approx(75.86, abs=0.1)


@pytest.mark.parametrize("text", ["", "nonsense", "8a40e3cec64fff", "ffffffffffffffff"])
def test_str_to_cell_refuses_non_cells(text):
    with pytest.raises(ValueError, match="is not an H3 cell"):
        str_to_cell(text)


# -- altitude layers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("altitude_agl_m", "layer"),
    [
        (0.0, 0),
        (29.999, 0),
        (30.0, 1),  # a boundary belongs to the layer above it
        (45.0, 1),
        (119.9, 3),
        (120.0, 4),
        (999.0, 8),
        (1000.0, 8),  # the top boundary counts as the last layer
    ],
)
def test_layer_of(altitude_agl_m, layer):
    assert LAYERS.layer_of(altitude_agl_m) == layer


@pytest.mark.parametrize("altitude_agl_m", [-0.1, -50.0, 1000.1, 5000.0, float("nan")])
def test_layer_of_refuses_altitudes_outside_the_grid(altitude_agl_m):
    with pytest.raises(ValueError, match="outside the grid"):
        LAYERS.layer_of(altitude_agl_m)


@pytest.mark.parametrize(
    ("floor_agl_m", "ceiling_agl_m", "layers"),
    [
        (0.0, 30.0, range(0, 1)),  # a ceiling on a boundary does not enter the layer above
        (0.0, 30.5, range(0, 2)),
        (29.99, 30.0, range(0, 1)),
        (30.0, 60.0, range(1, 2)),
        (45.0, 45.0, range(1, 2)),  # a flat range still sits in one layer
        (60.0, 150.0, range(2, 5)),
        (-50.0, 10.0, range(0, 1)),  # clamped to the ground
        (900.0, 2000.0, range(8, 9)),  # clamped to the top
        (0.0, 1000.0, range(0, 9)),
        (60.0, 30.0, range(0)),  # upside down: nothing
        (1200.0, 1500.0, range(0)),  # entirely above the grid
        (-20.0, -10.0, range(0)),  # entirely below ground
    ],
)
def test_layers_between(floor_agl_m, ceiling_agl_m, layers):
    assert LAYERS.layers_between(floor_agl_m, ceiling_agl_m) == layers


def test_layer_bounds_and_count():
    assert LAYERS.count == 9
    assert LAYERS.ceiling_agl_m == 1000.0
    assert LAYERS.bounds_of(0) == (0.0, 30.0)
    assert LAYERS.bounds_of(8) == (500.0, 1000.0)


@pytest.mark.parametrize(
    ("boundaries", "problem"),
    [
        ((), "at least two boundaries"),
        ((0.0,), "at least two boundaries"),
        ((10.0, 20.0), "start at 0 m"),
        ((0.0, 30.0, 30.0), "ascend strictly"),
        ((0.0, 60.0, 30.0), "ascend strictly"),
    ],
)
def test_altitude_layers_refuse_bad_boundaries(boundaries, problem):
    with pytest.raises(DatasetError, match=problem):
        AltitudeLayers(boundaries)


# -- conservative cover ---------------------------------------------------------------------


def _random_interior_points(polygon: Polygon, count: int, seed: int) -> list[Point]:
    """Points uniform over ``polygon``: a random triangle of its triangulation (by area),
    then a random point of that triangle (works for slivers, where rejection would stall)."""
    rng = random.Random(seed)
    triangles = list(shapely.constrained_delaunay_triangles(polygon).geoms)
    weights = [triangle.area for triangle in triangles]
    points = []
    for triangle in rng.choices(triangles, weights=weights, k=count):
        (ax, ay), (bx, by), (cx, cy) = triangle.exterior.coords[:3]
        u, v = rng.random(), rng.random()
        if u + v > 1.0:
            u, v = 1.0 - u, 1.0 - v
        points.append(Point(ax + u * (bx - ax) + v * (cx - ax), ay + u * (by - ay) + v * (cy - ay)))
    return points


def _assert_covered(polygon: Polygon, cells: set[int], resolution: int, seed: int) -> None:
    for lng, lat in polygon.exterior.coords:
        assert latlng_to_cell(lat, lng, resolution) in cells, f"vertex ({lat}, {lng}) uncovered"
    for point in _random_interior_points(polygon, 200, seed):
        cell = latlng_to_cell(point.y, point.x, resolution)
        assert cell in cells, f"interior point ({point.y}, {point.x}) uncovered"


@pytest.mark.parametrize(
    "zone_id", ["ZUUU-P", "ZUTF-P", "CD-P-PIDU-DETENTION", "DY-P-MUNITIONS-DEPOT"]
)
def test_zone_cells_cover_every_vertex_and_interior_point(dataset, zone_id):
    zone = next(zone for zone in dataset.zones if zone.id == zone_id)
    cells = shape_to_cells(zone.geometry, 10)
    _assert_covered(zone.geometry, cells, 10, seed=len(zone_id))
    # And the union of the cells covers the whole polygon, not only the sampled points.
    assert cells_to_geometry(cells).buffer(1e-9).covers(zone.geometry)


def test_a_shape_smaller_than_a_cell_still_marks_its_cell():
    # A 5 m square contains no cell centre; centre containment would return nothing.
    lat, lng = 30.6571, 104.0657
    square = box(lng, lat, lng + 0.00005, lat + 0.00005)
    cells = shape_to_cells(square, 10)
    assert latlng_to_cell(lat + 0.000025, lng + 0.000025, 10) in cells
    assert 1 <= len(cells) <= 4


def test_a_thin_strip_marks_every_cell_it_crosses():
    # 1 m wide, 2 km long: narrower than any cell, it crosses dozens.
    strip = box(104.00, 30.60, 104.02, 30.60001)
    cells = shape_to_cells(strip, 10)
    _assert_covered(strip, cells, 10, seed=7)
    assert len(cells) >= 15


def test_empty_shape_has_no_cells():
    assert shape_to_cells(Polygon(), 10) == set()


@settings(max_examples=100, deadline=None)
@given(
    lat=st.floats(30.0, 31.3),
    lng=st.floats(103.5, 104.8),
    offsets=st.lists(
        st.tuples(st.floats(-0.02, 0.02), st.floats(-0.02, 0.02)), min_size=3, max_size=3
    ),
    resolution=st.sampled_from([8, 10, 11]),
)
def test_random_triangles_are_covered(lat, lng, offsets, resolution):
    triangle = Polygon([(lng + dx, lat + dy) for dx, dy in offsets])
    assume(triangle.is_valid and triangle.area > 1e-10)  # degenerate: nobody loads those
    cells = shape_to_cells(triangle, resolution)
    _assert_covered(triangle, cells, resolution, seed=int(lat * 1e6))


def _ring_with_hole() -> Polygon:
    outer = Point(104.06, 30.65).buffer(0.02)
    return Polygon(outer.exterior.coords, [Point(104.06, 30.65).buffer(0.005).exterior.coords])


@pytest.mark.parametrize("geometry", [
    Point(104.06, 30.65).buffer(0.02),
    _ring_with_hole(),
    MultiPolygon([_ring_with_hole(), Point(104.2, 30.7).buffer(0.01)]),
    Polygon([(x, y, 15.0) for x, y in Point(104.06, 30.65).buffer(0.02).exterior.coords]),
])
def test_h3_shape_from_arrays_is_the_one_h3_builds(geometry) -> None:
    ours, theirs = to_h3shape(geometry), h3.geo_to_h3shape(geometry)
    assert ours.__geo_interface__ == theirs.__geo_interface__
    assert shape_to_cells(geometry, 9) == {
        int(cell, 16) for cell in h3.h3shape_to_cells_experimental(theirs, 9, contain="overlap")}
