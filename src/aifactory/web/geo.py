"""ETRS89-LAEA (EPSG:3035), the EU's projection for pan-European maps, and the frame of the
federation map drawn in it. Pure functions: the map outline (scripts/make-europe-map.py) and
the site markers on /map are projected by the same code, so they line up.

The formulas are the ellipsoidal oblique Lambert azimuthal equal-area of IOGP Guidance Note
7-2 (EPSG method 9820) on the GRS 1980 ellipsoid: centre 52 N 10 E, false easting 4 321 000 m,
false northing 3 210 000 m."""

from __future__ import annotations

import math
from typing import NamedTuple

_A = 6_378_137.0  # GRS 1980 semi-major axis, m
_F = 1 / 298.257222101
_E2 = 2 * _F - _F * _F
_E = math.sqrt(_E2)
_LAT0, _LON0 = math.radians(52.0), math.radians(10.0)
FALSE_EASTING, FALSE_NORTHING = 4_321_000.0, 3_210_000.0


def _q(phi: float) -> float:
    s = math.sin(phi)
    return (1 - _E2) * (s / (1 - _E2 * s * s) - math.log((1 - _E * s) / (1 + _E * s)) / (2 * _E))


_QP = _q(math.pi / 2)
_RQ = _A * math.sqrt(_QP / 2)
_BETA0 = math.asin(_q(_LAT0) / _QP)
_D = _A * (math.cos(_LAT0) / math.sqrt(1 - _E2 * math.sin(_LAT0) ** 2)) / (_RQ * math.cos(_BETA0))


def laea(latitude: float, longitude: float) -> tuple[float, float]:
    """(easting, northing) in metres of EPSG:3035 for ETRS89 degrees (WGS84 to within a metre)."""
    beta = math.asin(max(-1.0, min(1.0, _q(math.radians(latitude)) / _QP)))
    dlon = math.radians(longitude) - _LON0
    denominator = (
        1 + math.sin(_BETA0) * math.sin(beta) + math.cos(_BETA0) * math.cos(beta) * math.cos(dlon)
    )
    b = _RQ * math.sqrt(2 / max(denominator, 1e-12))  # the antipode has no image
    easting = FALSE_EASTING + b * _D * math.cos(beta) * math.sin(dlon)
    northing = FALSE_NORTHING + (b / _D) * (
        math.cos(_BETA0) * math.sin(beta) - math.sin(_BETA0) * math.cos(beta) * math.cos(dlon)
    )
    return easting, northing


class Frame(NamedTuple):
    """The part of EPSG:3035 a map shows, in SVG user units of one kilometre (y points down)."""

    west: float  # easting of the left edge, m
    north: float  # northing of the top edge, m
    width_km: int
    height_km: int

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width_km} {self.height_km}"

    def point(self, latitude: float, longitude: float) -> tuple[float, float]:
        """Where a place falls in the SVG, in km from the top-left corner."""
        easting, northing = laea(latitude, longitude)
        return (easting - self.west) / 1000, (self.north - northing) / 1000

    def inside(self, x: float, y: float) -> bool:
        return 0 <= x <= self.width_km and 0 <= y <= self.height_km


# Iceland and Portugal to Moscow and Cyprus, Nordkapp to Crete.
EUROPE = Frame(west=2_500_000.0, north=5_500_000.0, width_km=4_100, height_km=4_150)
