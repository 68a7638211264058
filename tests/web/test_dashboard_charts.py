"""The weekly report's charts on the dashboard, over HTTP on both databases: the pictures
are the mail's own, their figures in words are the dashboard's figures, and a chart's
address opens nothing without a session or for a department the viewer may not read.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import datetime, time, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

from matplotlib.image import imread
from starlette.testclient import TestClient

from aliasdesk.notify.catalogue.weekly_report import CHART_FILES, draw_chart
from aliasdesk.notify.language import speaking
from aliasdesk.runtime import Runtime
from aliasdesk.services.dashboard import period_days
from aliasdesk.services.dashboard_report import catalog, viewer_report
from aliasdesk.services.service_figures import department_figures
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, drain_jobs, feed
from tests.web.conftest import BASE, DAVE, caught, member_mail, open_request
from tests.web.test_dashboard import _form_token, _sign_in
from web.app import WebContext

_FIGURE = re.compile(
    r'<img src="(/dashboard/charts/[^"]+)" width="600" height="240" alt="([^"]+)"', re.S
)


def _charts_of(page: str, key: str) -> list[tuple[str, str]]:
    """(picture address, text alternative) of each chart in ``key``'s chart section."""
    start = page.index(f'id="charts-{key}"')
    section = page[start : page.index("</div>", start)]
    return [(src, html.unescape(alt)) for src, alt in _FIGURE.findall(section)]


def _rate(client: TestClient, smtp_sink: SmtpSink, rating: int) -> None:
    """Dave rates on the page his feedback request links to."""
    request = [c for c in caught(smtp_sink) if "How did we do?" in c.text][-1]
    link = next(path for path in request.links() if path.endswith(f"/rate/{rating}"))
    page = client.get(link).text
    token = link.split("/")[2]
    answer = client.post(
        f"/t/{token}/rate", data={"form_token": _form_token(page), "rating": str(rating)}
    )
    assert answer.status_code == 303


def _week_figures(desk: Runtime, site: WebContext) -> dict[str, object]:
    hr = site.routing().departments["HR"]
    first, last = period_days(hr, "week", site.clock())
    zone = ZoneInfo(hr.calendar.timezone)
    since = datetime.combine(first, time(), tzinfo=zone)
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone)
    with desk.db.reader() as session:
        return department_figures(session, "HR", since, until)


def test_each_department_shows_the_weekly_reports_charts_with_the_same_figures(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, site: WebContext
) -> None:
    ref, _ = open_request(desk, smtp_sink)
    open_request(desk, smtp_sink, body="And the second form?")
    feed(desk, member_mail(ref, "#resolve\nUse form LV-2."))
    drain_jobs(desk)
    _rate(client, smtp_sink, 4)
    _sign_in(desk, smtp_sink, client, "hanna@example.com")
    page = client.get("/dashboard").text
    assert 'id="charts-IT"' not in page
    charts = _charts_of(page, "HR")
    files = [src.split("?")[0].rsplit("/", 1)[1] for src, _ in charts]
    assert files == list(CHART_FILES.values())

    figures = _week_figures(desk, site)
    daily, first, ratings = (text for _, text in charts)
    assert daily.startswith("Tickets per day (in / resolved): Mon ")
    pairs = [tuple(map(int, p)) for p in re.findall(r"(\d+) / (\d+)", daily)]
    assert len(pairs) == 7
    assert sum(came for came, _ in pairs) == figures["tickets_in"] == 2
    assert sum(done for _, done in pairs) == figures["resolved"] == 1
    assert first.startswith("First responses against their target")
    assert sum(int(n) for n in re.findall(r": (\d+)(?:;|$)", first)) == 1, "the resolve answered"
    this_week = dict(re.findall(r"([1-5]): (\d+) / \d+", ratings))
    distribution = figures["rating"]["distribution"]  # type: ignore[index]
    assert this_week == {str(n): str(distribution[str(n)]) for n in range(1, 6)}
    assert this_week["4"] == "1"
    assert f"{daily}</figcaption>" in html.unescape(page), "sighted readers see it too"

    for src, _ in charts:
        picture = client.get(src)
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
        assert picture.headers["cache-control"] == "no-store"
        assert imread(BytesIO(picture.content)).shape[:2] == (240, 600)
        phone = client.get(f"{src}&for=phone")
        assert imread(BytesIO(phone.content)).shape[:2] == (260, 320)


