#!/usr/bin/env python3
"""Write src/aifactory/web/static/map/europe.svg, the outline the federation map is drawn on.

The source is Natural Earth's 1:50m countries (public domain) as TopoJSON, from the npm
package world-atlas (ISC): ``npm pack world-atlas@2.0.2`` and unpack it, then

    PYTHONPATH=src python scripts/make-europe-map.py package/countries-50m.json

The TopoJSON is decoded (quantised, delta-encoded arcs), each country's rings clipped to a box
around Europe in degrees, projected to ETRS89-LAEA (EPSG:3035) with aifactory.web.geo (the
same code that places the site markers), clipped to the map's frame, thinned to points at
least a few kilometres apart and written as SVG path data in kilometres."""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aifactory.web.geo import EUROPE

Point = tuple[float, float]
OUT = Path(__file__).parents[1] / "src/aifactory/web/static/map/europe.svg"
# Wider than the frame all round: Sutherland-Hodgman in degrees first, so that far-away parts
# of a country (Russia's east, the French overseas departments) never reach the projection.
# The edges that clip adds along this box are densified before projecting, so they stay
# outside the frame (a straight edge between two far points would cut across the map).
LON_MIN, LON_MAX, LAT_MIN, LAT_MAX = -35.0, 60.0, 25.0, 80.0
MAX_EDGE_DEG = 0.5
MIN_STEP_KM = 3.0  # the map is about 5 km a pixel at its widest
MIN_AREA_KM2 = 30.0  # islets below this vanish


def decode_arcs(topology: dict[str, Any]) -> list[list[Point]]:
    """Every arc as (longitude, latitude) points: un-delta and un-quantise."""
    scale = topology["transform"]["scale"]
    translate = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * scale[0] + translate[0], y * scale[1] + translate[1]))
        arcs.append(points)
    return arcs


def ring_of(indices: Sequence[int], arcs: list[list[Point]]) -> list[Point]:
    """A ring from its arcs; ~i is arc i reversed; each arc starts where the last ended."""
    ring: list[Point] = []
    for i in indices:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        ring.extend(arc if not ring else arc[1:])
    return unwrap(ring)


def unwrap(ring: list[Point]) -> list[Point]:
    """Longitudes made continuous: world-atlas rings cross the antimeridian (Russia's east)
    from 180 to -180, which a clip in degrees would take for an edge across the world."""
    out: list[Point] = []
    shift = 0.0
    for i, (lon, lat) in enumerate(ring):
        if i:
            step = lon + shift - out[-1][0]
            if step > 180:
                shift -= 360
            elif step < -180:
                shift += 360
        out.append((lon + shift, lat))
    return out


def clip(ring: list[Point], lo: Point, hi: Point) -> list[Point]:
    """Sutherland-Hodgman against the rectangle lo..hi (each edge in turn)."""

    def edge(keep: Callable[[Point], bool], cut: Callable[[Point, Point], Point]) -> None:
        nonlocal ring
        out: list[Point] = []
        for i, cur in enumerate(ring):
            prev = ring[i - 1]
            if keep(cur):
                if not keep(prev):
                    out.append(cut(prev, cur))
                out.append(cur)
            elif keep(prev):
                out.append(cut(prev, cur))
        ring = out

    def at_x(x: float) -> Callable[[Point, Point], Point]:
        return lambda a, b: (x, a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0]))

    def at_y(y: float) -> Callable[[Point, Point], Point]:
        return lambda a, b: (a[0] + (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]), y)

    edge(lambda p: p[0] >= lo[0], at_x(lo[0]))
    edge(lambda p: p[0] <= hi[0], at_x(hi[0]))
    edge(lambda p: p[1] >= lo[1], at_y(lo[1]))
    edge(lambda p: p[1] <= hi[1], at_y(hi[1]))
    return ring


def densify(ring: list[Point]) -> list[Point]:
    out: list[Point] = []
    for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
        steps = max(1, math.ceil(math.dist(a, b) / MAX_EDGE_DEG))
        out.extend(
            (a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps)
            for k in range(steps)
        )
    return out


def area(ring: list[Point]) -> float:
    pairs = zip(ring, ring[1:] + ring[:1], strict=True)
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in pairs)) / 2


def thin(ring: list[Point]) -> list[tuple[int, int]]:
    """Whole kilometres, no two consecutive points closer than MIN_STEP_KM."""
    out: list[tuple[int, int]] = []
    for x, y in ring:
        p = (round(x), round(y))
        if not out or math.dist(p, out[-1]) >= MIN_STEP_KM:
            out.append(p)
    return out


def path_data(rings: list[list[tuple[int, int]]]) -> str:
    """Absolute move, then relative lines: the shortest plain form."""
    parts = []
    for ring in rings:
        x0, y0 = ring[0]
        steps = [f"M{x0} {y0}l"]
        for (ax, ay), (bx, by) in itertools.pairwise(ring):
            steps.append(f"{bx - ax} {by - ay}")
        parts.append(" ".join(steps) + "z")
    return "".join(parts)


def countries(topology: dict[str, Any]) -> list[tuple[str, str]]:
    arcs = decode_arcs(topology)
    frame_hi = (float(EUROPE.width_km), float(EUROPE.height_km))
    out = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        kind = geometry.get("type")
        polygons = {"Polygon": [geometry.get("arcs")], "MultiPolygon": geometry.get("arcs")}.get(
            kind, []
        )
        rings = []
        for polygon in polygons:
            for indices in polygon:
                lonlat = clip(ring_of(indices, arcs), (LON_MIN, LAT_MIN), (LON_MAX, LAT_MAX))
                if len(lonlat) < 3:
                    continue
                projected = clip(
                    [EUROPE.point(lat, lon) for lon, lat in densify(lonlat)], (0.0, 0.0), frame_hi
                )
                if len(projected) < 3 or area(projected) < MIN_AREA_KM2:
                    continue
                kept = thin(projected)
                if len(kept) >= 3:
                    rings.append(kept)
        if rings:
            out.append((str(geometry["properties"]["name"]), path_data(rings)))
    return sorted(out)


def svg(paths: list[tuple[str, str]]) -> str:
    body = "\n".join(
        f'<path class="land" data-name="{name.replace("&", "&amp;").replace(chr(34), "")}" '
        f'd="{d}"/>'
        for name, d in paths
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{EUROPE.view_box}">\n'
        "<!-- Europe in ETRS89-LAEA (EPSG:3035), 1 unit = 1 km, from Natural Earth 1:50m "
        "countries (public domain, naturalearthdata.com) via the npm package world-atlas 2.0.2 "
        "(ISC); made by scripts/make-europe-map.py. -->\n"
        f"{body}\n</svg>\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    topology = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    paths = countries(topology)
    OUT.write_text(svg(paths), encoding="utf-8")
    print(f"{OUT}: {len(paths)} countries, {OUT.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
