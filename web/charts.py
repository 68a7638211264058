"""The weekly report's charts on the dashboard: one picture per chart and department,
served at ``/dashboard/charts/{department}/{file}`` to the same sessions, and only for
the departments, that the dashboard itself shows.

The pictures are PNGs drawn by the weekly report's own chart code, so the dashboard and
the mail never disagree. They are plain ``<img>`` elements (no script), each beside its
figures in words (the mail's text alternative), so a screen reader, or a browser that
shows no pictures, gets the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.catalogue.weekly_report import CHART_FILES, draw_chart
from aliasdesk.notify.language import _, speaking
from aliasdesk.services.dashboard_report import catalog, viewer_report
from web.sign_in import current_viewer, web_of

CHART_PATH = "/dashboard/charts/{department}/{file}"
_BY_FILE = {file: name for name, file in CHART_FILES.items()}


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart as the page shows it: where its picture is, and its figures in words."""

    src: str
    text: str


@dataclass(frozen=True, slots=True)
class ChartSection:
    """One department's charts, under the weekly report's own heading."""

    heading: str
    language: str
    charts: tuple[Chart, ...]


def chart_sections(
    session: Session, config: RoutingConfig, viewer: str, keys: list[str], now: datetime
) -> dict[str, ChartSection]:
    """The chart section of each department in ``keys`` (ones ``viewer`` may read)."""
    sections = {}
    for key in keys:
        report, locale = viewer_report(session, config, config.departments[key], viewer, now)
        with speaking(catalog(locale.language), locale):
            heading = _("%(team)s weekly report, %(period)s") % {
                "team": report.department_name,
                "period": report.period_text,
            }
            texts = report.chart_texts
        charts = tuple(
            Chart(CHART_PATH.format(department=key, file=CHART_FILES[name]), texts[name])
            for name in CHART_FILES
        )
        sections[key] = ChartSection(heading, locale.language, charts)
    return sections


_SIGN_IN = "sign-in"


def _draw(request: Request, key: str, file: str, narrow: bool) -> bytes | str | None:
    """The picture; ``_SIGN_IN`` without a session; None for a chart or a department the
    viewer may not read, or that does not exist: the same answer, so nobody learns which
    departments there are."""
    context = web_of(request)
    viewer = current_viewer(request)
    if viewer is None:
        return _SIGN_IN
    config = context.routing()
    name = _BY_FILE.get(file)
    if name is None or key not in config.dashboard_departments(viewer.address):
        return None
    with context.db.reader() as session:
        report, locale = viewer_report(
            session, config, config.departments[key], viewer.address, context.clock()
        )
    with speaking(catalog(locale.language), locale):
        return draw_chart(report, name, narrow)


async def picture(request: Request) -> Response:
    """``GET /dashboard/charts/{department}/{file}`` (``?for=phone``: drawn narrow):
    without a session, to the sign-in page as the dashboard itself answers; a chart not
    theirs, not found."""
    params, narrow = request.path_params, request.query_params.get("for") == "phone"
    drawn = await run_in_threadpool(_draw, request, params["department"], params["file"], narrow)
    if drawn == _SIGN_IN:
        return RedirectResponse("/signin", status_code=303)
    if not isinstance(drawn, bytes):
        return Response("Not found", status_code=404, media_type="text/plain")
    return Response(drawn, media_type="image/png")
