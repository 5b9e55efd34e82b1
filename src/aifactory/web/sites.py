"""The federation map (/map) and each site's page (/sites/{site_id}): where the factories
are, how busy, how clean their electricity. Federation-wide: the same for every logged-in
user; no one's job is named.

The map is an inline SVG drawn on the server: the Europe outline shipped in
static/map/europe.svg (see scripts/make-europe-map.py) and a marker per site projected with
the same code (web/geo.py). The table beside it says everything the map shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from aifactory.api.deps import Rt
from aifactory.domain.catalog import ExecutorKind
from aifactory.domain.walltime import format_walltime
from aifactory.services import site_load
from aifactory.services.ids import utcnow
from aifactory.web import STATIC
from aifactory.web.deps import Me
from aifactory.web.geo import EUROPE
from aifactory.web.pages import page

router = APIRouter(include_in_schema=False)

# Load bands: a marker's colour, its shape and its words say the same thing.
BANDS = (
    ("idle", "under 25 % busy", "circle"),
    ("moderate", "25 to 75 % busy", "square"),
    ("busy", "over 75 % busy", "triangle"),
    ("closed", "not in service (planned, degraded or not connected)", "ring"),
)


@cache
def outline() -> Markup:
    """The outline's paths (a file of the platform, not user input: safe to inline)."""
    text = (STATIC / "map" / "europe.svg").read_text(encoding="utf-8")
    inner = re.search(r"<svg[^>]*>(.*)</svg>", text, re.S)
    return Markup(inner.group(1) if inner else "")


def band(load: site_load.SiteLoad) -> str:
    if load.status != "operational":
        return "closed"
    if load.utilisation < 0.25:
        return "idle"
    return "moderate" if load.utilisation <= 0.75 else "busy"


@dataclass(frozen=True)
class Marker:
    load: site_load.SiteLoad
    x: float
    y: float
    band: str
    label_left: bool  # labels of sites near the right edge go to the left of the marker


def markers(loads: tuple[site_load.SiteLoad, ...]) -> list[Marker]:
    out = []
    for load in loads:
        s = load.site
        if s.latitude is None or s.longitude is None:
            continue
        x, y = EUROPE.point(s.latitude, s.longitude)
        if EUROPE.inside(x, y):
            out.append(Marker(load, round(x), round(y), band(load), x > EUROPE.width_km * 0.8))
    return out


def _kinds(runtime: Rt) -> set[ExecutorKind]:
    return set(runtime.executors)


@router.get("/map", response_class=HTMLResponse)
def federation_map(request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    with runtime.db.read() as session:
        fed = site_load.federation(session, runtime.catalog, _kinds(runtime))
    placed = markers(fed.sites)
    return page(
        request,
        "map.html",
        title="Federation map",
        me=me,
        federation=fed,
        markers=placed,
        on_map={m.load.site.id for m in placed},
        bands=BANDS,
        band=band,
        frame=EUROPE,
        outline=outline(),
    )


def _when(t: datetime) -> str:
    return t.strftime("%d %b %H:%M UTC")


@router.get("/sites/{site_id}", response_class=HTMLResponse)
def site_page(site_id: str, request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    now = utcnow()
    with runtime.db.read() as session:
        load = site_load.site_load(session, runtime.catalog, _kinds(runtime), site_id[:64])
        points = site_load.history(session, load.site.id, site_load.hours(now))
    return page(
        request,
        "site.html",
        title=load.site.name,
        me=me,
        load=load,
        band=band(load),
        points=points,
        when=_when,
        walltime=format_walltime,
        total=load.total,
    )
