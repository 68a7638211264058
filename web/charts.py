"""The weekly report's charts on the dashboard: one picture per chart and department,
served at ``/dashboard/charts/{department}/{file}`` to the same sessions, and only for
the departments, that the dashboard itself shows.

The pictures are PNGs drawn by the weekly report's own chart code, so the dashboard and
the mail never disagree. They are plain ``<img>`` elements (no script), each beside its
figures in words (the mail's text alternative), so a screen reader, or a browser that
shows no pictures, gets the same numbers. A phone asks for them drawn narrow.

Drawing costs more than counting, so the page keeps each report it counted under its
version (``?v=`` in the picture's address, a digest of the figures and the language):
the pictures are drawn from that report, once per version, and a reload where no figure
moved draws nothing. The session and department checks come first, every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.notify.catalogue.weekly_report import CHART_FILES, draw_chart
from aliasdesk.notify.language import _, speaking
from aliasdesk.services.dashboard_report import ViewerReport, catalog, viewer_report
from web.app import PageCache, web_of
from web.sign_in import current_viewer

CHART_PATH = "/dashboard/charts/{department}/{file}"
_BY_FILE = {file: name for name, file in CHART_FILES.items()}
_SIGN_IN = "sign-in"


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart as the page shows it: where its pictures are, its figures in words."""

    src: str
    phone_src: str
    text: str


@dataclass(frozen=True, slots=True)
class ChartSection:
    """One department's charts, under the weekly report's own heading."""

    heading: str
    language: str
    charts: tuple[Chart, ...]


@dataclass
class _Kept:
    """A report the page counted, and the pictures drawn of it so far."""

    found: ViewerReport
    pictures: dict[tuple[str, bool], bytes] = field(default_factory=dict)


def chart_sections(
    session: Session,
    config: RoutingConfig,
    viewer: str,
    keys: list[str],
    now: datetime,
    kept: PageCache,
) -> dict[str, ChartSection]:
    """The chart section of each department in ``keys`` (ones ``viewer`` may read)."""
    sections = {}
    for key in keys:
        found = viewer_report(session, config, config.departments[key], viewer, now)
        if kept.get(config, (key, found.version)) is None:
            kept.put(config, (key, found.version), _Kept(found))
        with speaking(catalog(found.locale.language), found.locale):
            heading = _("%(team)s weekly report, %(period)s") % {
                "team": found.report.department_name,
                "period": found.report.period_text,
            }
            texts = found.report.chart_texts
        charts = []
        for name, file in CHART_FILES.items():
            src = f"{CHART_PATH.format(department=key, file=file)}?v={found.version}"
            charts.append(Chart(src, f"{src}&for=phone", texts[name]))
        sections[key] = ChartSection(heading, found.locale.language, tuple(charts))
    return sections


def _draw(request: Request, key: str, file: str) -> bytes | str | None:
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
    entry = context.charts.get(config, (key, request.query_params.get("v", "")))
    if entry is None:  # an old address, or another process counted: count again
        with context.db.reader() as session:
            found = viewer_report(
                session, config, config.departments[key], viewer.address, context.clock()
            )
        entry = _Kept(found)
        context.charts.put(config, (key, found.version), entry)
    narrow = request.query_params.get("for") == "phone"
    picture: bytes | None = entry.pictures.get((name, narrow))
    if picture is None:
        with speaking(catalog(entry.found.locale.language), entry.found.locale):
            picture = draw_chart(entry.found.report, name, narrow)
        entry.pictures[(name, narrow)] = picture
    return picture


async def picture(request: Request) -> Response:
    """``GET /dashboard/charts/{department}/{file}`` (``?for=phone``: drawn narrow):
    without a session, to the sign-in page as the dashboard itself answers; a chart not
    theirs, not found."""
    params = request.path_params
    drawn = await run_in_threadpool(_draw, request, params["department"], params["file"])
    if drawn == _SIGN_IN:
        return RedirectResponse("/signin", status_code=303)
    if not isinstance(drawn, bytes):
        return Response("Not found", status_code=404, media_type="text/plain")
    return Response(drawn, media_type="image/png")
