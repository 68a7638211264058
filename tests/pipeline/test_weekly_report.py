"""The leads' weekly report: their department's figures for the seven days before the
report's day beside the week before and the targets, with charts inline.

A scripted history, written straight into the tickets' recorded figures, whose numbers
are worked out by hand below. HR (first response 4 h, resolution 3 d, no calendar: UTC)
has the lead hanna@example.com; the report is due on Monday 30 November 2026 at 07:00
and covers Monday 23 to Sunday 29 November, beside 16 to 22 November.

This week:
  HR-1  in Mon 23 09:00, answered after 1 h (25 % of 4 h), resolved Tue 09:00 (1 d), rated 5
  HR-2  in Tue 24 09:00, answered after 3 h (75 %), resolved Wed 09:00 (1 d), reopened once,
        rated 2
  HR-3  in Wed 25 09:00, answered after 6 h (150 %: missed), still open
  HR-4  in Fri 27 09:00, not answered, still open
The week before:
  HR-5  in Mon 16 09:00, answered after 2 h, resolved Tue 17 09:00 (1 d), rated 4

So this week: 4 in, 2 resolved, backlog 2 (HR-3, HR-4); first response median 3 h and
90th percentile 6 h (nearest rank of 1 h, 3 h, 6 h); resolution median and p90 1 day;
SLA attainment 100 % (both resolved met both targets); reopen rate 1 of 2 = 50 %;
satisfaction 3.5 from 2 ratings, response rate 100 %. The week before: 1 in, 1 resolved,
backlog 0, first response 2 h, resolution 1 day, 100 %, 0 %, 4.0 from 1, 100 %.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from aliasdesk.db.models import Ticket
from aliasdesk.runtime import Runtime
from aliasdesk.services.service_figures import department_figures
from aliasdesk.services.weekly_report import ReportRounds
from tests.support.harness import drain_jobs
from tests.support.smtp_script import ScriptedSmtpServer, mails_of_kind

LEAD = "hanna@example.com"
REPORT_DAY = datetime(2026, 11, 30, 7, 5, tzinfo=UTC)
HOUR, DAY = 3600, 86400


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def _ticket(
    number: int,
    opened: datetime,
    first_s: int | None = None,
    resolved_s: int | None = None,
    **more: object,
) -> Ticket:
    return Ticket(
        department="HR",
        number=number,
        subject=f"Request {number}",
        requester="dave@example.com",
        reply_token=f"token{number}",
        status="resolved" if resolved_s is not None else "open",
        created_at=opened,
        updated_at=opened,
        first_response_at=opened + timedelta(seconds=first_s) if first_s is not None else None,
        first_response_s=first_s,
        resolved_at=opened + timedelta(seconds=resolved_s) if resolved_s is not None else None,
        resolution_s=resolved_s,
        target_first_response_s=4 * HOUR,
        target_resolution_s=3 * DAY,
        **more,
    )


def _history(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        session.add_all(
            [
                _ticket(1, _at(23), 1 * HOUR, DAY, rating=5),
                _ticket(2, _at(24), 3 * HOUR, DAY, rating=2, reopen_count=1),
                _ticket(3, _at(25), 6 * HOUR),
                _ticket(4, _at(27)),
                _ticket(5, _at(16), 2 * HOUR, DAY, rating=4),
            ]
        )


SCRIPTED_WEEK = "Mon, Nov 23, 2026 – Sun, Nov 29, 2026"


def _reports(smtp: ScriptedSmtpServer) -> list[EmailMessage]:
    """The reports of the scripted week. ``drain_jobs`` runs the relay's own rounds on the
    real clock too, and in the week after the scripted one (7 to 14 December 2026) those
    rightly send the report of 30 November to 6 December as well: the week before it, the
    scripted one, had tickets coming in."""
    return [
        mail
        for mail in mails_of_kind(smtp, "weekly_report")
        if str(mail["Subject"]).endswith(SCRIPTED_WEEK)
    ]


def _row(text: str, label: str) -> list[str]:
    """The cells after ``label`` on its line of the figures table."""
    [line] = [line for line in text.splitlines() if line.startswith(label + " ")]
    return re.split(r" {2,}", line[len(label) :].strip())


def test_the_report_has_every_figure_in_text_and_its_charts_inline(
    runtime: Runtime, smtp: ScriptedSmtpServer
) -> None:
    _history(runtime)
    config = runtime.routing.current()
    assert ReportRounds().run(runtime.db, config, REPORT_DAY - timedelta(minutes=10)) == 0
    assert ReportRounds().run(runtime.db, config, REPORT_DAY) == 1
    drain_jobs(runtime)
    [report] = _reports(smtp)
    assert [a.addr_spec for a in report["To"].addresses] == [LEAD]
    assert report["Subject"] == f"Human Resources weekly report, {SCRIPTED_WEEK}"

    # Structure as a client sees it: text, and HTML related to its three pictures.
    assert report.get_content_type() == "multipart/alternative"
    plain, related = report.get_payload()  # type: ignore[misc]
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert related.get_param("type") == "text/html"
    html, *images = related.get_payload()
    assert html.get_content_type() == "text/html" and len(images) == 3
    markup = html.get_content()
    for image in images:
        assert image.get_content_type() == "image/png"
        assert image.get_content_disposition() == "inline"
        assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
        content_id = image["Content-ID"].strip("<>")
        assert f'src="cid:{content_id}"' in markup
    assert "http" not in re.sub(r"<!DOCTYPE[^>]*>", "", markup), "nothing remote to load"

    text = plain.get_content().replace("\r\n", "\n")
    assert "Mon, Nov 23, 2026 – Sun, Nov 29, 2026 (UTC)" in " ".join(text.split())
    assert _row(text, "Tickets in") == ["4", "1"]
    assert _row(text, "Resolved") == ["2", "1"]
    assert _row(text, "Backlog at the end") == ["2", "0"]
    assert _row(text, "First response, median") == ["3 hours", "2 hours", "4 hours"]
    assert _row(text, "First response, 90th percentile") == ["6 hours", "2 hours", "4 hours"]
    assert _row(text, "Resolution, median") == ["1 day", "1 day", "3 days"]
    assert _row(text, "Resolution, 90th percentile") == ["1 day", "1 day", "3 days"]
    assert _row(text, "SLA attainment") == ["100 %", "100 %"]
    assert _row(text, "Reopen rate") == ["50 %", "0 %"]
    assert _row(text, "Satisfaction, average") == ["3.5", "4.0"]
    assert _row(text, "Ratings given") == ["2", "1"]
    assert _row(text, "Rating response rate") == ["100 %", "100 %"]
    days = re.findall(r"^ {2}(\w{3}) +(\d+) / +(\d+)$", text, re.M)
    assert days == [
        ("Mon", "1", "0"),
        ("Tue", "1", "1"),
        ("Wed", "1", "1"),
        ("Thu", "0", "0"),
        ("Fri", "1", "0"),
        ("Sat", "0", "0"),
        ("Sun", "0", "0"),
    ]
    buckets = re.findall(
        r"^ {2}(up to 50 %|50-100 %|100-150 %|150-200 %|over 200 %) +(\d+)", text, re.M
    )
    assert buckets == [
        ("up to 50 %", "1"),
        ("50-100 %", "1"),
        ("100-150 %", "1"),
        ("150-200 %", "0"),
        ("over 200 %", "0"),
    ]
    ratings = re.findall(r"^ {2}([1-5]): (\d+) / (\d+)$", text, re.M)
    assert ratings == [
        ("1", "0", "0"),
        ("2", "1", "0"),
        ("3", "0", "0"),
        ("4", "0", "1"),
        ("5", "1", "0"),
    ]

    # The same figures `aliasdesk report --department HR` gives for the same week.
    with runtime.db.reader() as session:
        same = department_figures(session, "HR", _at(23, 0), _at(30, 0))
    assert (same["tickets_in"], same["resolved"], same["backlog"]) == (4, 2, 2)
    assert same["first_response"] == {"median_s": 3 * HOUR, "p90_s": 6 * HOUR}

    # Once a week: another look, another process, change nothing; no lead, no report.
    assert ReportRounds().run(runtime.db, config, REPORT_DAY + timedelta(hours=2)) == 0
    drain_jobs(runtime)
    assert len(_reports(smtp)) == 1
    assert {r for item in smtp.handler.received for r in item.rcpt_tos} == {LEAD}


def test_no_report_where_nothing_moved_in_either_week(runtime: Runtime) -> None:
    """Nothing at all, then only a backlog sitting there since last year: no mail."""
    assert ReportRounds().run(runtime.db, runtime.routing.current(), REPORT_DAY) == 0
    with runtime.db.unit_of_work() as session:
        session.add(_ticket(9, datetime(2025, 11, 3, 9, tzinfo=UTC)))
    assert ReportRounds().run(runtime.db, runtime.routing.current(), REPORT_DAY) == 0
    with runtime.db.reader() as session:
        assert department_figures(session, "HR", _at(23, 0), _at(30, 0))["backlog"] == 1
