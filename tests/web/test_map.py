"""The federation map (/map) and the site pages (/sites/{id}): every catalog site with its
status, accelerators, load, queue and carbon intensity; markers where the cities are; the
figures follow the jobs in the database."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import Any

from aifactory.db.tables import Job
from aifactory.services import site_load
from aifactory.services.ids import utcnow
from aifactory.web.geo import EUROPE
from tests.conftest import Platform, quick_user, run_until, run_until_final
from tests.web.portal import anonymous, browser_of


def _row(html: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', html, re.S)
    assert found, f"no row {row_id}"
    return found.group(1)


def _text(row: str, name: str) -> str:
    found = re.search(rf'<td class="[^"]*\b{name}\b[^"]*">(.*?)</td>', row, re.S)
    assert found, f"no {name} cell in {row}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def _markers(html: str) -> dict[str, tuple[float, float]]:
    found = re.findall(
        r'<a href="/sites/([a-z0-9-]+)" class="marker [a-z]+">.*?translate\(([-\d.]+) ([-\d.]+)\)',
        html,
        re.S,
    )
    return {site: (float(x), float(y)) for site, x, y in found}


def test_the_map_lists_every_site_with_its_status_and_carbon_intensity(
    sqlite_platform: Platform,
) -> None:
    page = browser_of(sqlite_platform, quick_user(sqlite_platform, "ada")).get("/map")
    assert page.status_code == 200
    html = page.text
    catalog = sqlite_platform.runtime.catalog
    for site in catalog.sites:
        row = _row(html, f"site-{site.id}")
        assert site.name in row and f"/sites/{site.id}" in row
        grid = {p.grid_gco2e_per_kwh for p in site.partitions}
        assert f"{min(grid):g}" in _text(row, "carbon") and "g CO₂e/kWh" in row
        assert f"of {site.total_accelerators}" in _text(row, "busy")
    assert _text(_row(html, "site-daedalus"), "status").startswith("planned")
    assert _text(_row(html, "site-lumi"), "status") == "operational"
    lumi = catalog.site("lumi")  # accelerators by type: three partitions, one model
    models = _text(_row(html, "site-lumi"), "models")
    assert f"{lumi.total_accelerators} \u00d7 MI250X-GCD" in models
    assert "(not on the map)" in _row(html, "site-local")


def test_markers_sit_inside_the_map_where_the_cities_are(sqlite_platform: Platform) -> None:
    html = browser_of(sqlite_platform, quick_user(sqlite_platform, "ada")).get("/map").text
    markers = _markers(html)
    located = {s.id for s in sqlite_platform.runtime.catalog.sites if s.located}
    assert set(markers) == located and "local" not in markers
    for x, y in markers.values():
        assert 0 <= x <= EUROPE.width_km and 0 <= y <= EUROPE.height_km
    kajaani, barcelona = markers["lumi"], markers["marenostrum5"]
    assert kajaani[1] < barcelona[1] and barcelona[0] < kajaani[0]  # north-east of it
    assert markers["mimer"][1] < markers["hlrs"][1] < markers["leonardo"][1]  # N to S
    assert markers["leonardo"][1] < markers["daedalus"][1]  # Athens is south of Bologna
    assert markers["meluxina"][0] < markers["hlrs"][0] < markers["daedalus"][0]  # W to E
    assert 'viewBox="0 0 4100 4150"' in html and 'class="land"' in html
    # The planned site's marker says so in shape and words, not only colour.
    assert re.search(r'class="marker closed">\s*<title>Pharos, Athens: planned</title>', html)


def _jobs(platform: Platform, count: int) -> list[str]:
    ada = quick_user(platform, "ada")
    org = platform.org(ada, "Ada Labs")
    project = platform.project(ada, org["id"], "triage")
    out = []
    for i in range(count):
        r = ada.post("/jobs", {"name": f"j{i}", "project": project["id"], "run": "echo hi"})
        assert r.status_code == 201, r.text
        out.append(r.json()["id"])
    return out


def _set(platform: Platform, job_id: str, **fields: Any) -> None:
    with platform.runtime.db.write() as session:
        job = session.get(Job, job_id)
        assert job is not None
        for key, value in fields.items():
            setattr(job, key, value)


def test_load_queue_and_history_follow_the_jobs(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    now = utcnow()
    h = timedelta(hours=1)
    running, waiting, finished, elsewhere = _jobs(p, 4)
    # 16 GCDs on standard-g for 3 hours; one job placed on small-g waiting for Slurm; 8 GCDs
    # that ran from 5 h to 4 h ago; and a job at another site, which LUMI does not count.
    _set(p, running, state="running", site_id="lumi", partition_id="standard-g",
         executor="simulated", resolved={"accelerators": 16}, created_at=now - 3.2 * h,
         started_at=now - 3 * h)  # fmt: skip
    _set(p, waiting, state="placed", site_id="lumi", partition_id="small-g", executor="slurm",
         resolved={"accelerators": 8}, created_at=now - 2 * h)  # fmt: skip
    _set(p, finished, state="completed", site_id="lumi", partition_id="standard-g",
         executor="simulated", resolved={"accelerators": 8}, created_at=now - 5.5 * h,
         started_at=now - 5 * h, ended_at=now - 4 * h)  # fmt: skip
    _set(p, elsewhere, state="running", site_id="hlrs", partition_id="hunter-apu",
         executor="simulated", resolved={"accelerators": 4}, started_at=now - h)  # fmt: skip
    bob = browser_of(p, quick_user(p, "bob"))  # another tenant sees the same federation
    lumi = _row(bob.get("/map").text, "site-lumi")
    total = p.runtime.catalog.site("lumi").total_accelerators
    assert _text(lumi, "busy").startswith(f"16 of {total}")
    assert _text(lumi, "queue") == "1 job"
    assert _text(_row(bob.get("/map").text, "site-hlrs"), "busy").startswith("4 of 752")

    page = bob.get("/sites/lumi")
    assert page.status_code == 200 and "<h1>LUMI AI Factory</h1>" in page.text
    standard = _row(page.text, "partition-standard-g")
    assert (_text(standard, "total"), _text(standard, "busy")) == (str(2978 * 8), "16")
    assert _text(standard, "free") == str(2978 * 8 - 16)
    small = _row(page.text, "partition-small-g")
    assert (_text(small, "busy"), _text(small, "queue")) == ("0", "1")
    assert "bob" not in page.text.split("</header>")[1] and "j0" not in page.text

    def expected(t: datetime) -> tuple[int, int]:
        busy = (16 if t >= now - 3 * h else 0) + (8 if now - 5 * h <= t < now - 4 * h else 0)
        # Waiting: submitted and not started (the running and the finished job, before they
        # started; the placed one since its submission).
        spans = ((now - 3.2 * h, now - 3 * h), (now - 5.5 * h, now - 5 * h), (now - 2 * h, now))
        return busy, sum(1 for a, b in spans if a <= t < b or (t == now and b == now))

    chart = page.text.split('id="utilisation"')[1].split("</table>")[0]
    queue = page.text.split('id="queue"')[1].split("</table>")[0]
    busy_at = dict(re.findall(r'data-x="(\d+)".*?data-busy="(\d+)"', chart, re.S))
    queued_at = dict(re.findall(r'data-x="(\d+)".*?data-y="(\d+)"', queue, re.S))
    assert len(busy_at) >= 24 and busy_at.keys() == queued_at.keys()
    for x in busy_at:
        t = datetime.fromtimestamp(int(x), now.tzinfo)
        if abs((t - now).total_seconds()) < 2:
            t = now  # the last point is now (whole seconds in the page)
        assert (int(busy_at[x]), int(queued_at[x])) == expected(t), t
    assert {int(v) for v in busy_at.values()} == {0, 8, 16}


def test_history_is_one_aggregate_per_moment(sqlite_platform: Platform) -> None:
    """The service answers for moments with no job at all (zeros), and for none."""
    now = utcnow()
    with sqlite_platform.runtime.db.read() as session:
        points = site_load.history(session, "lumi", site_load.hours(now))
        assert site_load.history(session, "lumi", []) == []
    assert len(points) in (24, 25) and points[-1].at == now
    assert all((pt.busy, pt.queued) == (0, 0) for pt in points)
    assert all(a.at < b.at for a, b in itertools.pairwise(points))


def test_a_running_local_job_makes_its_site_busy(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    ada = quick_user(p, "ada")
    org = p.org(ada, "Ada Labs")
    project = p.project(ada, org["id"], "triage")
    job = ada.post("/jobs", {"name": "long", "project": project["id"], "run": "sleep 30"}).json()
    run_until(p, job["id"], ("running",), ada)
    browser = browser_of(p, ada)
    local = _row(browser.get("/map").text, "site-local")
    assert _text(local, "busy").startswith("1 of 4")
    row = _row(browser.get("/sites/local").text, "partition-local")
    assert (_text(row, "busy"), _text(row, "free")) == ("1", "3")
    assert ada.post(f"/jobs/{job['id']}/cancel").status_code in (200, 202)
    run_until_final(p, job["id"], ada)
    assert _text(_row(browser.get("/map").text, "site-local"), "busy").startswith("0 of 4")


def test_an_unknown_site_is_the_404_page_and_the_map_wants_a_log_in(
    sqlite_platform: Platform,
) -> None:
    browser = browser_of(sqlite_platform, quick_user(sqlite_platform, "ada"))
    missing = browser.get("/sites/atlantis")
    assert missing.status_code == 404 and "Page not found" in missing.text
    for path in ("/map", "/sites/lumi"):
        r = anonymous(sqlite_platform).get(path)
        assert r.status_code in (303, 307) and "/login" in r.headers["location"]
