"""The portal's own assets in Chromium: the API's Swagger UI and the charts render from
``/static/vendor`` with no request leaving loopback (the ``tab`` fixture aborts and fails any),
no console error and no serious axe-core violation."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from aifactory.web.pages import templates
from tests.browser.conftest import Live, Visit

# A test-only page (never part of the app): one chart table of each kind, as docs/portal.md's
# contract has it.
CHARTS = """{% extends "base.html" %}{% block content %}
{% for kind in ("line", "area", "bar") %}
<table class="chart" data-chart="{{ kind }}" data-y-label="GPU hours" id="{{ kind }}">
  <caption>GPU hours of project Alpha ({{ kind }})</caption>
  <thead><tr><th scope="col">Time</th><th scope="col">Used</th>
    <th scope="col">Granted</th></tr></thead>
  <tbody>{% for day in range(7) %}
    <tr><th scope="row" data-x="{{ 1767225600 + day * 86400 }}">2026-01-0{{ day + 1 }}</th>
      <td data-y="{{ day * 10 }}">{{ day * 10 }}</td><td data-y="100">100</td></tr>{% endfor %}
  </tbody>
</table>{% endfor %}
{% endblock %}"""

# Swagger UI's own markup, which no style sheet of ours can mend.
SWAGGER_UI_KNOWN = {
    "nested-interactive": "each operation's header is a button holding buttons "
    "(swagger-api/swagger-ui#9576, open)",
}

# Non-blank pixels of a canvas: uPlot drew something (an empty canvas is all zeros).
INK = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""


def test_swagger_ui_renders_the_api_from_local_assets(live: Live, tab: Visit) -> None:
    page = tab.page
    page.goto(live.url + "/api/v1/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() > 20  # every operation, grouped by tag
    assert page.get_by_text("/api/v1/jobs").first.is_visible()
    tab.shot("api-docs", axe_known=SWAGGER_UI_KNOWN)


def test_chart_tables_are_drawn_and_keep_their_data(live: Live, tab: Visit) -> None:
    def charts(request: Request) -> HTMLResponse:
        return HTMLResponse(templates.env.from_string(CHARTS).render(title="Charts"))

    live.platform.client.app.add_api_route("/test-charts", charts, include_in_schema=False)
    page = tab.page
    page.goto(live.url + "/test-charts")
    for kind in ("line", "area", "bar"):
        plot = page.locator(f".chart-plot:has(+ details #{kind})")
        assert plot.get_attribute("aria-hidden") == "true"
        canvas = plot.locator("canvas")
        assert canvas.evaluate(INK) > 500, kind
        assert f"GPU hours of project Alpha ({kind})" in plot.inner_text()  # its title
    tab.shot("charts")
    # The table stays, folded under its summary, for screen readers and for the numbers.
    summary = page.get_by_text("Table of the data: GPU hours of project Alpha (bar)")
    summary.click()
    table = page.get_by_role("table", name="GPU hours of project Alpha (bar)")
    assert table.get_by_role("row").count() == 8
    tab.shot("chart-table")
