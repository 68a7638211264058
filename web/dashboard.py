"""The leads' dashboard: service figures and the open queue of the departments the
signed-in person may read, and the same figures as CSV.

A member or lead sees the departments they belong to or lead, an admin every one,
decided on each request from the routing file in force (someone removed from it stops
seeing anything at once). No session: a redirect to the sign-in page, and no data.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from aliasdesk.notify.language import MailLocale, describe_duration
from aliasdesk.services.dashboard import PERIODS, DepartmentView, department_view
from aliasdesk.services.figure_rows import CSV_COLUMNS, csv_row
from aliasdesk.services.languages import viewer_locale
from web.app import WebContext, web_of
from web.charts import ChartSection, chart_sections
from web.language import share
from web.sign_in import current_viewer, session_form_token


def _period(request: Request) -> str:
    chosen = request.query_params.get("period", "week")
    return chosen if chosen in PERIODS else "week"


Found = tuple[str, list[DepartmentView], dict[str, ChartSection], MailLocale]


def _views(request: Request, period: str, charts: bool = False) -> Found | None:
    """The viewer's address, their departments' views, (if asked) the weekly report's
    charts of each, and the language they read (as their mail: the routing file's for
    them, else their department's); None without a session."""
    viewer = current_viewer(request)
    context: WebContext = web_of(request)
    if viewer is None:
        return None
    config = context.routing()
    keys = config.dashboard_departments(viewer.address)
    if not keys:
        return None
    now = context.clock()
    with context.db.reader() as session:
        views = [department_view(session, config.departments[k], period, now) for k in keys]
        sections = {}
        if charts:
            sections = chart_sections(session, config, viewer.address, keys, now, context.charts)
        locale = viewer_locale(session, config, viewer.address)
    return viewer.address, views, sections, locale


def seconds(value: int | None) -> str:
    """Business seconds as people read them, in the page's language; a dash where there
    is no figure."""
    if value is None:
        return "–"
    return describe_duration(timedelta(seconds=value))


async def show(request: Request) -> Response:
    context = web_of(request)
    period = _period(request)
    found = await run_in_threadpool(_views, request, period, True)
    if found is None:
        return RedirectResponse("/signin", status_code=303)
    address, views, charts, locale = found
    body = context.render(
        "dashboard.html",
        locale,
        address=address,
        views=views,
        charts=charts,
        period=period,
        periods=PERIODS,
        seconds=seconds,
        share=share,
        form_token=session_form_token(context, request),
        now=context.clock(),
    )
    return HTMLResponse(body)


async def download(request: Request) -> Response:
    period = _period(request)
    found = await run_in_threadpool(_views, request, period)
    if found is None:
        return RedirectResponse("/signin", status_code=303)
    _, views, _, _locale = found
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for view in views:
        writer.writerow(csv_row(view.figures))
    days = f"{views[0].first_day}-to-{views[0].last_day}" if views else period
    name = f"aliasdesk-{days}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
