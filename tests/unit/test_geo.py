"""ETRS89-LAEA (EPSG:3035) against published reference points, and the map frame."""

from __future__ import annotations

import pytest

from aifactory.web.geo import EUROPE, laea


@pytest.mark.parametrize(
    ("latitude", "longitude", "easting", "northing"),
    [
        # PROJ's GIGS test 5110 (ETRS89 -> ETRS89-LAEA) and IOGP Guidance Note 7-2's example.
        (70.0, 5.0, 4_127_824.658, 5_214_090.649),
        (60.0, 5.0, 4_041_548.13, 4_109_791.66),
        (50.0, 5.0, 3_962_799.45, 2_999_718.85),
        (52.0, 10.0, 4_321_000.0, 3_210_000.0),  # the centre: the false origin
    ],
)
def test_laea_matches_the_epsg_reference(
    latitude: float, longitude: float, easting: float, northing: float
) -> None:
    e, n = laea(latitude, longitude)
    assert e == pytest.approx(easting, abs=0.01)
    assert n == pytest.approx(northing, abs=0.01)


def test_the_frame_holds_europe_north_up() -> None:
    kajaani, barcelona = EUROPE.point(64.22, 27.73), EUROPE.point(41.39, 2.12)
    reykjavik, nicosia = EUROPE.point(64.15, -21.94), EUROPE.point(35.17, 33.36)
    for x, y in (kajaani, barcelona, reykjavik, nicosia):
        assert EUROPE.inside(x, y)
    assert kajaani[1] < barcelona[1]  # north is up (smaller y)
    assert reykjavik[0] < barcelona[0] < kajaani[0] < nicosia[0]
    assert not EUROPE.inside(*EUROPE.point(40.7, -74.0))  # New York is off the map