def test_the_pictures_are_the_ones_the_weekly_mail_would_draw_in_the_leads_language(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, site: WebContext
) -> None:
    open_request(desk, smtp_sink)
    _sign_in(desk, smtp_sink, client, "hanna@example.com")
    english = client.get("/dashboard/charts/HR/tickets-per-day.png").content
    config = site.routing()
    german = replace(config.departments["HR"], language="de")
    edited = replace(config, departments={**config.departments, "HR": german})
    site.routing = lambda: edited
    page = client.get("/dashboard").text
    (daily, first, ratings) = (text for _, text in _charts_of(page, "HR"))
    assert 'lang="de"' in page and "Wochenbericht" in page
    assert daily.startswith("Tickets pro Tag (neu / gelöst): Mo. ")
    assert first.startswith("Erste Antworten") and "bis 50 %: " in first
    assert ratings.startswith("Bewertungen (diese Woche / Vorwoche):")
    drawn = client.get("/dashboard/charts/HR/tickets-per-day.png").content
    assert drawn != english
    with desk.db.reader() as session:
        found = viewer_report(session, edited, german, "hanna@example.com", site.clock())
    assert found.locale.language == "de"
    with speaking(catalog("de"), found.locale):
        assert draw_chart(found.report, "daily") == drawn


def test_a_chart_opens_only_with_a_session_and_only_for_the_viewers_departments(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient
) -> None:
    feed(desk, build_mail(DAVE, to="it@example.com", subject="Laptop broken", body="Screen."))
    drain_jobs(desk)
    stranger = TestClient(client.app, base_url=BASE, follow_redirects=False)
    for file in CHART_FILES.values():
        refused = stranger.get(f"/dashboard/charts/IT/{file}")
        assert refused.status_code == 303 and refused.headers["location"] == "/signin"
        assert not refused.content.startswith(b"\x89PNG")
    stranger.cookies.set("aliasdesk_session", "1.forged")
    assert stranger.get("/dashboard/charts/HR/satisfaction.png").status_code == 303

    _sign_in(desk, smtp_sink, client, "alice@example.com")  # a member of HR only
    assert client.get("/dashboard/charts/HR/satisfaction.png").status_code == 200
    for path in (
        "/dashboard/charts/IT/tickets-per-day.png",
        "/dashboard/charts/it/tickets-per-day.png",
        "/dashboard/charts/NOPE/tickets-per-day.png",
        "/dashboard/charts/HR/secret.png",
        "/dashboard/charts/HR/..%2FIT%2Ftickets-per-day.png",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/plain")
    assert "Laptop broken" not in client.get("/dashboard").text

    client.cookies.clear()
    _sign_in(desk, smtp_sink, client, "ops@example.com")  # an admin reads every one
    page = client.get("/dashboard").text
    for key in ("HR", "IT", "FAC", "FIN"):
        assert len(_charts_of(page, key)) == 3
    (daily, _), *_ = _charts_of(page, "IT")
    assert client.get(daily).status_code == 200
    assert "1 / 0" in _charts_of(page, "IT")[0][1], "IT's ticket is in IT's chart"


def test_a_picture_is_drawn_once_per_version_and_a_new_figure_makes_a_new_one(
    desk: Runtime, smtp_sink: SmtpSink, client: TestClient, site: WebContext
) -> None:
    open_request(desk, smtp_sink)
    _sign_in(desk, smtp_sink, client, "alice@example.com")
    (before, _), *_ = _charts_of(client.get("/dashboard").text, "HR")
    first = client.get(before).content
    assert client.get(before).content == first
    kept = site.charts.get(site.routing(), ("HR", before.split("?v=")[1]))
    assert kept is not None and len(kept.pictures) == 1, "drawn once, kept"

    open_request(desk, smtp_sink, body="And the second form?")
    (after, text), *_ = _charts_of(client.get("/dashboard").text, "HR")
    assert after != before and client.get(after).content != first
    assert sum(int(came) for came, _ in re.findall(r"(\d+) / (\d+)", text)) == 2
    for path in (after, before):
        answer = client.get(path.replace("/HR/", "/IT/"))
        assert answer.status_code == 404, "a version opens no other department"
